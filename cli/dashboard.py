"""``agentctl dashboard``: serve the Agent Dashboard (pages and JSON API) with uvicorn."""

from __future__ import annotations

import os
import signal
from typing import Annotated

import typer

from cli._context import err_console, state_of

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command("dashboard")(serve_dashboard)


def serve_dashboard(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (loopback needs no sign-in).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on.")] = 8765,
) -> None:
    """Serve the Agent Dashboard: find, inspect, edit, run, approve and export agents in a browser.

    On 127.0.0.1 with nothing configured, the local user is signed in. On any other address it needs
    AGENTCTL_DASHBOARD_TOKEN (or AGENTCTL_SUPABASE_JWT_SECRET), and every page and API call then
    requires it. Runs started from it run in this process (set PREFECT_API_URL to keep their
    history in a Prefect server).
    """
    # The dashboard logs outside flow runs on loggers its runs give Prefect's API handler.
    os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
    import uvicorn

    from cli.runs import use_store_of
    from dashboard.app import create_app
    from dashboard.config import AccessSettings

    state = state_of(ctx)
    use_store_of(state)
    access = AccessSettings()
    app = create_app(state.store(), settings=state.settings(), access=access, host=host)
    shown = f"[{host}]" if ":" in host else host
    sign_in = "local user, no sign-in" if access.open else "sign-in: " + " or ".join(access.modes)
    err_console.print(f"agentctl dashboard on http://{shown}:{port}  ({sign_in})", markup=False)
    from prefect.exceptions import TerminationSignal

    _exit_cleanly_on_sigterm()
    try:
        # httptools: h11, uvicorn's pure-Python parser, was a sixth of the server's CPU per API
        # request. The event loop stays asyncio's: runs launched here (Prefect, Playwright) share it.
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, http="httptools")
    except TerminationSignal:
        # SIGTERM while a run of this process was live: Prefect's handler, installed for the run,
        # took the signal and crashed the run (recorded as such); the process ends as asked.
        err_console.print("stopped by SIGTERM: the runs in progress were marked Crashed", markup=False)
        raise SystemExit(0) from None


def _exit_cleanly_on_sigterm() -> None:
    """Make SIGTERM (systemd, Docker, a supervisor) end the process as Ctrl+C does.

    uvicorn shuts down on SIGTERM, then raises the signal again with the handler it found: Python's
    default, which ends the process at once, skipping the exit handlers — among them the one that
    stops the temporary Prefect server of embedded mode, which was left running, orphaned. Found
    with this handler instead, the signal ends the process through ``SystemExit``.
    """

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
