"""Prefect from the command line: which server we talk to, whether it answers, run links, and a
quiet console."""

from __future__ import annotations

import functools
import logging
import os
import subprocess
import sys
import unittest.mock
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from agents_store.errors import AgentctlError
from cli._context import err_console
from flows.prefect_ui import embedded_mode, flow_run_url

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
_answering: set[str] = set()
"""The API URLs found answering as a Prefect API in this process (each is asked once)."""


class PrefectUnavailable(AgentctlError):
    """``PREFECT_API_URL`` names no Prefect API that answers: the server is down, or the URL is wrong.

    The message names the variable, its value, what went wrong and the likely fix, on one line.
    """


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


def require_prefect_api() -> None:
    """Before a command asks Prefect anything: check that ``PREFECT_API_URL`` names a Prefect API
    that answers (once per process and URL). Nothing to check in embedded mode.

    Checked up front, a wrong URL is one line before the command has done or drawn anything — not
    Prefect's client's traceback half-way (``run`` had drawn its table, ``delete`` had deleted).

    Raises:
        PrefectUnavailable: nothing answers there, or something that is not a Prefect API does.
    """
    if embedded_mode():
        return
    url = _api_url()
    if url in _answering:
        return
    problem = _probe(url)
    if problem is not None:
        raise problem
    _answering.add(url)


def prefect_unavailable_behind(error: BaseException) -> PrefectUnavailable | None:
    """The one-line error to show for ``error``, raised from inside Prefect's client, when the
    reason is that ``PREFECT_API_URL`` names no Prefect API that answers (now); else None.

    Prefect's client fails as ``RuntimeError("Failed to reach API at …")``, an ``httpx`` error or a
    ``PrefectHTTPStatusError`` (a 404 or 501 from a server that is not Prefect's). The same errors
    can mean something else (a real Prefect's 404 for a missing object), so the API is asked again:
    only a failed check turns ``error`` into ``PrefectUnavailable``.
    """
    if not any(_from_prefect_client(e) for e in _chain(error)) or embedded_mode():
        return None
    return _probe(_api_url())


def _from_prefect_client(error: BaseException) -> bool:
    if isinstance(error, RuntimeError) and str(error).startswith("Failed to reach API"):
        return True
    httpx = sys.modules.get("httpx")  # not imported: no httpx error can have been raised
    return httpx is not None and isinstance(error, httpx.HTTPError)


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and its causes (``raise … from``) or contexts, innermost last."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _api_url() -> str:
    from prefect.settings import get_current_settings

    return os.environ.get("PREFECT_API_URL") or str(get_current_settings().api.url or "")


def _probe(url: str) -> PrefectUnavailable | None:
    """Ask the API at ``url`` for its health and its version, as Prefect's own client does (with
    its credentials and TLS settings); None when a Prefect API answers both."""
    import httpx
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            failed = client.api_healthcheck()
            if failed is not None:
                raise failed
            # Anything may answer /health; a Prefect API answers /admin/version with its version.
            client.raise_for_api_version_mismatch()
    except (httpx.HTTPError, RuntimeError, ValueError) as e:  # ValueError: no JSON, no version
        return PrefectUnavailable(_unavailable_message(url, e))
    return None


def _unavailable_message(url: str, error: BaseException) -> str:
    """``PREFECT_API_URL=…: what went wrong; the likely fix`` for a failed check of ``url``."""
    import httpx

    shown = _without_credentials(url)
    parts = urlsplit(url)
    ends_in_api = "api" in parts.path.strip("/").split("/")
    reason = str(error)
    refused = False
    for e in _chain(error):
        if isinstance(e, httpx.HTTPStatusError):
            code = f"{e.response.status_code} {e.response.reason_phrase}".strip()
            if e.response.status_code in (401, 403):
                reason = f"it refused this client ({code}): check PREFECT_API_KEY or PREFECT_API_AUTH_STRING"
            else:
                reason = f"that is not a Prefect API (GET {e.request.url.path} answered {code})"
            break
        if isinstance(e, httpx.ConnectError):
            reason, refused = "no server answers there", True
            break
        if isinstance(e, httpx.TimeoutException):
            reason, refused = "no answer in time", True
            break
        if isinstance(e, httpx.TransportError):
            reason, refused = f"the connection failed ({type(e).__name__}: {e})", True
            break
        if isinstance(e, ValueError):
            reason = "that is not a Prefect API (its /admin/version gave no version)"
            break
    if not ends_in_api:
        fixed = urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/api"))
        hint = f"the URL must end in /api: export PREFECT_API_URL={_without_credentials(fixed)}"
    elif refused:
        hint = "is the Prefect server running? Start one with `agentctl server` (or unset PREFECT_API_URL)"
    else:
        hint = "use the address `agentctl server` prints, e.g. http://127.0.0.1:4200/api"
    return f"PREFECT_API_URL={shown}: {reason}; {hint}"


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    return urlunsplit(parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host))


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
