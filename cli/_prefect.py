"""Prefect from the command line: which server we talk to, whether it answers, run links, and a
quiet console."""

from __future__ import annotations

import functools
import logging
import subprocess
import sys
import unittest.mock
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from agents_store.errors import PrefectUnavailable
from cli._context import err_console
from flows.prefect_ui import embedded_mode, flow_run_url, prefect_unavailable_behind, require_prefect_api

__all__ = [
    "PrefectUnavailable",
    "embedded_mode",
    "flow_run_url",
    "note_prefect_mode",
    "prefect_unavailable_behind",
    "quiet_prefect_console",
    "require_prefect_api",
]

_noted = False


def note_prefect_mode() -> None:
    """Say once per command which Prefect this command uses, and check that it answers; in
    embedded mode, start the temporary server now.

    Every caller asks Prefect next. Left to the first client, inside ``asyncio.run``, the server's
    15-25 s start blocked the event loop: a Ctrl+C then (the server, in the terminal's process
    group, died of it too) waited out Prefect's 90 s start timeout and ended in a traceback.
    Started here, outside any loop, Ctrl+C stops the command at once.

    Raises:
        PrefectUnavailable: ``PREFECT_API_URL`` is set and no Prefect API answers there.
    """
    global _noted  # noqa: PLW0603 - one note per process is the point
    if _noted:
        return
    _noted = True
    require_prefect_api()
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
        with err_console.status("starting Prefect's temporary server…"):
            _temporary_server().start()


def _temporary_server() -> Any:
    """Prefect's temporary server, in a process group of its own.

    In the terminal's group, a Ctrl+C stopped it along with the run: the run's last reports to it
    (its crash) then waited out Prefect's client retries, 140 s, before the command could end.
    Out of the group it outlives the Ctrl+C by the moment the run needs, and Prefect stops it at
    exit; ``main`` turns SIGHUP (the terminal closed) into that exit too.
    """
    from prefect.server.api import server

    class OwnGroupServer(server.SubprocessASGIServer):
        def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
            in_own_group = functools.partial(subprocess.Popen, process_group=0)
            with unittest.mock.patch.object(subprocess, "Popen", in_own_group):  # the one it calls
                return super()._run_uvicorn_command()

    # Prefect keeps one instance per port, on the base class: its clients' SubprocessASGIServer()
    # (port None) is this one.
    return OwnGroupServer()


def temporary_server_stopped() -> bool:
    """Whether this process's temporary Prefect server (embedded mode) has exited: in a terminal,
    a Ctrl+C reaches it too (same process group), and it shuts down as the run does."""
    if "prefect.server.api.server" not in sys.modules or not embedded_mode():
        return False
    from prefect.server.api.server import SubprocessASGIServer

    servers = SubprocessASGIServer._instances.values()
    return any(s.server_process is not None and s.server_process.poll() is not None for s in servers)


def _not_the_temporary_server_lines(record: logging.LogRecord) -> bool:
    """Drop the INFO lines logged on the "prefect" logger itself: the temporary server's start and
    stop lines are (a logger's filter never sees the records of its children, the run loggers)."""
    return record.levelno >= logging.WARNING


class _SaidByTheCommand(logging.Filter):
    """Off the terminal, what the command's own table and last line say already: Prefect's
    traceback of a failure agentctl raised on purpose (a chunk that failed, a run refused; it only
    shows Prefect's engine calling our task), and the "Finished in state Failed(…)" lines of the
    flow run and of a failed chunk's task run, which drew themselves into the middle of the live
    table, and its "Crash detected!" lines of a run stopped by Ctrl+C or SIGTERM (the command's last
    line says it was stopped). They all stay in the run's logs in Prefect."""

    def filter(self, record: logging.LogRecord) -> bool:
        from agents_store.errors import AgentctlError

        error = record.exc_info[1] if record.exc_info else None
        # Masking logs (an agent with secrets) turns the exception into text and leaves its type.
        error_type = type(error) if error is not None else getattr(record, "exception_type", None)
        if isinstance(error_type, type) and issubclass(error_type, AgentctlError):
            return False
        engine = record.name in ("prefect.flow_runs", "prefect.task_runs")
        return not (engine and record.getMessage().startswith(("Finished in state", "Crash detected!")))


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
