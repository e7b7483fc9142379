"""``agentctl``: the command line. Commands are thin: they call the store and the flows.

Only ``agents_store`` is imported at start; Prefect and Playwright are imported by the commands that
run agents, so that listing agents stays fast.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Annotated

# Offline by default, before anything imports Prefect: no analytics, no telemetry calls.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
# Embedded mode starts a temporary Prefect server per command; Prefect gives it 20 s, which a busy
# machine overruns (seen in the crash tests: the command after a killed run failed with "Timed out
# while attempting to connect to ephemeral Prefect API server"). A slow start beats a failed command.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")

import typer

from agents_store.errors import AgentctlError, ConfigError, error_chain
from cli import agents, approvals, dashboard, deployments, github, runs, versions
from cli._context import CliState, err_console
from cli.demo import command as demo_command

__all__ = ["app", "main"]

app = typer.Typer(
    name="agentctl",
    help="Save, manage and run agents learned from screen recordings.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _root(
    ctx: typer.Context,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="AGENTCTL_DATABASE_URL",
            help="Store URL: sqlite:///path.db (default: under $AGENTCTL_HOME) or postgresql://…",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    from deployments.server_settings import tune_servers_started_here

    # The temporary server of embedded mode (a run, or the dashboard's, without PREFECT_API_URL)
    # starts with this process's environment: tuned as `agentctl server` is.
    tune_servers_started_here()
    ctx.obj = CliState(database_url=database_url, debug=debug)
    ctx.call_on_close(ctx.obj.close)


agents.register(app)
versions.register(app)
runs.register(app)
approvals.register(app)
deployments.register(app)
demo_command.register(app)
github.register(app)
dashboard.register(app)


OPTION_OF_FIELD = {
    "cron": "--cron",
    "timezone": "--timezone",
    "mode": "--mode",
    "params": "--param",
    "chunks": "--chunk",
    "from_chunk": "--from-chunk",
    "database_url": "--database-url (or AGENTCTL_DATABASE_URL)",
}
"""The options that carry a field a ``ConfigError`` names: a user of the command line typed those."""


def main() -> None:
    """Console entry point: one short line on stderr for our errors, a traceback only with --debug.

    Besides ours, two kinds of errors a user causes are told in one line: the OS's about a path
    (an ``-o`` into a missing folder, an ``AGENTCTL_HOME`` that is a file), and Prefect's client's
    when ``PREFECT_API_URL`` names no Prefect API. Anything else is a bug: its traceback shows.
    """
    signal.signal(signal.SIGTERM, _terminated)
    # The terminal closed: end as for SIGTERM, so that exit stops Prefect's temporary server (in
    # a process group of its own, the hangup does not reach it).
    signal.signal(signal.SIGHUP, _terminated)
    try:
        app()
    except Terminated as e:
        err_console.print(f"agentctl: stopped by {_signal_name(e.code)}{_run_note()}", markup=False)
        sys.exit(e.code)
    except KeyboardInterrupt:
        err_console.print("agentctl: interrupted", markup=False)
        sys.exit(130)
    except SystemExit as e:
        # typer turns Ctrl+C into a silent exit 130; say why the command ended
        if e.code == 130 and any(isinstance(c, KeyboardInterrupt) for c in error_chain(e)):
            err_console.print("agentctl: interrupted", markup=False)
        raise
    except Exception as e:
        if "--debug" in sys.argv:
            raise
        error = _as_our_error(e)
        if error is None:
            raise
        err_console.print(f"agentctl: error: {error}", markup=False)
        sys.exit(1)
    except BaseException as e:
        if not _is_sigterm(e) or "--debug" in sys.argv:
            raise
        # SIGTERM (timeout(1), systemd, a CI job cancelled) during a run: Prefect's handler raised
        # it through the run, which recorded itself Crashed; it printed ~20 frames of traceback.
        err_console.print(f"agentctl: stopped by SIGTERM{_run_note()}", markup=False)
        sys.exit(128 + signal.SIGTERM)


class Terminated(SystemExit):
    """SIGTERM outside a flow run's own handler. Prefect's handler, armed for a run, re-sends the
    signal to the handler it found once the run has recorded its crash: with Python's default the
    process died there, silently (no line, no table), 4 times in 10 under ``timeout``. A
    ``SystemExit`` is re-raised by asyncio from any callback, so it always reaches ``main``."""


def _terminated(signum: int, _frame: object) -> None:
    raise Terminated(128 + signum)


def _signal_name(code: object) -> str:
    return signal.Signals(int(code) - 128).name if isinstance(code, int) and code > 128 else "a signal"


def _run_note() -> str:
    """Said only when a run was going: `logs --follow` stopped so told of a run ending Crashed."""
    live = sys.modules.get("cli._live")
    return " (the run in progress ends Crashed)" if live is not None and live.a_run_started() else ""


def _is_sigterm(error: BaseException) -> bool:
    """Prefect's ``TerminationSignal`` for SIGTERM (imported only when one was raised)."""
    if "prefect.exceptions" not in sys.modules:
        return False
    from prefect.exceptions import TerminationSignal

    return isinstance(error, TerminationSignal) and error.signal == signal.SIGTERM


def _as_our_error(error: Exception) -> AgentctlError | None:
    """The error to show in one line for ``error``; None when it is none a user can act on."""
    if isinstance(error, ConfigError):
        return error.renamed(OPTION_OF_FIELD)
    if isinstance(error, AgentctlError):
        return error
    if isinstance(error, OSError) and error.filename is not None:
        return _path_error(error)
    from cli._prefect import prefect_unavailable_behind

    return prefect_unavailable_behind(error)


def _path_error(error: OSError) -> AgentctlError:
    """``error`` as ``ORIGIN: PATH: the OS's reason``, ORIGIN being the option or environment
    variable the path came from (a ``ConfigError`` then), when one names it or a folder around it."""
    path = Path(os.fsdecode(error.filename))
    reason = error.strerror or str(error)
    if isinstance(error, FileExistsError) and path.exists() and not path.is_dir():
        reason += ", and it is not a folder"
    elif isinstance(error, FileNotFoundError) and not path.parent.exists():
        reason += f" (no folder {path.parent})"
    message = f"{path}: {reason}"
    origin = _origin_of(path)
    return ConfigError(message, field=origin) if origin else AgentctlError(message)


def _origin_of(path: Path) -> str | None:
    """The option on the command line, else the environment variable, whose value is ``path``, a
    folder it is in, or a path in it (``mkdir`` of ``AGENTCTL_HOME=/a/b`` fails on ``/a``)."""

    def related(value: str) -> bool:
        value = value.removeprefix("sqlite:///")  # a store URL names its file
        if not value:
            return False
        given = Path(value).expanduser().absolute()
        here = path.absolute()
        return here == given or given in here.parents or (here in given.parents and here != Path(here.anchor))

    args = sys.argv[1:]
    for i, arg in enumerate(args):
        if not arg.startswith("-"):
            continue
        name, equals, value = arg.partition("=")
        if equals and related(value):
            return name
        if not equals and i + 1 < len(args) and related(args[i + 1]):
            return arg
    for name, value in sorted(os.environ.items()):
        if (name.startswith("AGENTCTL_") or name == "PREFECT_HOME") and related(value):
            return name
    return None
