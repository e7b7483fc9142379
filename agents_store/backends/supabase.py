"""Supabase: the store through a project's Data API (PostgREST), with the ``supabase`` client.

The project holds the schema of ``supabase/migrations/`` (pushed with ``supabase db push``). Reads and
single-row run-state writes are table requests; saving an agent with its chunks and its version
snapshot is one call of the ``save_agent`` SQL function, atomic in the database, which checks the
version the caller read like the SQL stores do. Derived data (an agent's status, its last run time,
``updated_at``) is kept by the database's triggers, so a single-row write needs no second request.

The key decides whose agents the store sees: the service role key (a trusted worker) sees and writes
every agent; a signed-in user's JWT sees only that user's, by row-level security, and another
user's agent is then "not found", as the store contract wants.

Every failure becomes a store error that keeps PostgREST's code and message: no network or a refused
key is ``StoreUnavailable``, a project without the migration is ``SchemaError``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, cast

import httpx
from postgrest.exceptions import APIError
from postgrest.types import CountMethod, ReturnMethod
from supabase import Client, SupabaseException, create_client
from supabase.lib.client_options import DEFAULT_HEADERS, SyncClientOptions

from agents_store.backends._rows import (
    agent_columns,
    agent_from_rows,
    by_id_then_name,
    chunk_columns,
    stamped,
)
from agents_store.backends._supabase_errors import describe, identity_of, translate
from agents_store.documents import definition_to_dict
from agents_store.errors import (
    AgentNotFound,
    ConfigError,
    SchemaError,
    StoreError,
    StoreUnavailable,
    VersionConflict,
    VersionNotFound,
)
from agents_store.migrations import migrations_for
from agents_store.models import Agent, AgentDefinition, AgentSummary, ChunkStatus
from agents_store.settings import LOCAL_USER_ID
from agents_store.store import (
    MAX_OFFSET,
    UNSET,
    AgentPage,
    AgentQuery,
    AgentStore,
    ExportRecord,
    RunRecord,
    RunStatus,
    Schedule,
    StuckChunk,
    VersionInfo,
    _Unset,
)

__all__ = ["SupabaseStore"]

_HEX = re.compile(r"^[0-9a-f]{1,32}$")
_SUMMARY_COLUMNS = "id,user_id,name,description,status,version,created_at,updated_at,last_run_at,chunk_count"
_SORT_COLUMNS = {
    "name": "name_key",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "status": "status",
    "description": "description_key",
    "last_run_at": "last_run_at",
}
_NULLABLE_SORTS = frozenset({"description", "last_run_at"})  # "none" sorts last, as on the SQL stores


# A write that refers to an agent fails with 23503 when there is none, and with 42501 (row-level
# security) when it is another user's: both are "no such agent" to the caller.
_NO_SUCH_AGENT = frozenset({"23503", "42501"})


class _PastTheEnd(Exception):
    """PostgREST refused a page that starts after the last row."""


class _Request(Protocol):
    """A built postgrest-py request."""

    def execute(self) -> Any: ...


Row = dict[str, Any]


class SupabaseStore(AgentStore):
    """``AgentStore`` on a Supabase project, through its Data API.

    Args:
        url: the project URL (``https://<ref>.supabase.co``).
        key: the service role / secret key (workers), or the anon / publishable key together with
            ``access_token``, or a user's JWT where no API gateway checks the key.
        access_token: a signed-in user's JWT, sent as ``Authorization`` with the project key.
        timeout: seconds to wait for an answer.

    Raises:
        ConfigError: the URL is not an http(s) URL, or the key is the anon key alone.
        StoreUnavailable: the project cannot be reached or refuses the key.
        SchemaError: the project has no agentctl schema, or one older or newer than this agentctl.
    """

    def __init__(self, url: str, key: str, *, access_token: str | None = None, timeout: float = 30.0) -> None:
        self._url = url.rstrip("/")
        identity = identity_of(key, access_token)
        if identity.role == "anon":
            raise ConfigError(
                "SUPABASE_KEY is the project's anon (publishable) key, which can read and write no agents: "
                "use the service_role (secret) key on a trusted worker, or give a signed-in user's JWT "
                "as SUPABASE_ACCESS_TOKEN"
            )
        headers = dict(DEFAULT_HEADERS)
        if access_token:
            headers["Authorization"] = f"Bearer {access_token}"
        self._http = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)))
        options = SyncClientOptions(
            headers=headers, httpx_client=self._http, auto_refresh_token=False, persist_session=False
        )
        try:
            self._client: Client = create_client(self._url, key, options)
        except SupabaseException as e:
            self._http.close()
            raise ConfigError(f"SUPABASE_URL: {url!r} is not a Supabase project URL ({e.message})") from e
        self._default_owner = identity.user_id or LOCAL_USER_ID
        self._local_user_ready = False
        try:
            self._check_schema()
        except StoreError:
            self.close()
            raise

    # ------------------------------------------------------------------ plumbing

    def _run(
        self, request: _Request, errors: Mapping[str, Callable[[APIError], Exception]] | None = None
    ) -> Any:
        """Send ``request``; its response, or the store error for its failure.

        ``errors`` maps PostgREST / SQLSTATE codes to what they mean for the calling method (a
        foreign key violation is "no such agent" for a run record); other codes keep their general
        meaning (``translate``). The original error stays as the cause.
        """
        try:
            return request.execute()
        except httpx.TimeoutException as e:
            raise StoreUnavailable(
                f"Supabase at {self._url} did not answer in time ({type(e).__name__})"
            ) from e
        except httpx.HTTPError as e:
            raise StoreUnavailable(f"cannot reach Supabase at {self._url}: {e or type(e).__name__}") from e
        except APIError as e:
            meaning = (errors or {}).get(e.code or "")
            raise (meaning(e) if meaning else translate(e.code, e.message, self._url)) from e

    def _rows(
        self, request: _Request, *, not_found: frozenset[str] = frozenset(), what: str = ""
    ) -> list[Row]:
        """The rows of a table request; an error coded in ``not_found`` means ``what`` is not found."""
        errors = dict.fromkeys(not_found, lambda _: AgentNotFound(f"no {what}"))
        return cast(list[Row], self._run(request, errors).data)

    def _check_schema(self) -> None:
        version = self._run(self._client.rpc("agentctl_schema_version", get=True).retry(False)).data
        known = [m.version for m in migrations_for("postgres")]
        if version == known[-1]:
            return
        if version in known:
            raise SchemaError(
                f"the Supabase project at {self._url} has agentctl schema {version}, older than this "
                f"agentctl's {known[-1]}: push supabase/migrations with `supabase db push`"
            )
        raise SchemaError(
            f"the Supabase project at {self._url} has agentctl schema {version}, newer than this agentctl "
            "knows; upgrade agentctl"
        )

    def _owner(self, user_id: uuid.UUID | None) -> uuid.UUID:
        """No owner, or agentctl's local user, means the person at this machine: the signed-in user."""
        if user_id is None or user_id == LOCAL_USER_ID:
            return self._default_owner
        return user_id

    def _require_agent(self, agent_id: uuid.UUID) -> None:
        if not self._rows(self._client.table("agents").select("id").eq("id", str(agent_id))):
            raise AgentNotFound(f"no agent {agent_id}")

    @property
    def location(self) -> str:
        return self._url

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ users

    def ensure_user(self, user_id: uuid.UUID, name: str, email: str | None = None) -> None:
        self._run(
            self._client.rpc("agentctl_ensure_user", {"user_id": str(user_id), "name": name, "email": email})
        )

    # ------------------------------------------------------------------ agents

    def create(
        self, definition: AgentDefinition, *, user_id: uuid.UUID | None = None, author: str | None = None
    ) -> Agent:
        owner = self._owner(user_id)
        if owner == LOCAL_USER_ID and not self._local_user_ready:
            self.ensure_user(LOCAL_USER_ID, "local")
            self._local_user_ready = True
        return self._save(Agent.from_definition(definition, user_id=owner), 0, author)

    def save(
        self,
        agent: Agent,
        *,
        expected_version: int | _Unset | None = UNSET,
        author: str | None = None,
    ) -> Agent:
        expected = agent.version if isinstance(expected_version, _Unset) else expected_version
        if expected == 0:  # save_agent creates at 0; a save never does, and no stored agent is at 0
            rows = self._rows(self._client.table("agents").select("version").eq("id", str(agent.id)))
            if not rows:
                raise AgentNotFound(f"no agent {agent.id}")
            raise VersionConflict(str(agent.id), 0, rows[0]["version"])
        return self._save(agent, expected, author)

    def _save(self, agent: Agent, expected: int | None, author: str | None) -> Agent:
        payload = {
            "id": agent.id,
            "user_id": agent.user_id,
            **agent_columns(agent),
            "chunks": [chunk_columns(c) for c in agent.chunks],
            "snapshot": definition_to_dict(agent.definition()),
            "author": author,
        }
        errors: dict[str, Callable[[APIError], Exception]] = {
            "PT404": lambda _: AgentNotFound(f"no agent {agent.id}"),
            "PT409": lambda e: VersionConflict(str(agent.id), expected or 0, int(_detail(e, "actual"))),
        }
        if expected == 0:
            errors["23503"] = lambda e: StoreError(
                f"the agent's owner {agent.user_id} is not a user of the Supabase project at {self._url} "
                f"({describe(e.code, e.message)}); set AGENTCTL_USER_ID to a user's id, or sign in "
                "(SUPABASE_ACCESS_TOKEN)"
            )
        request = self._client.rpc("save_agent", {"payload": payload, "expected_version": expected})
        saved = cast(Row, self._run(request, errors).data)
        return stamped(
            agent,
            version=saved["version"],
            created_at=_utc(saved["created_at"]),
            updated_at=_utc(saved["updated_at"]),
        )

    def get(self, agent_id: uuid.UUID, *, user_id: uuid.UUID | None = None) -> Agent:
        request = self._client.table("agents").select("*").eq("id", str(agent_id))
        if user_id is not None:
            request = request.eq("user_id", str(user_id))
        rows = self._rows(request)
        if not rows:
            raise AgentNotFound(f"no agent {agent_id}")
        chunk_rows = self._rows(
            self._client.table("chunks").select("*").eq("agent_id", str(agent_id)).order("order")
        )
        return agent_from_rows(rows[0], chunk_rows)

    def list_agents(self, query: AgentQuery | None = None) -> AgentPage:
        query = query or AgentQuery()
        if query.matches_nothing:
            return query.empty_page()

        def page(limit: int, offset: int) -> Any:
            request = self._client.table("agent_list").select(_SUMMARY_COLUMNS, count=CountMethod.exact)
            if query.user_id is not None:
                request = request.eq("user_id", str(query.user_id))
            if query.status is not None:
                request = request.eq("status", query.status.value)
            if query.text:
                # A regular expression of the literal text: LIKE's `*` would be a wildcard in PostgREST.
                request = request.filter("search", "imatch", re.escape(query.text))
            return (
                request.order(
                    _SORT_COLUMNS[query.sort],
                    desc=query.descending,
                    nullsfirst=False if query.sort in _NULLABLE_SORTS else None,
                )
                .order("id", desc=query.descending)
                .limit(limit)
                .offset(offset)
            )

        try:
            # PostgREST answers 416 (PGRST103) to an offset past the last row when it counts.
            response = self._run(
                page(query.limit, min(query.offset, MAX_OFFSET)), {"PGRST103": lambda _: _PastTheEnd()}
            )
            rows, total = response.data, response.count
        except _PastTheEnd:
            rows, total = [], self._run(page(1, 0)).count
        items = [AgentSummary.model_validate(r) for r in rows]
        return AgentPage(items=items, total=total or 0, limit=query.limit, offset=query.offset)

    def find_ids(self, ref: str, *, user_id: uuid.UUID | None = None, limit: int = 6) -> list[uuid.UUID]:
        hex_ref = ref.replace("-", "").lower()
        found: list[uuid.UUID] = []
        if _HEX.match(hex_ref):
            request = (
                self._client.table("agents")
                .select("id")
                .gte("id", str(uuid.UUID(hex_ref.ljust(32, "0"))))
                .lte("id", str(uuid.UUID(hex_ref.ljust(32, "f"))))
            )
            if user_id is not None:
                request = request.eq("user_id", str(user_id))
            found = [uuid.UUID(r["id"]) for r in self._rows(request.order("id").limit(limit))]
            if len(hex_ref) == 32:
                return found
        request = self._client.table("agent_list").select("id").eq("name_key", ref.lower())
        if user_id is not None:
            request = request.eq("user_id", str(user_id))
        named = [uuid.UUID(r["id"]) for r in self._rows(request.order("created_at").limit(limit))]
        return by_id_then_name(found, named, limit)

    def delete(self, agent_id: uuid.UUID, *, user_id: uuid.UUID | None = None) -> None:
        # ON DELETE CASCADE removes chunks, versions, runs, schedules and exports with it.
        request = self._client.table("agents").delete().eq("id", str(agent_id))
        if user_id is not None:
            request = request.eq("user_id", str(user_id))
        if not self._rows(request.select("id")):
            raise AgentNotFound(f"no agent {agent_id}")

    # ------------------------------------------------------------------ run state

    def update_chunk_status(
        self,
        chunk_id: uuid.UUID,
        status: ChunkStatus,
        *,
        error_details: dict[str, Any] | _Unset | None = UNSET,
        attempts: int | None = None,
        run_id: uuid.UUID | None = None,
    ) -> bool:
        values: Row = {"status": ChunkStatus(status).value}
        if not isinstance(error_details, _Unset):
            values["error_details"] = error_details
        if attempts is not None:
            values["attempts"] = attempts
        chunk_table = self._client.table("chunks")
        request = chunk_table.update(values).eq("id", str(chunk_id))
        if run_id is not None:
            request = request.eq("last_run_id", str(run_id))
        if self._rows(request.select("id")):
            return True
        if not self._rows(chunk_table.select("id").eq("id", str(chunk_id))):
            raise AgentNotFound(f"no chunk {chunk_id}")
        return False  # the run no longer holds it

    def reset_chunks(self, chunk_ids: list[uuid.UUID], *, run_id: uuid.UUID | None = None) -> None:
        """Two requests for all the chunks (the engine resets a run's chunks as it starts): the
        chunks in ``Needs Review`` keep that status, the others go back to ``Not Started``.

        Unlike the SQL stores, which roll the reset back, the chunks that exist stay reset when
        another id does not exist: the Data API cannot make an update depend on how many rows it
        matched.
        """
        if not chunk_ids:
            return
        wanted = sorted({str(c) for c in chunk_ids})
        cleared: Row = {"error_details": None, "attempts": 0}
        if run_id is not None:
            cleared["last_run_id"] = str(run_id)
        review = ChunkStatus.NEEDS_REVIEW.value
        chunk_table = self._client.table("chunks")
        reset = chunk_table.update({**cleared, "status": ChunkStatus.NOT_STARTED.value})
        kept = chunk_table.update(cleared)
        found = len(self._rows(reset.in_("id", wanted).neq("status", review).select("id")))
        found += len(self._rows(kept.in_("id", wanted).eq("status", review).select("id")))
        if found < len(wanted):
            raise AgentNotFound(f"{len(wanted) - found} of the chunks to reset do not exist")

    def stuck_chunks(self, run_id: uuid.UUID | None = None) -> list[StuckChunk]:
        busy = [ChunkStatus.RUNNING.value, ChunkStatus.AWAITING_APPROVAL.value]
        request = (
            self._client.table("chunks")
            .select("agent_id,id,order,name,status,last_run_id")
            .in_("status", busy)
        )
        if run_id is not None:
            request = request.eq("last_run_id", str(run_id))
        return [StuckChunk.model_validate({**r, "chunk_id": r["id"]}) for r in self._rows(request)]

    def record_run(self, run: RunRecord) -> None:
        request = self._client.table("agent_runs").upsert(
            run.model_dump(mode="json"), on_conflict="flow_run_id", returning=ReturnMethod.minimal
        )
        self._rows(request, not_found=_NO_SUCH_AGENT, what=f"agent {run.agent_id}")

    def list_runs(
        self, agent_id: uuid.UUID | None = None, *, limit: int = 20, status: RunStatus | None = None
    ) -> list[RunRecord]:
        request = self._client.table("agent_runs").select("*")
        if agent_id is not None:
            request = request.eq("agent_id", str(agent_id))
        if status is not None:
            request = request.eq("status", status.value)
        rows = self._rows(request.order("started_at", desc=True).limit(limit))
        return [RunRecord.model_validate(r) for r in rows]

    def get_run(self, flow_run_id: uuid.UUID) -> RunRecord:
        rows = self._rows(self._client.table("agent_runs").select("*").eq("flow_run_id", str(flow_run_id)))
        if not rows:
            raise AgentNotFound(f"no run {flow_run_id}")
        return RunRecord.model_validate(rows[0])

    # ------------------------------------------------------------------ schedules and exports

    def set_schedule(self, schedule: Schedule) -> Schedule:
        request = self._client.table("agent_schedules").upsert(
            schedule.model_dump(mode="json", exclude={"updated_at"}), on_conflict="agent_id"
        )
        rows = self._rows(request, not_found=_NO_SUCH_AGENT, what=f"agent {schedule.agent_id}")
        return Schedule.model_validate(rows[0])

    def delete_schedule(self, agent_id: uuid.UUID) -> bool:
        request = self._client.table("agent_schedules").delete().eq("agent_id", str(agent_id))
        return bool(self._rows(request.select("agent_id")))

    def list_schedules(self, agent_id: uuid.UUID | None = None) -> list[Schedule]:
        request = self._client.table("agent_schedules").select("*")
        if agent_id is not None:
            request = request.eq("agent_id", str(agent_id))
        return [Schedule.model_validate(r) for r in self._rows(request.order("agent_id"))]

    def record_export(self, export: ExportRecord) -> None:
        request = self._client.table("agent_exports").insert(
            export.model_dump(mode="json"), returning=ReturnMethod.minimal
        )
        try:
            self._rows(request, not_found=_NO_SUCH_AGENT, what=f"agent {export.agent_id}")
        except StoreError:
            # A duplicate export id fails before the missing agent would: report what is missing.
            self._require_agent(export.agent_id)
            raise

    def list_exports(self, agent_id: uuid.UUID) -> list[ExportRecord]:
        request = (
            self._client.table("agent_exports")
            .select("*")
            .eq("agent_id", str(agent_id))
            .order("exported_at", desc=True)
        )
        return [ExportRecord.model_validate(r) for r in self._rows(request)]

    def exports_at(self, repository: str, path: str) -> list[ExportRecord]:
        request = (
            self._client.table("agent_exports")
            .select("*")
            .eq("repository", repository)
            .eq("path", path)
            .order("exported_at", desc=True)
        )
        return [ExportRecord.model_validate(r) for r in self._rows(request)]

    # ------------------------------------------------------------------ versions

    def list_versions(self, agent_id: uuid.UUID) -> list[VersionInfo]:
        request = (
            self._client.table("agent_versions").select("*").eq("agent_id", str(agent_id)).order("version")
        )
        rows = self._rows(request)
        if not rows:  # every agent has its version 1: none means no such agent
            self._require_agent(agent_id)
        return [VersionInfo.model_validate(r) for r in rows]

    def get_version(self, agent_id: uuid.UUID, version: int) -> VersionInfo:
        request = (
            self._client.table("agent_versions")
            .select("*")
            .eq("agent_id", str(agent_id))
            .eq("version", version)
        )
        rows = self._rows(request)
        if not rows:
            self._require_agent(agent_id)
            raise VersionNotFound(f"agent {agent_id} has no version {version}")
        return VersionInfo.model_validate(rows[0])


def _utc(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def _detail(error: APIError, key: str) -> Any:
    """A field of the JSON that save_agent puts in an error's DETAIL."""
    try:
        details = json.loads(error.details) if isinstance(error.details, str) else error.details
        return cast(Row, details)[key]
    except (ValueError, TypeError, KeyError) as e:
        raise StoreError(f"unexpected error details from save_agent: {error.details!r}") from e
