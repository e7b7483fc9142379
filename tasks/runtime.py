"""The live objects one run shares across its chunks: browser, HTTP client, vars, secrets, evidence.

A chunk task receives the ``RunRuntime`` (wrapped in Prefect's ``quote`` so Prefect neither copies
nor inspects it) next to its plain-data ``ChunkStep``.
"""

from __future__ import annotations

import asyncio
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tasks.masking import SecretMasker
from tasks.secrets import HostBinding
from tasks.templating import TemplateContext

if TYPE_CHECKING:
    import httpx

    from tasks.browser.session import RunBrowser
    from tasks.steps import ChunkResult, ChunkStep

__all__ = ["AttemptRecord", "ChunkObserver", "RunRuntime"]


class ChunkObserver(Protocol):
    """Told about what happens inside a chunk task, where the flow cannot see (between retries)."""

    async def attempt_started(self, step: ChunkStep, attempt: int) -> None: ...

    async def attempt_failed(
        self, step: ChunkStep, attempt: int, error: dict[str, Any], *, final: bool
    ) -> None:
        """``final``: no retry follows; ``error`` is then the chunk's ``error_details``."""

    async def chunk_completed(self, step: ChunkStep, result: ChunkResult) -> None: ...


@dataclass
class AttemptRecord:
    """One failed attempt of a chunk, as ``error_details.attempt_errors`` lists it."""

    attempt: int
    error: dict[str, Any]


@dataclass
class RunRuntime:
    flow_run_id: uuid.UUID
    templates: TemplateContext
    masker: SecretMasker
    browser: RunBrowser
    http: httpx.AsyncClient
    artifacts_dir: Path
    upload_dir: Path
    observer: ChunkObserver
    debug: bool = False
    attempts: dict[int, int] = field(default_factory=dict)
    failed_attempts: dict[int, list[AttemptRecord]] = field(default_factory=dict)
    start_urls: dict[int, str] = field(default_factory=dict)
    sensitive_locators: list[Any] = field(default_factory=list)
    """Playwright locators of elements that received a secret (masked in screenshots)."""
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    secret_hosts: dict[str, HostBinding] = field(default_factory=dict)
    """Secret name → the hosts it may be sent to (secrets without a binding are not listed)."""
    cancel_requested: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the run is cancelled in Prefect: a failed chunk is not tried again."""

    @property
    def cancelled(self) -> bool:
        return self.cancel_requested.is_set()

    def next_attempt(self, order: int) -> int:
        self.attempts[order] = self.attempts.get(order, 0) + 1
        return self.attempts[order]


RUN_CANCELLED: ContextVar[asyncio.Event | None] = ContextVar("agentctl_run_cancelled", default=None)
"""The run's ``cancel_requested``, for ``worth_retrying`` (Prefect gives it no run)."""


def no_retry_helps(error: BaseException) -> bool:
    """A failure the same action fails again with: a refusal (a ``file:`` URL, an upload outside its
    folder, a secret sent to a host it is not bound to), a relative ``goto`` URL or a template with
    no value. A refused
    ``goto`` went through all its retries, each refused alike."""
    from tasks.errors import TemplateError, UnsafeAction, UnusableUrl

    return isinstance(error, UnsafeAction | UnusableUrl | TemplateError)


def worth_retrying(_task: object, _task_run: object, state: Any) -> bool:
    """Prefect's retry condition for a chunk: no further attempt once the run is cancelled in Prefect
    (a failing chunk went through all its retries, 14 s, after the cancel), nor for a failure no
    retry helps (``state.data`` is the chunk's exception)."""
    cancelled = RUN_CANCELLED.get()
    if cancelled is not None and cancelled.is_set():
        return False
    error = getattr(state, "data", None)
    return not (isinstance(error, BaseException) and no_retry_helps(error))
