"""Run commands: run, runs, logs."""

from __future__ import annotations

import asyncio
import sys
import uuid
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from cli._context import CliState, err_console, out_console, state_of
from cli._listing import Column, Listing, print_listing, time_text
from cli._options import AgentRef, ModeOption, ParamsOption, RunRef
from cli._render import STATUS_STYLE, print_json, run_refs

if TYPE_CHECKING:
    from agents_store.store import AgentStore, RunRecord

__all__ = ["parse_params", "register", "use_store_of"]


def register(app: typer.Typer) -> None:
    app.command("run")(run_agent_command)
    app.command("runs")(list_runs)
    app.command("logs")(show_logs)


def parse_params(pairs: list[str] | None) -> dict[str, str]:
    """``--param k=v`` options as a dict; a pair without ``=`` is a clear error, and so is a name
    given twice (the last value won, silently: a script's default and its override, say)."""
    from agents_store.errors import ConfigError

    params: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--param: {pair!r} is not NAME=VALUE")
        if key.strip() in params:
            raise ConfigError(f"--param: {key.strip()} is given twice; give each param once")
        params[key.strip()] = value
    return params


def run_agent_command(
    ctx: typer.Context,
    ref: AgentRef,
    chunk: Annotated[
        list[int] | None,
        typer.Option("--chunk", "-c", metavar="N", help="Run only chunk N (repeat for several)."),
    ] = None,
    from_chunk: Annotated[
        int | None, typer.Option("--from-chunk", metavar="N", help="Run from chunk N to the end.")
    ] = None,
    param: ParamsOption = None,
    mode: ModeOption = "automatic",
    headed: Annotated[bool, typer.Option("--headed", help="Show the browser window.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Run chunks that need review anyway.")] = False,
    session_from: Annotated[
        str | None,
        typer.Option(
            "--session-from", metavar="RUN", help="With --from-chunk: start with this run's session."
        ),
    ] = None,
) -> None:
    """Run an agent now, with a live view of its chunks. Exit status 0 only if every chunk completed
    (a chunk skipped in verification mode did not)."""
    from agents_store.errors import ConfigError
    from cli.approvals import reconcile_now
    from flows.plan import Selection
    from flows.preflight import prepare_run

    state = state_of(ctx)
    params = parse_params(param)
    if chunk and from_chunk is not None:
        raise ConfigError("--chunk and --from-chunk: give one or the other, not both")
    selection = Selection(chunks=chunk or None, from_chunk=from_chunk)
    prepared = prepare_run(
        state.store(),
        ref,
        mode,
        selection,
        params,
        force,
        runs_dir=state.settings().runs_dir(),
        session_from=session_from,
    )
    agent, plan = prepared.agent, prepared.plan
    if plan.needs_browser:
        from tasks.browser.session import check_display

        check_display(headless=plan.headless and not headed)  # before Prefect starts, not in chunk 1
    if plan.secret_uses:
        from flows.run_agent import resolve_plan_secrets

        # A missing secret is refused here, in one line, not by a flow run that fails as it starts.
        asyncio.run(resolve_plan_secrets(plan))
    use_store_of(state)
    from cli._live import LiveRun, run_with_progress, why_not_completed
    from cli._prefect import flow_run_url, note_prefect_mode

    live_run = LiveRun.for_steps(plan.steps)
    parameters: dict[str, Any] = {
        "agent_id": str(agent.id),
        "mode": mode,
        "chunks": selection.chunks,
        "from_chunk": from_chunk,
        "params": params or None,
        "force": force,
        "headless": False if headed else None,
        "session_from": str(prepared.session.run_id) if prepared.session else None,
    }
    reconcile_now(state)
    note_prefect_mode()
    final = run_with_progress(live_run, parameters, store=state.store())
    run_id = live_run.flow_run_id or final.state_details.flow_run_id
    url = flow_run_url(run_id) if run_id else None
    out_console.print(f"flow run {run_id}" + (f"  {url}" if url else ""), markup=False)
    if not final.is_completed():
        why = why_not_completed(state.store(), run_id, final)
        err_console.print(f"agentctl: run {final.name.lower()}: {why}", markup=False)
        raise typer.Exit(1)
    exit_if_chunks_were_skipped(state.store(), run_id)


def exit_if_chunks_were_skipped(store: AgentStore, run_id: uuid.UUID | None) -> None:
    """Completed in Prefect, but a person skipped chunks: exit 1 (``run`` and ``trigger --wait``
    alike), since a script testing $? must know not every chunk ran."""
    skipped = _skipped_chunks(store, run_id)
    if skipped:
        message = f"agentctl: run completed, but skipped {skipped}: not every chunk ran"
        err_console.print(message, markup=False)
        raise typer.Exit(1)


def _skipped_chunks(store: AgentStore, run_id: uuid.UUID | None) -> str:
    """The chunks a person skipped in this run (its approval notes), as ``chunk 2 "Sign in", …``."""
    from agents_store.errors import AgentNotFound

    if run_id is None:
        return ""
    try:
        notes = store.get_run(run_id).notes
    except AgentNotFound:
        return ""
    skipped = [n for n in notes if n.get("kind") == "approval" and n.get("decision") == "skip"]
    return ", ".join(f"chunk {n.get('chunk') or n.get('order')}" for n in skipped)


def use_store_of(state: CliState) -> None:
    """The flow opens the store from settings: make it the one this command was pointed at."""
    import os

    from agents_store.settings import get_settings

    if state.database_url:
        os.environ["AGENTCTL_DATABASE_URL"] = state.database_url
        get_settings.cache_clear()


RUN_COLUMNS = (
    Column("RUN"),
    Column("AGENT", floor=12),
    Column("VER"),
    Column("MODE"),
    Column("STATUS"),
    Column("STARTED", kind="time"),
    Column("TOOK"),
    Column("ERROR", floor=12),
)


def list_runs(
    ctx: typer.Context,
    ref: Annotated[str | None, typer.Argument(metavar="[AGENT]", help="Only this agent's runs.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """Recent runs (newest first): agent, version, mode, status, when, and why a run failed."""
    from cli.approvals import reconcile_now

    state = state_of(ctx)
    store = state.store()
    agent_id = store.resolve(ref) if ref else None
    reconcile_now(state)
    runs = store.list_runs(agent_id, limit=limit)
    names = {a: store.get(a).name for a in {r.agent_id for r in runs}}
    if as_json:
        print_json([_run_json(r, names[r.agent_id]) for r in runs])
        return
    table = Listing(RUN_COLUMNS, [])
    refs = run_refs(store, [r.flow_run_id for r in runs])
    for r in runs:
        took = f"{(r.finished_at - r.started_at).total_seconds():.1f} s" if r.finished_at else "-"
        table.add(
            refs[r.flow_run_id],
            Text(names[r.agent_id]),
            str(r.agent_version),
            r.mode,
            Text(r.status.value, style=STATUS_STYLE.get(r.status.value, "")),
            r.started_at,
            took,
            # One line per run: `agentctl logs RUN` has the whole error.
            Text(" ".join((r.error or "").split())),
        )
    print_listing(table, out_console)


def _run_json(run: RunRecord, agent_name: str) -> dict[str, Any]:
    data = run.model_dump(mode="json")
    data["agent_name"] = agent_name
    return data


def resolve_run(state: CliState, ref: str) -> uuid.UUID:
    """A flow run id from a full id or a unique prefix of a run this store recorded."""
    return state.store().resolve_run(ref)


def _mode_of(state: CliState, run_id: uuid.UUID) -> str | None:
    """The run's mode as the store recorded it (None for a run it has no record of)."""
    from agents_store.errors import AgentNotFound

    try:
        return state.store().get_run(run_id).mode
    except AgentNotFound:
        return None


def _require_known_run(state: CliState, run_id: uuid.UUID) -> None:
    """A full id names a run when this store recorded it or Prefect has the flow run (one just
    triggered, that no worker has started yet, has no record).

    Raises:
        AgentNotFound: neither has it.
    """
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    from agents_store.errors import AgentNotFound

    try:
        state.store().get_run(run_id)
        return
    except AgentNotFound:
        pass
    try:
        with get_client(sync_client=True) as client:
            client.read_flow_run(run_id)
    except ObjectNotFound as e:
        raise AgentNotFound(f"no run {run_id}: neither this store nor Prefect has it") from e


def show_logs(
    ctx: typer.Context,
    ref: RunRef,
    level: Annotated[
        str | None,
        typer.Option(
            "--level", help="DEBUG, INFO, WARNING or ERROR (default: DEBUG for a debugging run, else INFO)."
        ),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Print new lines as they come, until the run ends.")
    ] = False,
) -> None:
    """A run's log lines, from Prefect's API."""
    import logging

    from agents_store.errors import ConfigError
    from cli._prefect import note_prefect_mode
    from flows.run_logs import RunLogLine, follow_run_logs, read_run_logs

    numeric = logging.getLevelName(level.upper()) if level is not None else logging.INFO
    if not isinstance(numeric, int):
        raise ConfigError(f"--level: {level!r} is not DEBUG, INFO, WARNING or ERROR")
    state = state_of(ctx)
    run_id = resolve_run(state, ref)
    if level is None and _mode_of(state, run_id) == "debugging":
        numeric = logging.DEBUG  # a debugging run's verbose lines (each action, its time) are its point
    note_prefect_mode()
    _require_known_run(state, run_id)

    def write(line: RunLogLine) -> None:
        level_name = logging.getLevelName(line.level)
        chunk = f"[{line.task_run_name}] " if line.task_run_name else ""
        sys.stdout.write(
            f"{time_text(line.timestamp)} {level_name:<7} {chunk}{line.logger}: {line.message}\n"
        )
        sys.stdout.flush()  # each line as it comes, through a pipe too

    async def follow_lines() -> int:
        count = 0
        async for line in follow_run_logs(run_id, min_level=numeric):
            write(line)
            count += 1
        return count

    if follow:
        printed = asyncio.run(follow_lines())
    else:
        lines = asyncio.run(read_run_logs(run_id, min_level=numeric))
        for line in lines:
            write(line)
        printed = len(lines)
    if not printed:
        at_level = f" at {logging.getLevelName(numeric)} or above" if level is not None else ""
        err_console.print(f"no log lines{at_level} for run {run_id} in this Prefect server", markup=False)
