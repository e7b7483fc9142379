"""Reading runs for the pages and the API: one run as it is now, its log lines, pending decisions.

``settle_dead_runs`` is called before showing runs, so a run whose process was killed (SIGKILL) is
shown as crashed rather than as running forever; it costs three small queries when nothing is stuck.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from agents_store.errors import AgentNotFound
from agents_store.store import RunRecord, RunStatus
from dashboard.auth import Principal
from dashboard.deps import Dashboard, FoundRun, find_run
from dashboard.schemas import LogLineOut, LogsOut, RunOut, RunStatusOut
from dashboard.views import run_chunk_outs, run_out

__all__ = [
    "pending_runs",
    "run_logs",
    "run_status",
    "run_view",
    "runs_of",
    "settle_dead_runs",
    "settle_if_orphaned",
    "status_of",
]


async def settle_dead_runs(ctx: Dashboard) -> None:
    """Settle runs whose process is gone, once for all the requests asking at the same time.

    Coalesced: under load (50 clients polling run lists while 4 runs went), every request ran its
    own reconcile — a Prefect API call per live run — and the lists' p95 reached 15 s.
    """
    from dashboard.coalesce import Coalesced
    from flows.reconcile import reconcile

    if ctx.settling is None:
        store = ctx.store

        async def settle() -> object:
            return await reconcile(store)

        ctx.settling = Coalesced(settle)
    await ctx.settling()


async def settle_if_orphaned(ctx: Dashboard, record: RunRecord | None) -> bool:
    """Settle the run now if the store has it alive but the process running it is gone.

    A dashboard killed (SIGKILL) and restarted: an open run page kept polling a run that said
    Paused, and an answer to it was sent to Prefect — which set the run Running with nothing to
    run it. A local check, no Prefect call: cheap enough for every poll.
    """
    from flows.reconcile import process_gone

    alive = record is not None and record.status in (RunStatus.RUNNING, RunStatus.PAUSED)
    if alive and record is not None and await asyncio.to_thread(process_gone, record):
        await settle_dead_runs(ctx)
        return True
    return False


def _prefect_url(flow_run_id: uuid.UUID) -> str | None:
    from flows.prefect_ui import flow_run_url

    return flow_run_url(flow_run_id)


def run_view(found: FoundRun) -> RunOut:
    """The run as the store has it — or, before the run wrote its record, as the launcher knows it."""
    if found.record is not None:
        return run_out(found.record, found.agent.name, _prefect_url(found.record.flow_run_id))
    launched = found.launched
    if launched is None:  # find_run finds a record or a launch
        raise AgentNotFound("no such run")
    failed = launched.error is not None and not launched.running
    return RunOut(
        flow_run_id=launched.flow_run_id,
        agent_id=launched.agent_id,
        agent_name=found.agent.name,
        agent_version=found.agent.version,
        mode=launched.mode,
        status=RunStatus.FAILED if failed else "Starting",
        started_at=launched.started_at,
        finished_at=None,
        error=launched.error,
        params={},
        chunks=None,
        notes=[],
        awaiting=None,
        finished=failed,
        prefect_url=_prefect_url(launched.flow_run_id),
    )


def run_status(ctx: Dashboard, flow_run_id: uuid.UUID, user: Principal) -> RunStatusOut:
    """The run and its agent's chunk rows as this run has them (what a live page polls)."""
    return status_of(ctx, find_run(ctx, flow_run_id, user))


def status_of(ctx: Dashboard, found: FoundRun) -> RunStatusOut:
    """``run_status`` of a run already found (a poll reads the store once)."""
    return RunStatusOut(run=run_view(found), chunks=run_chunk_outs(found.record, found.agent, ctx.runs_dir))


def runs_of(ctx: Dashboard, user: Principal, records: list[RunRecord]) -> list[RunOut]:
    """The records that belong to the user's agents, as RunOut (one store read per agent)."""
    names: dict[uuid.UUID, str | None] = {}
    out: list[RunOut] = []
    for record in records:
        if record.agent_id not in names:
            try:
                names[record.agent_id] = ctx.store.get(record.agent_id, user_id=user.user_id).name
            except AgentNotFound:  # another user's agent: not shown
                names[record.agent_id] = None
        name = names[record.agent_id]
        if name is not None:
            out.append(run_out(record, name, _prefect_url(record.flow_run_id)))
    return out


def pending_runs(ctx: Dashboard, user: Principal) -> list[RunOut]:
    """The user's runs waiting for a decision, oldest first."""
    paused = [r for r in ctx.store.list_runs(status=RunStatus.PAUSED, limit=1000) if r.awaiting]
    return [r for r in runs_of(ctx, user, paused[::-1]) if r.awaiting is not None]


async def run_logs(flow_run_id: uuid.UUID, after: int = 0, *, verbose: bool = False) -> LogsOut:
    """The run's log lines from Prefect's API, from line ``after`` on; with ``verbose`` (a
    debugging run) its DEBUG lines too."""
    from flows.run_logs import read_run_logs

    lines = await read_run_logs(flow_run_id, min_level=logging.DEBUG if verbose else logging.INFO)
    return LogsOut(
        lines=[
            LogLineOut(
                timestamp=line.timestamp,
                level=logging.getLevelName(line.level),
                logger=line.logger,
                message=line.message,
                task=line.task_run_name,
            )
            for line in lines[after:]
        ],
        next=len(lines),
    )
