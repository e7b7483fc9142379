"""Prefect from the command line: which server we talk to, run links, and a quiet console."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from cli._context import err_console
from flows.prefect_ui import embedded_mode, flow_run_url

__all__ = ["embedded_mode", "flow_run_url", "note_prefect_mode", "quiet_prefect_console"]

_noted = False


def note_prefect_mode() -> None:
    """Say once per command which Prefect this command uses."""
    global _noted  # noqa: PLW0603 - one note per process is the point
    if _noted:
        return
    _noted = True
    if embedded_mode():
        err_console.print(
            "PREFECT_API_URL is not set: Prefect's embedded mode (a temporary server, 15-25 s to start)."
            " Run `agentctl server` and export PREFECT_API_URL to keep a UI and skip that wait.",
            markup=False,
            style="dim",
        )
        # This note says it: Prefect's own "Starting/Stopping temporary server on …" lines would
        # print after the command's output (the stop runs at exit, outside any quiet block).
        logging.getLogger("prefect").addFilter(_not_the_temporary_server_lines)


def _not_the_temporary_server_lines(record: logging.LogRecord) -> bool:
    """Drop the INFO lines logged on the "prefect" logger itself: the temporary server's start and
    stop lines are (a logger's filter never sees the records of its children, the run loggers)."""
    return record.levelno >= logging.WARNING


class _SaidByTheCommand(logging.Filter):
    """Off the terminal, what the command's own table and last line say already: Prefect's
    traceback of a failure agentctl raised on purpose (a chunk that failed, a run refused; it only
    shows Prefect's engine calling our task), and the "Finished in state Failed(…)" lines of the
    flow run and of a failed chunk's task run, which drew themselves into the middle of the live
    table. They all stay in the run's logs in Prefect."""

    def filter(self, record: logging.LogRecord) -> bool:
        from agents_store.errors import AgentctlError

        error = record.exc_info[1] if record.exc_info else None
        # Masking logs (an agent with secrets) turns the exception into text and leaves its type.
        error_type = type(error) if error is not None else getattr(record, "exception_type", None)
        if isinstance(error_type, type) and issubclass(error_type, AgentctlError):
            return False
        engine = record.name in ("prefect.flow_runs", "prefect.task_runs")
        return not (engine and record.getMessage().startswith("Finished in state"))


@contextmanager
def quiet_prefect_console(level: int = logging.WARNING) -> Iterator[None]:
    """Keep Prefect's INFO lines off the terminal (they still go to Prefect's API and UI)."""
    from prefect.logging.handlers import PrefectConsoleHandler

    handlers: list[tuple[logging.Handler, int]] = []
    ours = _SaidByTheCommand()
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        if isinstance(logger, logging.Logger):
            for handler in logger.handlers:
                if isinstance(handler, PrefectConsoleHandler) and all(handler is not h for h, _ in handlers):
                    handlers.append((handler, handler.level))
                    handler.setLevel(max(level, handler.level))
                    handler.addFilter(ours)
    try:
        yield
    finally:
        for handler, previous in handlers:
            handler.setLevel(previous)
            handler.removeFilter(ours)
