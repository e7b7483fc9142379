"""The store contract every backend implements, and the logic they all share.

A backend implements the abstract methods (each a single atomic operation against its database);
operations built from them — duplicate, revert, resolve-then-get — live here once, so backends
cannot drift apart. One contract test suite (``tests/agents_store/contract.py``) runs against every
backend.

Every method may also raise ``StoreUnavailable`` when the database cannot be reached; the
docstrings list the errors particular to each method.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from agents_store.documents import parse_definition
from agents_store.errors import AgentNotFound, AmbiguousId, InvalidAgent, VersionNotFound
from agents_store.models import (
    Agent,
    AgentDefinition,
    AgentStatus,
    AgentSummary,
    ChunkStatus,
)

__all__ = [
    "UNSET",
    "AgentPage",
    "AgentQuery",
    "AgentStore",
    "ChunkResultRecord",
    "ExportRecord",
    "RunRecord",
    "RunStatus",
    "Schedule",
    "SortKey",
    "StuckChunk",
    "VersionInfo",
]

SortKey = Literal["name", "description", "created_at", "updated_at", "status", "last_run_at"]
"""What a list can be sorted by; names and descriptions without regard to case, and agents with no
description or no run yet come last either way."""
NEWEST_FIRST_SORTS: tuple[SortKey, ...] = ("created_at", "updated_at", "last_run_at")
"""Times list newest first unless asked otherwise; names and statuses A to Z."""


class _Unset(Enum):
    """Marks an argument the caller did not pass (distinct from an explicit None)."""

    UNSET = "UNSET"


UNSET = _Unset.UNSET


MAX_OFFSET = 2**63 - 1
"""The largest offset a backend sends to its database (PostgreSQL's bigint). A larger one is the same
empty page past the end; sent as it is, the drivers and PostgREST refused it (a 500)."""


class AgentQuery(BaseModel):
    """What an agent list asks for: filters, order and page."""

    text: str | None = Field(default=None, max_length=200)
    status: AgentStatus | None = None
    sort: SortKey = "updated_at"
    descending: bool = True
    limit: int = Field(default=50, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)
    user_id: uuid.UUID | None = None

    @property
    def matches_nothing(self) -> bool:
        """A text no agent can hold (a NUL: every store refuses it), which PostgreSQL refuses to
        search for: the list is empty without asking (it was a 400 on PostgreSQL, empty on SQLite)."""
        return self.text is not None and "\x00" in self.text

    def empty_page(self) -> AgentPage:
        return AgentPage(items=[], total=0, limit=self.limit, offset=self.offset)


class AgentPage(BaseModel):
    items: list[AgentSummary]
    total: int
    limit: int
    offset: int


class VersionInfo(BaseModel):
    """One saved version of an agent (the snapshot is the export document of that version)."""

    agent_id: uuid.UUID
    version: int
    created_at: datetime
    author: str | None
    snapshot: dict[str, Any]


class RunStatus(StrEnum):
    """A run's outcome in our store; Prefect's own state names stay in Prefect."""

    RUNNING = "Running"
    PAUSED = "Paused"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CRASHED = "Crashed"
    CANCELLED = "Cancelled"
    ABORTED = "Aborted"


class ChunkResultRecord(BaseModel):
    """One chunk of a run, as the run left it (``RunRecord.results``)."""

    order: int
    chunk_id: uuid.UUID
    name: str | None = None
    status: ChunkStatus
    attempts: int = 0
    duration_seconds: float | None = None
    error: str | None = Field(default=None, description="Masked, one line.")
    screenshot: str | None = None


class RunRecord(BaseModel):
    """A row of ``agent_runs``: links an agent (at a version) to one Prefect flow run."""

    flow_run_id: uuid.UUID
    agent_id: uuid.UUID
    agent_version: int
    mode: str
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None = None
    triggered_by: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    chunks: list[int] | None = None
    notes: list[dict[str, Any]] = Field(default_factory=list)
    error: str | None = None
    host: str | None = None
    pid: int | None = None
    """Where the run executes: lets ``reconcile`` tell a process killed with SIGKILL from a live one."""
    awaiting: dict[str, Any] | None = None
    """While paused: what for (``kind`` approval or step, ``order``, ``chunk_id``, ``key``, ``since``,
    ``description``)."""
    results: list[ChunkResultRecord] | None = None
    """Each selected chunk as this run left it, written at each pause and at the end: the chunk rows
    show the newest run, and a run's page must show this one."""


class StuckChunk(BaseModel):
    """A chunk a run left ``Running`` or ``Awaiting Approval`` (to check against Prefect)."""

    agent_id: uuid.UUID
    chunk_id: uuid.UUID
    order: int
    name: str | None
    status: ChunkStatus
    last_run_id: uuid.UUID | None


class Schedule(BaseModel):
    """When an agent runs by itself: a cron expression in a time zone, with the run's mode and params.

    The store keeps it so that every way of serving deployments (``agentctl serve``, workers) reads
    the same schedules; ``deployments/`` turns it into a Prefect schedule.
    """

    agent_id: uuid.UUID
    cron: str
    timezone: str = "UTC"
    mode: str = "automatic"
    params: dict[str, Any] = Field(default_factory=dict)
    active: bool = True
    updated_at: datetime | None = None


class ExportRecord(BaseModel):
    """One export of an agent to a repository: which version went where, as which commit."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    agent_id: uuid.UUID
    agent_version: int
    target: Literal["github", "git"]
    repository: str
    branch: str | None = None
    path: str
    commit_sha: str | None = None
    tag: str | None = None
    author: str | None = None
    exported_at: datetime


class AgentStore(ABC):
    """Where agents, their chunks, versions and runs live.

    ``user_id`` arguments scope an operation to one owner: an agent of another owner is reported
    as not found (never as forbidden), so its existence does not leak.
    """

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the agents are kept, without credentials (a database URL, a project URL).

        Tells one store from another where several share a Prefect server: each agent's deployment
        is tagged with its store, so ``agentctl serve`` can remove the deployments of agents its
        own store no longer has without touching those of other stores.
        """

    # ------------------------------------------------------------------ agents

    @abstractmethod
    def create(
        self, definition: AgentDefinition, *, user_id: uuid.UUID | None = None, author: str | None = None
    ) -> Agent:
        """Save a new agent (version 1) with its chunks, in one transaction.

        Raises:
            StoreError: the database refused the write; nothing was written.
        """

    @abstractmethod
    def save(
        self,
        agent: Agent,
        *,
        expected_version: int | _Unset | None = UNSET,
        author: str | None = None,
    ) -> Agent:
        """Save ``agent`` (definition and chunk states) as its next version, in one transaction.

        ``expected_version`` defaults to ``agent.version`` — the version the caller read — so a
        save never silently overwrites someone else's; pass ``None`` to overwrite whatever is there.

        Raises:
            AgentNotFound: no agent has ``agent.id``.
            VersionConflict: the stored version is not ``expected_version``; nothing was written.
            StoreError: the database refused the write (e.g. a chunk id in use); nothing was written.
        """

    @abstractmethod
    def get(self, agent_id: uuid.UUID, *, user_id: uuid.UUID | None = None) -> Agent:
        """The agent with its chunks in order.

        Raises:
            AgentNotFound: no such agent (or not ``user_id``'s).
        """

    @abstractmethod
    def list_agents(self, query: AgentQuery | None = None) -> AgentPage:
        """One page of agent summaries, filtered and sorted in the database.

        Raises:
            StoreUnavailable: only.
        """

    @abstractmethod
    def find_ids(self, ref: str, *, user_id: uuid.UUID | None = None, limit: int = 6) -> list[uuid.UUID]:
        """Ids of agents whose id starts with ``ref`` (hex, dashes optional), else whose name is
        ``ref`` (case-insensitive). Used by ``resolve``.
        """

    @abstractmethod
    def delete(self, agent_id: uuid.UUID, *, user_id: uuid.UUID | None = None) -> None:
        """Delete the agent with its chunks, versions and run records.

        Raises:
            AgentNotFound: no such agent (or not ``user_id``'s).
        """

    # ------------------------------------------------------------------ run state

    @abstractmethod
    def update_chunk_status(
        self,
        chunk_id: uuid.UUID,
        status: ChunkStatus,
        *,
        error_details: dict[str, Any] | _Unset | None = UNSET,
        attempts: int | None = None,
        run_id: uuid.UUID | None = None,
    ) -> bool:
        """Set one chunk's run state: a single-row write the engine makes per state change.

        Does not create a version: run state is not part of the definition. ``error_details``
        left unset keeps the stored value; ``None`` clears it.

        With ``run_id`` it is that run's write, and lands only while the run holds the chunk: it
        claimed it with ``reset_chunks`` as it started, no later run has claimed it since, and no
        edit has changed what the chunk does (an edit of its actions or its review mark releases
        it). Two runs of one agent at once must not overwrite each other — the chunk row shows the
        newest run's state, an older run's abort does not reset a chunk the newer one completed —
        and a run must not mark an edited chunk with the result of actions it no longer has.
        Returns whether it landed.

        Raises:
            AgentNotFound: no chunk has ``chunk_id``.
        """

    @abstractmethod
    def reset_chunks(self, chunk_ids: list[uuid.UUID], *, run_id: uuid.UUID | None = None) -> None:
        """Put chunks back to ``Not Started`` with no error and no attempts (a run is about to start).

        A chunk in ``Needs Review`` keeps that status: only an approval reviews it. With
        ``run_id`` the run claims the chunks: from then on only its writes land on them.

        Raises:
            AgentNotFound: a chunk id does not exist.
        """

    @abstractmethod
    def stuck_chunks(self, run_id: uuid.UUID | None = None) -> list[StuckChunk]:
        """Chunks in ``Running`` or ``Awaiting Approval`` (of one run, or of any)."""

    @abstractmethod
    def record_run(self, run: RunRecord) -> None:
        """Insert or replace the run record ``run.flow_run_id``; stamps the agent's last run.

        Raises:
            AgentNotFound: the run's agent does not exist.
        """

    @abstractmethod
    def list_runs(
        self, agent_id: uuid.UUID | None = None, *, limit: int = 20, status: RunStatus | None = None
    ) -> list[RunRecord]:
        """Run records, newest first, of one agent or of all."""

    @abstractmethod
    def get_run(self, flow_run_id: uuid.UUID) -> RunRecord:
        """The run record of a flow run.

        Raises:
            AgentNotFound: no run record has that flow run id.
        """

    # ------------------------------------------------------------------ schedules and exports

    @abstractmethod
    def set_schedule(self, schedule: Schedule) -> Schedule:
        """Create or replace the agent's schedule (one per agent).

        Raises:
            AgentNotFound: no such agent.
        """

    @abstractmethod
    def delete_schedule(self, agent_id: uuid.UUID) -> bool:
        """Remove the agent's schedule; False when it had none."""

    @abstractmethod
    def list_schedules(self, agent_id: uuid.UUID | None = None) -> list[Schedule]:
        """Every schedule (or the one agent's), in agent id order."""

    @abstractmethod
    def record_export(self, export: ExportRecord) -> None:
        """Remember an export of the agent to a repository.

        Raises:
            AgentNotFound: no such agent.
        """

    @abstractmethod
    def list_exports(self, agent_id: uuid.UUID) -> list[ExportRecord]:
        """The agent's exports, newest first."""

    @abstractmethod
    def exports_at(self, repository: str, path: str) -> list[ExportRecord]:
        """Every agent's exports to the folder ``path`` of ``repository``, newest first.

        An export asks before writing a folder whether another agent of the store lives there: the
        folder comes from the name's slug, and two names can give one slug (``Query param``,
        ``query: param``), so looking the other agent up by name missed it.
        """

    # ------------------------------------------------------------------ versions

    @abstractmethod
    def list_versions(self, agent_id: uuid.UUID) -> list[VersionInfo]:
        """Every saved version of the agent, oldest first.

        Raises:
            AgentNotFound: no such agent.
        """

    @abstractmethod
    def get_version(self, agent_id: uuid.UUID, version: int) -> VersionInfo:
        """One saved version.

        Raises:
            AgentNotFound: no such agent.
            VersionNotFound: the agent has no such version.
        """

    # ------------------------------------------------------------------ users and lifecycle

    @abstractmethod
    def ensure_user(self, user_id: uuid.UUID, name: str, email: str | None = None) -> None:
        """Create the user if missing (the local default user, or a signed-in user)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; the store cannot be used afterwards."""

    # ------------------------------------------------------------------ shared operations

    def resolve(self, ref: str, *, user_id: uuid.UUID | None = None) -> uuid.UUID:
        """The id of the one agent ``ref`` names: a full id, a unique id prefix, or a name.

        Raises:
            AgentNotFound: nothing matches.
            AmbiguousId: several agents match; the message lists some of them.
        """
        ref = ref.strip()
        if not ref:
            raise AgentNotFound("no agent id given")
        matches = self.find_ids(ref, user_id=user_id)
        if not matches:
            raise AgentNotFound(f"no agent matches {ref!r} (by id, id prefix or name)")
        if len(matches) > 1:
            shown = ", ".join(str(m)[:8] for m in matches[:5]) + ("…" if len(matches) > 5 else "")
            raise AmbiguousId(
                f"{ref!r} matches several agents by id prefix or name ({shown}): give more of the id"
            )
        return matches[0]

    def resolve_run(self, ref: str, *, user_id: uuid.UUID | None = None) -> uuid.UUID:
        """The flow run id ``ref`` names: a full id, or a unique prefix of a run this store recorded
        (of ``user_id``'s agents when given: a prefix never reveals another user's run).

        Raises:
            AgentNotFound: no recorded run starts so.
            AmbiguousId: several do.
        """
        ref = ref.strip().lower()
        try:
            return uuid.UUID(ref)
        except ValueError:
            pass
        runs = [r for r in self.list_runs(limit=1000) if ref and str(r.flow_run_id).startswith(ref)]
        matches = [r.flow_run_id for r in runs if user_id is None or self._owns(r.agent_id, user_id)]
        if not matches:
            raise AgentNotFound(f"no run matches {ref!r}")
        if len(matches) > 1:
            raise AmbiguousId(f"{ref!r} matches several runs: give more of the id")
        return matches[0]

    def _owns(self, agent_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        try:
            self.get(agent_id, user_id=user_id)
        except AgentNotFound:
            return False
        return True

    def duplicate(
        self, agent_id: uuid.UUID, *, user_id: uuid.UUID | None = None, author: str | None = None
    ) -> Agent:
        """A new, independent agent with the same definition, named "<name> (copy)" — or
        "(copy 2)", "(copy 3)"… when the owner has that name already: two copies with one name could
        not be told apart, nor named on the command line.

        Raises:
            AgentNotFound: no such agent (or not ``user_id``'s).
        """
        source = self.get(agent_id, user_id=user_id)
        definition = source.definition()
        room = 200 - len(" (copy 99999)")  # a name has 200 characters at most
        base = definition.name if len(definition.name) <= room else definition.name[: room - 1] + "…"
        taken = {
            a.name
            for a in self.list_agents(
                AgentQuery(text=f"{base} (copy", user_id=source.user_id, limit=1000)
            ).items
        }
        name = f"{base} (copy)"
        number = 2
        while name in taken:
            name = f"{base} (copy {number})"
            number += 1
        copy = definition.model_copy(update={"name": name})
        return self.create(copy, user_id=source.user_id, author=author)

    def revert(
        self,
        agent_id: uuid.UUID,
        to_version: int,
        *,
        user_id: uuid.UUID | None = None,
        author: str | None = None,
    ) -> Agent:
        """Save a new version whose definition equals version ``to_version``.

        History is kept: reverting from 5 to 2 creates version 6 equal to 2.

        Raises:
            AgentNotFound, VersionNotFound, VersionConflict (someone saved meanwhile).
        """
        current = self.get(agent_id, user_id=user_id)
        old = self.get_version(agent_id, to_version)
        try:
            definition = parse_definition(old.snapshot)
        except InvalidAgent as e:  # a snapshot from a format this program no longer reads
            raise VersionNotFound(f"version {to_version} cannot be read: {e}") from e
        return self.save(current.with_definition(definition), author=author)

    def __enter__(self) -> AgentStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
