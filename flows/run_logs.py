"""Our log lines in Prefect: the ``agentctl`` logger writes to the same handlers as Prefect's own,
so chunk messages (fallback selectors, retries) show in the Prefect UI and in ``agentctl logs``.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

__all__ = ["RunLogLine", "attach_to_prefect", "read_run_logs"]


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


async def read_run_logs(
    flow_run_id: uuid.UUID, *, min_level: int = logging.INFO, limit: int = 1000
) -> list[RunLogLine]:
    """The run's log lines from Prefect's API, oldest first."""
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId, LogFilterLevel
    from prefect.client.schemas.sorting import LogSort

    log_filter = LogFilter(
        flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]), level=LogFilterLevel(ge_=min_level)
    )
    lines: list[RunLogLine] = []
    async with get_client() as client:
        offset = 0
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
                RunLogLine(log.timestamp, log.level, log.name, log.message, log.task_run_id) for log in batch
            ]
            offset += len(batch)
    return lines
