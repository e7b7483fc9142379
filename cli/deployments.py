"""Deployment commands: schedule, schedules, deploy, serve, trigger, server."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from typing import Annotated

import typer
from rich.text import Text

from cli._context import err_console, out_console, state_of
from cli._listing import Column, Listing, print_listing, time_text
from cli._options import AgentRef, ModeOption, ParamsOption
from cli._render import print_json

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command("schedule")(schedule_agent)
    app.command("schedules")(list_schedules)
    app.command("deploy")(deploy)
    app.command("serve")(serve)
    app.command("trigger")(trigger)
    app.command("server")(server)


def schedule_agent(
    ctx: typer.Context,
    ref: AgentRef,
    cron: Annotated[
        str | None, typer.Option("--cron", help='e.g. "0 9 * * 1-5" (a 6th field: seconds).')
    ] = None,
    timezone: Annotated[str, typer.Option("--timezone", help="IANA time zone, e.g. Europe/Paris.")] = "UTC",
    mode: ModeOption = "automatic",
    param: ParamsOption = None,
    off: Annotated[bool, typer.Option("--off", help="Remove the agent's schedule.")] = False,
) -> None:
    """Run an agent on a cron schedule (saved in the store and put on its Prefect deployment)."""
    from agents_store.errors import ConfigError
    from cli._prefect import require_prefect_api
    from cli.runs import parse_params
    from deployments.operations import apply_schedule
    from deployments.schedules import make_schedule, next_runs
    from flows.plan import Selection, compile_agent

    state = state_of(ctx)
    store = state.store()
    agent = store.get(store.resolve(ref))
    if off == (cron is not None):
        raise ConfigError("give --cron EXPRESSION, or --off")
    schedule = None
    if cron is not None:
        params = parse_params(param)
        schedule = make_schedule(agent.id, cron, timezone=timezone, mode=mode, params=params)
        compile_agent(agent, mode, Selection(), params, force=True)  # unknown params fail before saving
    require_prefect_api()  # before saving: a schedule is saved, then put on its deployment
    _, info = asyncio.run(apply_schedule(store, agent.id, schedule))
    where = f"on {info.full_name}" if info else "saved (no Prefect server: `agentctl serve` runs it)"
    if schedule is None:
        out_console.print(f"{agent.name}: schedule off ({where})", markup=False)
        return
    upcoming = asyncio.run(next_runs(schedule, 1))
    out_console.print(
        f"{agent.name}: {schedule.cron} ({schedule.timezone}, {schedule.mode}) {where}; "
        f"next run {time_text(upcoming[0]) if upcoming else '-'}",
        markup=False,
    )


def list_schedules(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """Every scheduled agent: its cron, whether Prefect fires it now, and its next run time."""
    from cli._prefect import require_prefect_api
    from deployments.operations import schedules_overview

    require_prefect_api()
    rows = asyncio.run(schedules_overview(state_of(ctx).store()))
    if as_json:
        print_json(
            [
                {
                    "agent_id": str(r.agent.id),
                    "agent_name": r.agent.name,
                    "cron": r.schedule.cron,
                    "timezone": r.schedule.timezone,
                    "mode": r.schedule.mode,
                    "params": r.schedule.params,
                    "state": r.state,
                    "next_run": r.next_run.isoformat() if r.next_run else None,
                }
                for r in rows
            ]
        )
        return
    if not rows:
        out_console.print("no agent has a schedule", markup=False)
        return
    table = Listing(
        (
            Column("AGENT", floor=12),
            Column("CRON"),
            Column("TIME ZONE"),
            Column("MODE"),
            Column("STATE"),
            Column("NEXT RUN", kind="time"),
        ),
        [],
    )
    for r in rows:
        table.add(
            Text(r.agent.name), r.schedule.cron, r.schedule.timezone, r.schedule.mode, r.state, r.next_run
        )
    print_listing(table, out_console)
    notes = {
        "paused": "paused: a stopped `agentctl serve` paused it; the next `agentctl serve` resumes it",
        "no runner": (
            "no runner: no `agentctl serve` (or worker of its pool) has asked Prefect for its runs in "
            "the last minute; they wait, Late, until one does"
        ),
        "not deployed": "not deployed: nothing fires it yet; `agentctl serve` (or `agentctl deploy`) does",
        "stored": "stored: no Prefect server (PREFECT_API_URL unset); it fires while `agentctl serve` runs",
    }
    for state in sorted({r.state for r in rows} & set(notes)):
        err_console.print(notes[state], markup=False, style="dim")


def deploy(
    ctx: typer.Context,
    refs: Annotated[list[str] | None, typer.Argument(metavar="[AGENT]...", help="Agents to deploy.")] = None,
    all_agents_: Annotated[bool, typer.Option("--all", help="Deploy every agent.")] = False,
    pool: Annotated[
        str, typer.Option("--pool", help="Work pool (a process pool is created if missing).")
    ] = "agentctl",
) -> None:
    """Register agents' deployments on a work pool, for `prefect worker start --pool NAME`."""
    from agents_store.errors import ConfigError
    from cli._prefect import note_prefect_mode
    from deployments.operations import all_agents, deploy_agents, ensure_work_pool

    state = state_of(ctx)
    store = state.store()
    if all_agents_ == bool(refs):
        raise ConfigError("give agents to deploy, or --all")
    agents = all_agents(store) if all_agents_ else [store.get(store.resolve(ref)) for ref in refs or []]
    note_prefect_mode()
    if asyncio.run(ensure_work_pool(pool)):
        err_console.print(f"created the process work pool {pool!r}", markup=False)
    for info in asyncio.run(deploy_agents(store, agents, work_pool=pool)):
        out_console.print(f"{info.full_name}  {info.deployment_id}", markup=False)
    err_console.print(f"start workers with: prefect worker start --pool {pool}", markup=False)


def serve(
    ctx: typer.Context,
    poll: Annotated[
        float, typer.Option("--poll", help="Seconds between looks at the store for changed agents.")
    ] = 10.0,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many runs at once.")] = None,
) -> None:
    """Serve every agent's deployment from this process: schedules fire, triggers run, changes show up."""
    from cli._prefect import embedded_mode, require_prefect_api
    from deployments.serve import serve_agents

    require_prefect_api()
    state = state_of(ctx)
    if state.database_url:
        os.environ["AGENTCTL_DATABASE_URL"] = state.database_url
    with contextlib.ExitStack() as stack:
        if embedded_mode():
            stack.enter_context(_a_server_of_its_own())
        err_console.print(
            f"serving agents; looking for changes every {poll:g} s (Ctrl+C to stop)", markup=False
        )
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C; a SIGTERM ends serve_agents itself
            asyncio.run(
                serve_agents(
                    state.store(),
                    poll_seconds=poll,
                    limit=limit,
                    on_change=lambda message: err_console.print(message, markup=False),
                )
            )
    err_console.print("stopped", markup=False)


@contextlib.contextmanager
def _a_server_of_its_own() -> Iterator[None]:
    """Without ``PREFECT_API_URL``, serve starts ``prefect server`` on Prefect's local database for as
    long as it runs. Prefect's temporary server of embedded mode runs no scheduler: under it, no
    schedule ever fired. Triggers from other shells in embedded mode reach the same database."""
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    from deployments.server import running_server

    err_console.print(
        "PREFECT_API_URL is not set: starting Prefect's server for this serve (its scheduler fires the "
        "schedules; 10-25 s). Or run `agentctl server` and export PREFECT_API_URL.",
        markup=False,
        style="dim",
    )
    with (
        running_server(get_current_settings().home, ui=True) as server,
        temporary_settings(updates={PREFECT_API_URL: server.api_url}),
    ):
        err_console.print(f"Prefect UI: {server.ui_url}", markup=False)
        yield


def trigger(
    ctx: typer.Context,
    ref: AgentRef,
    param: ParamsOption = None,
    mode: Annotated[str | None, typer.Option("--mode", help="automatic, verification or debugging.")] = None,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Wait until the run ends; exit 0 only if every chunk completed."),
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Run chunks marked Needs Review without approval (automatic mode)."),
    ] = False,
) -> None:
    """Start a run of the agent's deployment (a worker or `agentctl serve` runs it); prints its id and URL."""
    from cli._prefect import flow_run_url, note_prefect_mode
    from cli.runs import exit_if_chunks_were_skipped, parse_params
    from deployments.operations import trigger_agent, wait_for_run

    state = state_of(ctx)
    store = state.store()
    agent = store.get(store.resolve(ref))
    note_prefect_mode()
    flow_run = asyncio.run(
        trigger_agent(store, agent, params=parse_params(param) or None, mode=mode, force=force)
    )
    url = flow_run_url(flow_run.id)
    out_console.print(f"flow run {flow_run.id}" + (f"  {url}" if url else ""), markup=False)
    if wait:
        err_console.print(
            "waiting for it to end: a worker or `agentctl serve` runs it; a verification run waits "
            "for `agentctl approve` (see `agentctl pending`)",
            markup=False,
        )
        final = asyncio.run(wait_for_run(flow_run.id)).state
        outcome = final.name if final else "unknown"
        message = final.message if final else None
        out_console.print(f"{outcome}: {message}" if message else outcome, markup=False)
        if not (final and final.is_completed()):
            raise typer.Exit(1)
        exit_if_chunks_were_skipped(store, flow_run.id)


def server(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port of the API and the UI.")] = 4200,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="PREFECT_SERVER_DATABASE_CONNECTION_URL",
            help="PostgreSQL for the server (default: SQLite under PREFECT_HOME).",
        ),
    ] = None,
) -> None:
    """Start a local Prefect server with its UI (offline), and say how to point agentctl at it."""
    from deployments.server import server_command, server_env

    env = server_env(host=host, port=port, database_url=database_url, ui=True)
    err_console.print(
        f"Prefect UI: http://{host}:{port}\nIn other shells: export PREFECT_API_URL=http://{host}:{port}/api",
        markup=False,
    )
    command = server_command(host, port)
    os.execvpe(command[0], command, env)  # noqa: S606 - replaces this process with the server, by design
