"""The JSON API's request and response bodies (the OpenAPI schema is generated from these).

Requests forbid unknown fields, so a typo is a 422 naming it rather than an edit silently ignored.
Every edit carries the ``version`` it was made on: the store refuses it when someone saved since.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from agents_store.models import AgentSettings, AgentStatus, ChunkStatus
from agents_store.store import RunStatus

__all__ = [
    "AgentCreate",
    "AgentOut",
    "AgentUpdate",
    "AwaitingOut",
    "ChunkEdit",
    "ChunkOut",
    "ChunkReorder",
    "DecisionIn",
    "DecisionOut",
    "DiffOut",
    "ExportOut",
    "GithubExportIn",
    "Link",
    "LogLineOut",
    "LogsOut",
    "RevertIn",
    "RunIn",
    "RunOut",
    "RunStarted",
    "RunStatusOut",
    "ScheduleIn",
    "ScheduleOut",
    "SessionOut",
    "VersionOut",
    "VersionSnapshotOut",
]

MAX_VERSION = 2**31 - 1
"""Versions are PostgreSQL ``integer``: a larger number names no version and cannot even be sent."""
Version = Annotated[int, Field(ge=1, le=MAX_VERSION, description="The agent version this edit was made on.")]
ParamValue = str | int | float | bool | None


class _Request(BaseModel):
    """A request body. Its booleans are ``StrictBool``: "yes" or 1 was taken for true here, while an
    agent file refuses a boolean written as text."""

    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- agents


class Link(BaseModel):
    label: str
    url: str


class ChunkOut(BaseModel):
    id: uuid.UUID
    order: int
    name: str | None
    start_time: str | None
    end_time: str | None
    video: Link | None = Field(description="The chunk's part of the Loom video (opens at start_time).")
    status: ChunkStatus
    retries: int | None
    attempts: int
    error_summary: str | None = Field(description="One line: why the chunk failed.")
    error_details: dict[str, Any] | None
    screenshot: Link | None = Field(description="The failure screenshot, served by this dashboard.")
    trace: Link | None = Field(description="The Playwright trace (debugging mode), served by this dashboard.")
    task_run: Link | None = Field(description="The failed task run in the Prefect UI.")
    actions: list[dict[str, Any]]
    actions_yaml: str = Field(description="The actions as the editor shows them: one YAML line each.")
    last_run_id: uuid.UUID | None
    updated_at: datetime | None
    in_run: bool | None = Field(
        default=None,
        description="On a run's rows: whether that run selected the chunk (None on an agent's rows).",
    )


class ScheduleOut(BaseModel):
    cron: str
    timezone: str
    mode: str
    params: dict[str, Any]
    active: bool
    updated_at: datetime | None


class AgentOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    loom_url: str
    github_repo_url: str | None
    params: dict[str, ParamValue]
    settings: AgentSettings
    status: AgentStatus
    version: int
    created_at: datetime | None
    updated_at: datetime | None
    chunks: list[ChunkOut]
    schedule: ScheduleOut | None


class AgentCreate(_Request):
    """A new agent from the analysis' agent file (YAML or JSON text), for the Loom video given."""

    loom_url: str | None = Field(
        default=None, max_length=500, description="The video; replaces the file's loom_url when given."
    )
    document: str = Field(min_length=1, max_length=20 * 1024 * 1024, description="The agent file's text.")


class AgentUpdate(_Request):
    version: Version
    name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=10_000, description='"" clears it.')


class ChunkEdit(_Request):
    """Change one chunk; fields left out stay as they are."""

    version: Version
    name: str | None = Field(default=None, max_length=200, description='"" removes the name.')
    actions_yaml: str | None = Field(
        default=None, max_length=2_000_000, description="The whole list of actions, as YAML or JSON."
    )
    needs_review: StrictBool | None = Field(
        default=None, description="true: mark Needs Review; false: mark reviewed (Not Started)."
    )


class ChunkReorder(_Request):
    version: Version
    chunk_ids: list[uuid.UUID] = Field(description="Every chunk's id, in the new order.")


class RevertIn(_Request):
    version: Version
    to_version: int = Field(ge=1, le=MAX_VERSION)


class ExportOut(BaseModel):
    target: Literal["github", "git"]
    repository: str
    branch: str | None
    path: str
    commit_sha: str | None
    tag: str | None
    author: str | None
    exported_at: datetime
    agent_version: int
    changed: bool | None = None
    commit_url: str | None = None
    warnings: list[str] = []


class VersionOut(BaseModel):
    version: int
    created_at: datetime
    author: str | None
    summary: str
    exports: list[ExportOut]


class VersionSnapshotOut(BaseModel):
    version: int
    created_at: datetime
    author: str | None
    yaml: str


class MetadataChange(BaseModel):
    field: str
    before: Any
    after: Any


class ChunkChangeOut(BaseModel):
    kind: Literal["added", "removed", "renamed", "edited", "unchanged"]
    label: str
    old_position: int | None
    new_position: int | None
    moved: bool
    changed_fields: list[str]
    old_name: str | None
    new_name: str | None
    removed_lines: list[str]
    added_lines: list[str]


class DiffOut(BaseModel):
    from_version: int
    to_version: int
    summary: str
    metadata: list[MetadataChange]
    chunks: list[ChunkChangeOut]
    unified: str


# --------------------------------------------------------------------------- exports and schedules


class GithubExportIn(_Request):
    repo: str = Field(min_length=3, max_length=200, description="OWNER/NAME")
    branch: str | None = Field(default=None, max_length=200)
    path: str = Field(default="agents", max_length=500)
    create_repo: StrictBool = False
    message: str | None = Field(default=None, max_length=5000)


class ScheduleIn(_Request):
    cron: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    timezone: str = Field(default="UTC", max_length=100)
    mode: Literal["automatic", "verification", "debugging"] = "automatic"
    params: dict[str, ParamValue] = Field(default_factory=dict)
    active: StrictBool = True


# --------------------------------------------------------------------------- runs and approvals


class RunIn(_Request):
    """Run all chunks (default), only ``chunks``, or ``from_chunk`` to the end."""

    mode: Literal["automatic", "verification", "debugging"] = "automatic"
    chunks: list[Annotated[int, Field(ge=1)]] | None = Field(default=None, max_length=10_000)
    from_chunk: int | None = Field(default=None, ge=1)
    params: dict[str, ParamValue] = Field(default_factory=dict)
    force: StrictBool = Field(default=False, description="Run chunks marked Needs Review in automatic mode.")


class RunStarted(BaseModel):
    flow_run_id: uuid.UUID
    agent_id: uuid.UUID
    url: str = Field(description="The run's page in this dashboard.")
    prefect_url: str | None


class AwaitingOut(BaseModel):
    kind: Literal["approval", "step"]
    key: str = Field(description="Names this pause: a new key is a new question.")
    order: int
    chunk: str
    chunk_id: uuid.UUID | None
    since: datetime | None
    description: str = Field(description="Markdown: what the chunk will do, secrets shown as ***.")
    lines: list[str] = Field(description="The description's action lines, without markdown.")
    decisions: list[str] = Field(description="What may be answered.")


class RunOut(BaseModel):
    flow_run_id: uuid.UUID
    agent_id: uuid.UUID
    agent_name: str
    agent_version: int | None
    mode: str
    status: RunStatus | Literal["Starting"]
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    params: dict[str, Any]
    chunks: list[int] | None
    notes: list[dict[str, Any]]
    awaiting: AwaitingOut | None
    finished: bool
    prefect_url: str | None


class RunStatusOut(BaseModel):
    """A run and its agent's chunk rows as this run has them: what a live page polls."""

    run: RunOut
    chunks: list[ChunkOut]


class LogLineOut(BaseModel):
    timestamp: datetime
    level: str
    logger: str
    message: str
    task: str | None = None
    """The chunk's task run the line belongs to (``03 · Sign in``), when it belongs to one."""


class LogsOut(BaseModel):
    lines: list[LogLineOut]
    next: int = Field(description="Pass as ?after= to get only newer lines.")


class DecisionIn(_Request):
    decision: Literal["approve", "skip", "abort", "continue", "run_to_end", "retry"]
    note: str = Field(default="", max_length=2000)
    pause_key: str | None = Field(
        default=None,
        max_length=300,
        description="The pause answered (the run's ``awaiting.key``): when the run has moved on to "
        "another pause since, the answer is refused (409) rather than applied to that one.",
    )


class DecisionOut(BaseModel):
    flow_run_id: uuid.UUID
    decision: str
    chunk: str


class SessionOut(BaseModel):
    user_id: uuid.UUID
    name: str
    via: Literal["local", "token", "jwt"]
    csrf_token: str = Field(description="Send as X-CSRF-Token on writes made with the session cookie.")
