"""``agentctl``: the command line. Commands are thin: they call the store and the flows.

Only ``agents_store`` is imported at start; Prefect and Playwright are imported by the commands that
run agents, so that listing agents stays fast.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

# Offline by default, before anything imports Prefect: no analytics, no telemetry calls.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
# Embedded mode starts a temporary Prefect server per command; Prefect gives it 20 s, which a busy
# machine overruns (seen in the crash tests: the command after a killed run failed with "Timed out
# while attempting to connect to ephemeral Prefect API server"). A slow start beats a failed command.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")

import typer

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
}
"""The options that carry a field a ``ConfigError`` names: a user of the command line typed those."""


def main() -> None:
    """Console entry point: one short line on stderr for our errors, a traceback only with --debug."""
    from agents_store.errors import AgentctlError, ConfigError

    try:
        app()
    except AgentctlError as e:
        if "--debug" in sys.argv:
            raise
        if isinstance(e, ConfigError):
            e = e.renamed(OPTION_OF_FIELD)
        err_console.print(f"agentctl: error: {e}", markup=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("agentctl: interrupted", markup=False)
        sys.exit(130)
