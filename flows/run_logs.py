"""Our log lines in Prefect: the ``agentctl`` logger writes to the same handlers as Prefect's own,
so chunk messages (fallback selectors, retries) show in the Prefect UI and in ``agentctl logs``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient

__all__ = ["RunLogLine", "attach_to_prefect", "follow_run_logs", "read_run_logs"]


def attach_to_prefect(level: int = logging.INFO, *, extra: tuple[str, ...] = ()) -> None:
    """Give the ``agentctl`` logger (and ``extra`` ones, e.g. httpx in debugging mode) Prefect's
    handlers, as ``PREFECT_LOGGING_EXTRA_LOGGERS`` would — its API handler only for lines logged
    inside a run."""
    from prefect.logging.handlers import APILogHandler

    for name in ("agentctl", *extra):
        logger = logging.getLogger(name)
        logger.setLevel(level)
        present = {getattr(h, "target", h) for h in logger.handlers}
        for handler in logging.getLogger("prefect.extra").handlers:
            if handler not in present:
                wrapped = _InRunsOnly(handler) if isinstance(handler, APILogHandler) else handler
                logger.addHandler(wrapped)
        logger.propagate = False


class _InRunsOnly(logging.Handler):
    """Prefect's API handler, given only the lines logged inside a flow or task run.

    Once a run attached it, a long-lived process (the dashboard, a test session) keeps it; a line
    logged there outside any run has no run to be filed under, and Prefect's handler answers it with
    a warning (an error under ``-W error``) instead of sending it. Those lines still reach the console.
    """

    def __init__(self, target: logging.Handler) -> None:
        super().__init__(level=target.level)
        self.target = target

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "flow_run_id", None) is not None or _in_a_run():
            self.target.handle(record)


def _in_a_run() -> bool:
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


@dataclass(frozen=True)
class RunLogLine:
    timestamp: datetime
    level: int
    logger: str
    message: str
    task_run_id: uuid.UUID | None
    task_run_name: str | None = None
    """The chunk's task run (``03 · Sign in``): Prefect's own task lines ("Finished in state …") do
    not say which chunk they are about."""
    id: uuid.UUID | None = None

    @property
    def closes_the_run(self) -> bool:
        """The flow run's last line: Prefect's "Finished in state …"."""
        return self.task_run_id is None and self.message.startswith("Finished in state")


async def read_run_logs(
    flow_run_id: uuid.UUID, *, min_level: int = logging.INFO, limit: int = 1000, offset: int = 0
) -> list[RunLogLine]:
    """The run's log lines from Prefect's API, oldest first (from the ``offset``-th on)."""
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId, LogFilterLevel
    from prefect.client.schemas.sorting import LogSort

    log_filter = LogFilter(
        flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]), level=LogFilterLevel(ge_=min_level)
    )
    lines: list[RunLogLine] = []
    async with get_client() as client:
        while len(lines) < limit:
            batch = await client.read_logs(
                log_filter=log_filter,
                sort=LogSort.TIMESTAMP_ASC,
                limit=min(200, limit - len(lines)),
                offset=offset,
            )
            if not batch:
                break
            lines += [
                RunLogLine(log.timestamp, log.level, log.name, log.message, log.task_run_id, id=log.id)
                for log in batch
            ]
            offset += len(batch)
        names = await _task_run_names(client, {line.task_run_id for line in lines if line.task_run_id})
    return [
        replace(line, task_run_name=names.get(line.task_run_id)) if line.task_run_id else line
        for line in lines
    ]


_PAGE = 200
"""Prefect's API answers at most this many records per request by default."""


async def _task_run_names(client: PrefectClient, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Names of these task runs; one the server has not recorded yet (it does so up to a second
    after the run's events) is left out."""
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterId

    wanted = sorted(ids)
    names: dict[uuid.UUID, str] = {}
    for start in range(0, len(wanted), _PAGE):
        page = wanted[start : start + _PAGE]
        runs = await client.read_task_runs(
            task_run_filter=TaskRunFilter(id=TaskRunFilterId(any_=page)), limit=len(page)
        )
        names.update({run.id: run.name for run in runs})
    return names


NAME_WAIT_SECONDS = 5.0
"""How long a chunk's line waits for its task run's name: Prefect records task runs from their
events, up to a second or two after the lines that reach its API first."""
_OVERLAP = 50
"""Lines read again at each poll, so one that reached the API late, out of order, is not missed."""


async def follow_run_logs(
    flow_run_id: uuid.UUID,
    *,
    min_level: int = logging.INFO,
    poll_seconds: float = 1.0,
    settle_seconds: float = 4.0,
) -> AsyncIterator[RunLogLine]:
    """The run's log lines as they reach Prefect's API, until the run has ended.

    Ends once Prefect's state for the run is final and its closing line has arrived, or
    ``settle_seconds`` after the final state (lines reach the API in batches, every 2 s by
    default; a ``min_level`` above INFO never sees the closing line).
    """
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    seen: set[uuid.UUID] = set()
    ended_at: float | None = None
    closed = False
    while True:
        lines = await read_run_logs(
            flow_run_id, min_level=min_level, offset=max(0, len(seen) - _OVERLAP), limit=100_000
        )
        waiting = False
        for line in lines:
            if line.id in seen:
                continue
            age = (datetime.now(UTC) - line.timestamp).total_seconds()
            if line.task_run_id and line.task_run_name is None and age < NAME_WAIT_SECONDS:
                waiting = True
                break  # in order: this line, and those after it, at the next poll
            if line.id is not None:
                seen.add(line.id)
            closed = closed or line.closes_the_run
            yield line
        if ended_at is None:
            try:
                async with get_client() as client:
                    state = (await client.read_flow_run(flow_run_id)).state
            except ObjectNotFound:  # not a run of this Prefect server: nothing to follow
                return
            if state is not None and state.is_final():
                ended_at = time.monotonic()
        if ended_at is not None and not waiting and (closed or time.monotonic() - ended_at > settle_seconds):
            return
        await asyncio.sleep(poll_seconds)
