"""The agent format (schema_version 1) as pydantic models, and the saved agent built on it.

Two layers, so that a file can never smuggle in database state:

* ``AgentDefinition`` / ``ChunkDefinition`` are exactly the document of ``AGENT_FORMAT.md``: what the
  video analysis writes, ``agentctl import`` reads and ``agentctl export`` writes back.
* ``Agent`` / ``Chunk`` are a saved agent: the definition plus identity (ids, owner, version,
  timestamps) and run state (chunk status, error details, attempts).

Actions are a discriminated union on ``type``; every model forbids unknown fields so that a typo in
a learned action fails at import, not in the middle of a run.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

__all__ = [
    "ACTION_TYPES",
    "SCHEMA_VERSION",
    "Action",
    "Agent",
    "AgentDefinition",
    "AgentSettings",
    "AgentStatus",
    "AgentSummary",
    "BrowserAction",
    "Chunk",
    "ChunkDefinition",
    "ChunkStatus",
    "HttpAction",
    "SelectorAction",
    "derive_agent_status",
    "loom_video_id",
    "parse_video_time",
    "selectors_of",
]

SCHEMA_VERSION: Literal[1] = 1


class ChunkStatus(StrEnum):
    """A chunk's state; the strings are the seed's and appear as-is in the store and in JSON."""

    NOT_STARTED = "Not Started"
    RUNNING = "Running"
    AWAITING_APPROVAL = "Awaiting Approval"
    COMPLETED = "Completed"
    FAILED = "Failed"
    SKIPPED = "Skipped"
    NEEDS_REVIEW = "Needs Review"


class AgentStatus(StrEnum):
    """An agent's status as lists show it, derived from its chunks by ``derive_agent_status``.

    ``Incomplete`` is the one status a chunk never has: some chunks finished, others never ran
    (an aborted run, or a run of selected chunks).
    """

    NOT_STARTED = "Not Started"
    RUNNING = "Running"
    AWAITING_APPROVAL = "Awaiting Approval"
    FAILED = "Failed"
    NEEDS_REVIEW = "Needs Review"
    COMPLETED = "Completed"
    INCOMPLETE = "Incomplete"


# The derivation as data, first match wins: ("any", S) matches when some chunk is in S,
# ("all", S) when every chunk is. The store compiles the same rules to SQL so that lists can
# sort and filter on status without loading chunks.
_DONE = frozenset({ChunkStatus.COMPLETED, ChunkStatus.SKIPPED})
AGENT_STATUS_RULES: tuple[tuple[AgentStatus, Literal["any", "all"], frozenset[ChunkStatus]], ...] = (
    (AgentStatus.RUNNING, "any", frozenset({ChunkStatus.RUNNING})),
    (AgentStatus.AWAITING_APPROVAL, "any", frozenset({ChunkStatus.AWAITING_APPROVAL})),
    (AgentStatus.FAILED, "any", frozenset({ChunkStatus.FAILED})),
    (AgentStatus.NEEDS_REVIEW, "any", frozenset({ChunkStatus.NEEDS_REVIEW})),
    (AgentStatus.COMPLETED, "all", _DONE),
    (AgentStatus.NOT_STARTED, "all", frozenset({ChunkStatus.NOT_STARTED})),
)


def derive_agent_status(statuses: Iterable[ChunkStatus | str]) -> AgentStatus:
    """The agent's status from its chunks' statuses (an agent without chunks is Not Started)."""
    found = [ChunkStatus(s) for s in statuses]
    if not found:
        return AgentStatus.NOT_STARTED
    for result, quantifier, members in AGENT_STATUS_RULES:
        if quantifier == "any" and any(s in members for s in found):
            return result
        if quantifier == "all" and all(s in members for s in found):
            return result
    return AgentStatus.INCOMPLETE


# --------------------------------------------------------------------------- field types

NonEmptyStr = Annotated[str, StringConstraints(min_length=1)]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=100)]
SelectorStr = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
Selector = SelectorStr | Annotated[list[SelectorStr], Field(min_length=1, max_length=20)]
TimeoutMs = Annotated[int, Field(gt=0, le=600_000)]

# \Z, not $: "$" also matches before a final newline, and "00:12\n" or a Loom URL with a newline
# would pass and be stored.
_VIDEO_TIME = re.compile(r"^(?:(\d{1,2}):)?(\d{1,3}):([0-5]\d)\Z")
_LOOM_URL = re.compile(
    r"^https://(?:www\.)?loom\.com/(?P<kind>share|embed)/(?:[A-Za-z0-9-]*-)?(?P<id>[0-9a-f]{32})"
    r"(?:[?#][^\s]*)?\Z"
)


def parse_video_time(value: str) -> int:
    """Seconds from ``mm:ss`` or ``hh:mm:ss``; raises ValueError on anything else."""
    match = _VIDEO_TIME.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a video time (use mm:ss or hh:mm:ss)")
    hours, minutes, seconds = match.groups()
    if hours is not None and int(minutes) > 59:
        raise ValueError(f"{value!r} is not a video time: minutes must be under 60")
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)


def loom_video_id(url: str) -> str:
    """The 32-hex video id of a Loom share or embed URL; raises ValueError otherwise."""
    match = _LOOM_URL.match(url)
    if not match:
        raise ValueError(
            "not a Loom video URL: expected https://www.loom.com/share/<id> "
            "or https://www.loom.com/embed/<id> with a 32-character hex id"
        )
    return match.group("id")


def selectors_of(selector: str | Sequence[str]) -> list[str]:
    """A selector field as the list of alternatives to try in order."""
    return [selector] if isinstance(selector, str) else list(selector)


# --------------------------------------------------------------------------- actions


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    type: str
    """Each action class narrows this to its own literal: the union's discriminator."""


class BrowserAction(_Action):
    """An action on the run's page; ``timeout_ms`` overrides ``settings.action_timeout_ms``."""

    timeout_ms: TimeoutMs | None = None


class SelectorAction(BrowserAction):
    """A browser action on an element: the first selector of the list that matches wins."""

    selector: Selector


class GotoAction(BrowserAction):
    type: Literal["goto"]
    url: NonEmptyStr


class ClickAction(SelectorAction):
    type: Literal["click"]


class DblclickAction(SelectorAction):
    type: Literal["dblclick"]


class HoverAction(SelectorAction):
    type: Literal["hover"]


class CheckAction(SelectorAction):
    type: Literal["check"]


class UncheckAction(SelectorAction):
    type: Literal["uncheck"]


class FillAction(SelectorAction):
    type: Literal["fill"]
    value: str


class TypeAction(SelectorAction):
    type: Literal["type"]
    text: str
    delay_ms: Annotated[int, Field(ge=0, le=10_000)] | None = None


class PressAction(SelectorAction):
    type: Literal["press"]
    key: NonEmptyStr


class SelectAction(SelectorAction):
    type: Literal["select"]
    value: str


class UploadAction(SelectorAction):
    type: Literal["upload"]
    path: NonEmptyStr


class WaitForAction(SelectorAction):
    type: Literal["wait_for"]
    state: Literal["visible", "hidden", "attached", "detached"] = "visible"


class WaitForUrlAction(BrowserAction):
    type: Literal["wait_for_url"]
    url: NonEmptyStr


class ExpectTextAction(SelectorAction):
    type: Literal["expect_text"]
    text: str
    exact: bool = False


class ExpectVisibleAction(SelectorAction):
    type: Literal["expect_visible"]


class ExtractAction(SelectorAction):
    type: Literal["extract"]
    var: Identifier
    attribute: NonEmptyStr | None = None


class ScreenshotAction(BrowserAction):
    type: Literal["screenshot"]
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,100}$")] | None = None


class SleepAction(_Action):
    type: Literal["sleep"]
    seconds: Annotated[float, Field(ge=0, le=3600)]


HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class HttpAction(_Action):
    """An HTTP call: a Make.com scenario webhook or API, a Zapier catch hook, any REST API.

    ``json`` is exposed as ``json_body`` in Python because ``json`` would shadow a pydantic method;
    documents always say ``json``.
    """

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, serialize_by_alias=True, defer_build=True
    )

    type: Literal["http"]
    method: HttpMethod = "POST"
    url: NonEmptyStr
    headers: dict[NonEmptyStr, str] | None = None
    json_body: Any = Field(default=None, alias="json")
    form: dict[NonEmptyStr, str] | None = None
    body: str | None = None
    expect_status: Annotated[list[Annotated[int, Field(ge=100, le=599)]], Field(min_length=1)] | None = None
    var: Identifier | None = None
    timeout_ms: TimeoutMs | None = None

    @field_validator("method", mode="before")
    @classmethod
    def _upper_method(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("expect_status", mode="before")
    @classmethod
    def _status_list(cls, value: object) -> object:
        return [value] if isinstance(value, int) else value

    @model_validator(mode="after")
    def _one_body(self) -> Self:
        given = [name for name in ("json", "form", "body") if self._body_field(name) is not None]
        if len(given) > 1:
            raise ValueError(f"give only one of json, form or body (got {', '.join(given)})")
        return self

    def _body_field(self, name: str) -> object:
        return {"json": self.json_body, "form": self.form, "body": self.body}[name]


Action = Annotated[
    GotoAction
    | ClickAction
    | DblclickAction
    | HoverAction
    | CheckAction
    | UncheckAction
    | FillAction
    | TypeAction
    | PressAction
    | SelectAction
    | UploadAction
    | WaitForAction
    | WaitForUrlAction
    | ExpectTextAction
    | ExpectVisibleAction
    | ExtractAction
    | ScreenshotAction
    | SleepAction
    | HttpAction,
    Field(discriminator="type"),
]

ACTION_TYPES: tuple[str, ...] = (
    "goto",
    "click",
    "dblclick",
    "hover",
    "check",
    "uncheck",
    "fill",
    "type",
    "press",
    "select",
    "upload",
    "wait_for",
    "wait_for_url",
    "expect_text",
    "expect_visible",
    "extract",
    "screenshot",
    "sleep",
    "http",
)


# --------------------------------------------------------------------------- definition


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class AgentSettings(_Model):
    """How the engine runs the agent; every field has a default, so ``settings`` may be omitted."""

    retries: Annotated[int, Field(ge=0, le=10)] = 2
    retry_delay_seconds: Annotated[float, Field(ge=0, le=3600)] = 1
    action_timeout_ms: TimeoutMs = 10_000
    headless: bool = True
    allow_unsafe_urls: bool = False
    """Let ``goto`` open file://, chrome:// and javascript: URLs (refused by default)."""


class ChunkDefinition(_Model):
    """One step of the video: its place in the recording and the actions learned from it."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    order: Annotated[int, Field(ge=1, le=100_000)] | None = None
    start_time: str | None = None
    end_time: str | None = None
    status: ChunkStatus = ChunkStatus.NOT_STARTED
    retries: Annotated[int, Field(ge=0, le=10)] | None = None
    actions: list[Action] = Field(default_factory=list, max_length=1000)

    @field_validator("start_time", "end_time", mode="before")
    @classmethod
    def _quoted_time(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            raise ValueError('write video times in quotes ("12:30"): unquoted, YAML reads 12:30 as a number')
        return value

    @field_validator("start_time", "end_time")
    @classmethod
    def _video_time(cls, value: str | None) -> str | None:
        if value is not None:
            parse_video_time(value)
        return value

    @model_validator(mode="after")
    def _end_after_start(self) -> Self:
        start, end = self.start_time, self.end_time
        if start is not None and end is not None and parse_video_time(end) < parse_video_time(start):
            raise ValueError(f"end_time {self.end_time} is before start_time {self.start_time}")
        return self

    @property
    def label(self) -> str:
        """How messages name the chunk: ``chunk 3 "Log in"``."""
        number = self.order if self.order is not None else "?"
        return f'chunk {number} "{self.name}"' if self.name else f"chunk {number}"


class AgentDefinition(_Model):
    """An agent as a document: exactly the format of ``AGENT_FORMAT.md`` (schema_version 1)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    description: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    loom_url: str
    github_repo_url: Annotated[str, StringConstraints(max_length=500)] | None = None
    params: dict[Identifier, str | int | float | bool | None] = Field(default_factory=dict)
    settings: AgentSettings = Field(default_factory=AgentSettings)
    chunks: Sequence[ChunkDefinition] = Field(default_factory=list, max_length=10_000)

    @field_validator("loom_url")
    @classmethod
    def _loom(cls, value: str) -> str:
        loom_video_id(value)
        return value

    @field_validator("github_repo_url")
    @classmethod
    def _github(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(https?|ssh|git|file)://|^git@", value):
            raise ValueError("not a repository URL (https://, ssh://, git@… or file://)")
        return value

    @model_validator(mode="after")
    def _number_chunks(self) -> Self:
        """Put chunks in order and number them 1..n, refusing two chunks with the same order."""
        seen: dict[int, int] = {}
        for position, chunk in enumerate(self.chunks):
            if chunk.order is None:
                continue
            if chunk.order in seen:
                raise ValueError(
                    f"chunks: the chunks at positions {seen[chunk.order] + 1} and {position + 1} "
                    f"both have order {chunk.order}; each chunk needs its own"
                )
            seen[chunk.order] = position
        if seen and len(seen) != len(self.chunks):
            raise ValueError("chunks: give every chunk an order, or none")
        ordered = sorted(self.chunks, key=lambda c: c.order or 0) if seen else list(self.chunks)
        self.chunks = [c.model_copy(update={"order": n}) for n, c in enumerate(ordered, start=1)]
        return self

    @property
    def loom_video_id(self) -> str:
        return loom_video_id(self.loom_url)


# --------------------------------------------------------------------------- saved agent


class Chunk(ChunkDefinition):
    """A saved chunk: its definition plus identity and the state its last run left."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    order: int
    error_details: dict[str, Any] | None = None
    attempts: int = 0
    last_run_id: uuid.UUID | None = None
    updated_at: datetime | None = None

    def definition(self) -> ChunkDefinition:
        """The chunk as the format has it: run state dropped, status kept only for review."""
        data = self.model_dump(include=set(ChunkDefinition.model_fields), by_alias=True)
        if self.status != ChunkStatus.NEEDS_REVIEW:
            data["status"] = ChunkStatus.NOT_STARTED
        return ChunkDefinition.model_validate(data)


class Agent(AgentDefinition):
    """A saved agent. ``version`` counts saves of the definition (1, 2, 3 …); run state does not."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    user_id: uuid.UUID
    version: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    chunks: list[Chunk] = Field(default_factory=list)

    @property
    def status(self) -> AgentStatus:
        return derive_agent_status(c.status for c in self.chunks)

    def definition(self) -> AgentDefinition:
        """The agent as a document: no ids, owner, timestamps, versions or run results."""
        data = self.model_dump(include=set(AgentDefinition.model_fields) - {"chunks"}, by_alias=True)
        data["chunks"] = [c.definition() for c in self.chunks]
        return AgentDefinition.model_validate(data)

    @classmethod
    def from_definition(
        cls, definition: AgentDefinition, *, user_id: uuid.UUID, agent_id: uuid.UUID | None = None
    ) -> Agent:
        """A new, unsaved agent for ``definition``, with fresh chunk ids."""
        data = definition.model_dump(exclude={"chunks"}, by_alias=True)
        chunks = [Chunk.model_validate(c.model_dump(by_alias=True)) for c in definition.chunks]
        return cls.model_validate(
            {**data, "id": agent_id or uuid.uuid4(), "user_id": user_id, "chunks": chunks}
        )

    def with_definition(self, definition: AgentDefinition) -> Agent:
        """This agent, same id and owner, redefined by ``definition``.

        A chunk keeps its id when a chunk of the same name (or, unnamed, the same position)
        existed; it keeps its run state only if its actions did not change, because a status
        earned by other actions says nothing about the new ones. ``Needs Review`` is part of the
        definition, so a definition without it marks the chunk reviewed.
        """
        old_by_key: dict[str, Chunk] = {}
        for chunk in self.chunks:
            old_by_key.setdefault(_chunk_key(chunk), chunk)
        chunks: list[Chunk] = []
        for new in definition.chunks:
            old = old_by_key.pop(_chunk_key(new), None)
            data = new.model_dump(by_alias=True)
            if old is not None:
                data["id"] = old.id
                same_actions = old.model_dump(include={"actions"}) == new.model_dump(include={"actions"})
                ran = old.status != ChunkStatus.NEEDS_REVIEW
                if same_actions and ran and new.status == ChunkStatus.NOT_STARTED:
                    data.update(
                        status=old.status,
                        error_details=old.error_details,
                        attempts=old.attempts,
                        last_run_id=old.last_run_id,
                    )
            chunks.append(Chunk.model_validate(data))
        base = definition.model_dump(exclude={"chunks"}, by_alias=True)
        return Agent.model_validate(
            {
                **base,
                "id": self.id,
                "user_id": self.user_id,
                "version": self.version,
                "created_at": self.created_at,
                "updated_at": self.updated_at,
                "chunks": chunks,
            }
        )

    def chunk(self, order: int) -> Chunk:
        """The chunk at ``order`` (1-based); raises LookupError naming the valid range."""
        for chunk in self.chunks:
            if chunk.order == order:
                return chunk
        raise LookupError(f"agent {self.name!r} has no chunk {order} (it has 1..{len(self.chunks)})")


def _chunk_key(chunk: ChunkDefinition) -> str:
    return f"name:{chunk.name}" if chunk.name else f"order:{chunk.order}"


class AgentSummary(BaseModel):
    """One row of an agent list: what ``agentctl list --json`` prints for each agent."""

    id: uuid.UUID
    name: str
    description: str | None
    status: AgentStatus
    version: int
    created_at: datetime
    updated_at: datetime
    user_id: uuid.UUID
    chunk_count: int = 0
    last_run_at: datetime | None = None
