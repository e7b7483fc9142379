"""Approval commands: pending, approve, step. They answer runs paused in verification or debugging mode."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from cli._context import CliState, out_console, state_of
from cli._listing import Column, Listing, print_listing
from cli._options import RunRef
from cli._render import print_json, run_refs

if TYPE_CHECKING:
    from agents_store.store import RunRecord

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command("pending")(list_pending)
    app.command("approve")(approve_run)
    app.command("step")(step_run)


def reconcile_now(state: CliState) -> None:
    """Settle runs whose process died (kill -9) before showing or answering anything."""
    from cli._prefect import note_prefect_mode
    from flows.reconcile import reconcile

    store = state.store()
    from agents_store.store import RunStatus

    if (
        store.list_runs(status=RunStatus.RUNNING, limit=1)
        or store.list_runs(status=RunStatus.PAUSED, limit=1)
        or (store.stuck_chunks())
    ):
        note_prefect_mode()  # asking Prefect starts a temporary server in embedded mode: say so, once
        asyncio.run(reconcile(store))


def _pending(state: CliState) -> list[RunRecord]:
    from agents_store.store import RunStatus

    reconcile_now(state)
    return [r for r in state.store().list_runs(status=RunStatus.PAUSED, limit=1000) if r.awaiting]


def list_pending(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """Runs waiting for a decision: which agent and chunk, since when, and what the chunk will do."""
    state = state_of(ctx)
    runs = _pending(state)
    store = state.store()
    names = {r.agent_id: store.get(r.agent_id).name for r in runs}
    if as_json:
        print_json(
            [
                {
                    "flow_run_id": str(r.flow_run_id),
                    "agent_id": str(r.agent_id),
                    "agent_name": names[r.agent_id],
                    **(r.awaiting or {}),
                }
                for r in runs
            ]
        )
        return
    if not runs:
        out_console.print("no run is waiting for a decision", markup=False)
        return
    from datetime import datetime

    table = Listing(
        (
            Column("RUN"),
            Column("AGENT", floor=12),
            Column("CHUNK", floor=12),
            Column("WAITS FOR"),
            Column("SINCE", kind="time"),
            Column("ACTIONS", floor=20),  # to run (approval) or just run (step decision)
        ),
        [],
    )
    refs = run_refs(store, [r.flow_run_id for r in runs])
    for r in runs:
        awaiting = r.awaiting or {}
        since = datetime.fromisoformat(awaiting["since"]) if awaiting.get("since") else None
        kind = "approval" if awaiting.get("kind") == "approval" else "step decision"
        table.add(
            refs[r.flow_run_id],
            Text(names[r.agent_id]),
            Text(str(awaiting.get("chunk", ""))),
            kind,
            since,
            Text(_one_line(str(awaiting.get("description", "")))),
        )
    print_listing(table, out_console)


def _one_line(description: str) -> str:
    """The chunk's actions on one line ("1. goto url=…; 2. click …"), from the markdown the Prefect
    UI shows: the heading dropped (the CHUNK column says it), the bold marks around each action's
    type taken off — only those: a masked secret (``***``) and a glob (``**/records``) stay whole."""
    import re

    lines = [line for line in description.splitlines() if line and not line.startswith("#")]
    return "; ".join(re.sub(r"^(\d+\. )\*\*(.+?)\*\*", r"\1\2", line) for line in lines)


def _decide(state: CliState, ref: str, kind: str, decision: str, note: str) -> RunRecord:
    from agents_store.errors import ConfigError
    from cli._prefect import note_prefect_mode
    from cli.runs import resolve_run
    from flows.decisions import send_decision

    run_id = resolve_run(state, ref)
    reconcile_now(state)
    record = state.store().get_run(run_id)
    awaiting = record.awaiting or {}
    if not awaiting:
        raise ConfigError(f"run {run_id} is not waiting for a decision (it is {record.status.value})")
    if awaiting.get("kind") != kind:
        other = "agentctl approve" if awaiting.get("kind") == "approval" else "agentctl step"
        waits_for = "an approval" if awaiting.get("kind") == "approval" else "a step decision"
        raise ConfigError(f"run {run_id} waits for {waits_for}: use {other}")
    note_prefect_mode()
    asyncio.run(send_decision(run_id, {"decision": decision, "note": note}, pause_key=awaiting.get("key")))
    return record


def approve_run(
    ctx: typer.Context,
    ref: RunRef,
    skip: Annotated[bool, typer.Option("--skip", help="Skip this chunk and go on.")] = False,
    abort: Annotated[bool, typer.Option("--abort", help="Stop the run here.")] = False,
    note: Annotated[str, typer.Option("--note", help="Why (kept on the run record).")] = "",
) -> None:
    """Answer a run paused before a chunk (verification mode): approve it (default), skip or abort."""
    from agents_store.errors import ConfigError
    from cli._prefect import flow_run_url

    if skip and abort:
        raise ConfigError("give --skip or --abort, not both")
    decision = "skip" if skip else "abort" if abort else "approve"
    record = _decide(state_of(ctx), ref, "approval", decision, note)
    url = flow_run_url(record.flow_run_id)
    chunk = (record.awaiting or {}).get("chunk")
    out_console.print(
        f"{decision}: {chunk} of run {record.flow_run_id}" + (f"  {url}" if url else ""), markup=False
    )


def step_run(
    ctx: typer.Context,
    ref: RunRef,
    to_end: Annotated[bool, typer.Option("--to-end", help="Run the rest without pausing.")] = False,
    retry: Annotated[bool, typer.Option("--retry", help="Run this chunk again.")] = False,
    abort: Annotated[bool, typer.Option("--abort", help="Stop the run here.")] = False,
    note: Annotated[str, typer.Option("--note", help="Why (kept on the run record).")] = "",
) -> None:
    """Answer a run paused after a chunk (debugging mode): continue (default), --to-end, --retry, --abort."""
    from agents_store.errors import ConfigError
    from cli._prefect import flow_run_url

    if sum((to_end, retry, abort)) > 1:
        raise ConfigError("give one of --to-end, --retry, --abort")
    decision = "run_to_end" if to_end else "retry" if retry else "abort" if abort else "continue"
    record = _decide(state_of(ctx), ref, "step", decision, note)
    url = flow_run_url(record.flow_run_id)
    chunk = (record.awaiting or {}).get("chunk")
    said = decision.replace("_", " ")  # "run to end", as --to-end reads
    out_console.print(
        f"{said}: after {chunk} of run {record.flow_run_id}" + (f"  {url}" if url else ""), markup=False
    )
