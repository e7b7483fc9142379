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
from typing import Annotated, Any, Literal, Self, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

__all__ = [
    "ACTION_TYPES",
    "SAFE_URL_SCHEMES",
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
    "DefinitionStatus",
    "HttpAction",
    "SelectorAction",
    "browser_url",
    "derive_agent_status",
    "goto_url_problem",
    "loom_video_id",
    "parse_video_time",
    "selectors_of",
    "url_scheme",
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


DEFINITION_STATUSES = (ChunkStatus.NOT_STARTED, ChunkStatus.NEEDS_REVIEW)


def _definition_status(value: object) -> object:
    """The statuses an agent file may give a chunk: the others are what a run leaves, which a file
    never carries (AGENT_FORMAT.md: the export writes ``status`` only when it is ``Needs Review``).
    Imported, ``Running`` showed the agent running forever with no run behind it."""
    if value in DEFINITION_STATUSES:
        return value
    allowed = f"an agent file gives {' or '.join(DEFINITION_STATUSES)}, or leaves status out"
    if isinstance(value, str) and value in set(ChunkStatus):
        raise ValueError(f"{value!r} is the state a run leaves, not part of an agent's definition: {allowed}")
    raise ValueError(f"{value!r} is not a status: {allowed}")


DefinitionStatus = Annotated[
    ChunkStatus,
    BeforeValidator(_definition_status),
    WithJsonSchema({"type": "string", "enum": [str(s) for s in DEFINITION_STATUSES]}),
]


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


def _one_problem(message: str) -> WrapValidator:
    """A union's failure as one problem: pydantic reports one error per member (``str``, ``int``…),
    which names type internals and reads as several mistakes where the author made one."""

    def validate(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError as e:
            raise PydanticCustomError("union_type", message) from e

    return WrapValidator(validate)


NonEmptyStr = Annotated[str, StringConstraints(min_length=1)]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=100)]
SelectorStr = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
Selector = Annotated[
    SelectorStr | Annotated[list[SelectorStr], Field(min_length=1, max_length=20)],
    _one_problem("must be a non-empty string (up to 2000 characters) or a list of 1 to 20 of them"),
]
ParamValue = Annotated[
    str | int | float | bool | None,
    _one_problem("must be text, a number, true, false or null (not a list or a mapping)"),
]
# Numbers and booleans are strict: "2", 2.5 or true for a count, "yes" for a boolean are refused as
# the JSON Schema (``agentctl schema``) refuses them, instead of being converted.
TimeoutMs = Annotated[StrictInt, Field(gt=0, le=600_000)]
Count = Annotated[StrictInt, Field(ge=0, le=10)]
Seconds = Annotated[float, Field(ge=0, le=3600, strict=True)]

# The patterns in JSON Schema's dialect (no named groups, "$" for the end) for the schema; Python
# matches them with \Z instead of "$", which also matches before a final newline, so that
# "00:12\n" or a Loom URL with a newline would pass and be stored.
_VIDEO_TIME_PATTERN = r"^(?:(\d{1,2}):)?(\d{1,3}):([0-5]\d)$"
_LOOM_URL_PATTERN = (
    r"^https://(?:www\.)?loom\.com/(share|embed)/(?:[A-Za-z0-9-]*-)?([0-9a-f]{32})(?:[?#][^\s]*)?$"
)
_VIDEO_TIME = re.compile(_VIDEO_TIME_PATTERN.removesuffix("$") + r"\Z")
_LOOM_URL = re.compile(_LOOM_URL_PATTERN.removesuffix("$") + r"\Z")
VideoTime = Annotated[str, Field(json_schema_extra={"pattern": _VIDEO_TIME_PATTERN})]
LoomUrl = Annotated[str, Field(json_schema_extra={"pattern": _LOOM_URL_PATTERN, "format": "uri"})]


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
    return match.group(2)


SAFE_URL_SCHEMES = frozenset({"http", "https"})
"""What ``goto`` opens unless ``settings.allow_unsafe_urls``: an allow-list, since a deny-list let
``fi<TAB>le:`` and schemes nobody listed (blob:, filesystem:, devtools:…) reach the browser."""
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_SCHEME_START = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*\Z")
_C0_AND_SPACE = "".join(map(chr, range(0x21)))


def browser_url(url: str) -> str:
    """The URL as the browser reads it (WHATWG URL parsing): leading and trailing C0 controls and
    spaces dropped, tabs and newlines anywhere removed — so ``fi<TAB>le:///etc/passwd`` is seen as
    the ``file:`` URL Chromium would open."""
    return url.strip(_C0_AND_SPACE).replace("\t", "").replace("\n", "").replace("\r", "")


def url_scheme(url: str) -> str | None:
    """The scheme of ``url`` as the browser reads it, lower-case; None for a relative URL."""
    match = _SCHEME.match(browser_url(url))
    return match.group(1).lower() if match else None


def goto_url_problem(url: str, *, allow_unsafe_urls: bool = False) -> str | None:
    """Why ``goto`` can never open ``url``, when its literal text makes that certain; else None.

    A ``{{ template }}`` may supply the scheme, so only the text before the first template counts:
    a relative URL (``index.html``, ``/login``) has nothing to resolve against in a fresh page, and
    a scheme other than http(s) is refused by the run unless ``settings.allow_unsafe_urls``.
    The URL is read as the browser reads it (leading controls and spaces dropped, tabs and
    newlines removed), so ``fi<TAB>le:`` is the ``file:`` it opens.
    """
    text = browser_url(url)
    literal = text.split("{{", 1)[0]
    scheme = url_scheme(literal)
    if scheme is not None:
        if scheme in SAFE_URL_SCHEMES or allow_unsafe_urls:
            return None
        return (
            f"goto refuses {scheme}: URLs (only http and https); set settings.allow_unsafe_urls: true "
            "in the agent to allow them"
        )
    if "{{" in text and (not literal or _SCHEME_START.match(literal)):
        return None  # the scheme comes from a template: known at run time
    return f"{_short_text(url)!r} is not an absolute URL: write it with http:// or https:// (or from a param)"


def _short_text(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    delay_ms: Annotated[StrictInt, Field(ge=0, le=10_000)] | None = None


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
    exact: StrictBool = False


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
    seconds: Seconds


HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
StatusCode = Annotated[StrictInt, Field(ge=100, le=599)]


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


def _as_list(value: object) -> object:
    return [value] if isinstance(value, int) and not isinstance(value, bool) else value


# Documents may write the method in any case (it is stored upper-case) and one status as a number:
# the schema says so through the input types, generated like the rest.
_ANY_CASE_METHOD = (
    "^(?:" + "|".join("".join(f"[{c}{c.lower()}]" for c in m) for m in get_args(HttpMethod)) + ")$"
)
Method = Annotated[
    HttpMethod,
    BeforeValidator(_upper, json_schema_input_type=Annotated[str, Field(pattern=_ANY_CASE_METHOD)]),
]
ExpectStatus = Annotated[
    list[StatusCode],
    Field(min_length=1),
    BeforeValidator(
        _as_list, json_schema_input_type=StatusCode | Annotated[list[StatusCode], Field(min_length=1)]
    ),
    _one_problem("must be an HTTP status (100 to 599) or a list of them"),
]


class HttpAction(_Action):
    """An HTTP call: a Make.com scenario webhook or API, a Zapier catch hook, any REST API.

    ``json`` is exposed as ``json_body`` in Python because ``json`` would shadow a pydantic method;
    documents always say ``json``.
    """

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, serialize_by_alias=True, defer_build=True
    )

    type: Literal["http"]
    method: Method = "POST"
    url: NonEmptyStr
    headers: dict[NonEmptyStr, str] | None = None
    json_body: Any = Field(default=None, alias="json")
    form: dict[NonEmptyStr, str] | None = None
    body: str | None = None
    expect_status: ExpectStatus | None = None
    var: Identifier | None = None
    timeout_ms: TimeoutMs | None = None

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

    retries: Count = 2
    retry_delay_seconds: Seconds = 1
    action_timeout_ms: TimeoutMs = 10_000
    headless: StrictBool = True
    allow_unsafe_urls: StrictBool = False
    """Let ``goto`` open file://, chrome:// and javascript: URLs (refused by default)."""


class ChunkDefinition(_Model):
    """One step of the video: its place in the recording and the actions learned from it."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    order: Annotated[StrictInt, Field(ge=1, le=100_000)] | None = None
    start_time: VideoTime | None = None
    end_time: VideoTime | None = None
    status: DefinitionStatus = ChunkStatus.NOT_STARTED
    retries: Count | None = None
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
    loom_url: LoomUrl
    github_repo_url: Annotated[str, StringConstraints(max_length=500)] | None = None
    params: dict[Identifier, ParamValue] = Field(
        default_factory=dict, json_schema_extra={"additionalProperties": False}
    )
    settings: AgentSettings = Field(default_factory=AgentSettings)
    chunks: Sequence[ChunkDefinition] = Field(default_factory=list, max_length=10_000)

    @field_validator("loom_url")
    @classmethod
    def _loom(cls, value: str) -> str:
        loom_video_id(value)
        return value

    @field_validator("description")
    @classmethod
    def _blank_description(cls, value: str | None) -> str | None:
        """Only whitespace is no description (as a blank name is refused), not one that sorts first."""
        return value if value is None or value.strip() else None

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
    # A saved chunk has every status a run gives it; a definition only the two a file may carry.
    status: ChunkStatus = ChunkStatus.NOT_STARTED
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

    def failure_summary(self) -> str:
        """Why the chunk failed, in one line (``ActionTimeout: …``), or "" when it has not failed.
        Whole: a table cuts it to its width itself, and a page wraps it."""
        if self.status != ChunkStatus.FAILED or not self.error_details:
            return ""
        details = self.error_details
        return " ".join(f"{details.get('type', 'Error')}: {details.get('message', '')}".split())


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
        definition, so a definition without it marks the chunk reviewed, and one that adds it
        marks it for review; a definition that leaves the mark as it was (a rename of the agent)
        keeps the chunk's state too, and so leaves it to a run that holds it.
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
                was_marked = old.status == ChunkStatus.NEEDS_REVIEW
                if same_actions and was_marked == (new.status == ChunkStatus.NEEDS_REVIEW):
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
