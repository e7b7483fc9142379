"""``/api/approvals`` and decisions: runs paused for a person, and their answers.

A decision goes to Prefect's resume API (``flows.decisions.send_decision``) — the same way
``agentctl approve`` and the Prefect UI answer — so whichever answers first wins.
"""

from __future__ import annotations

import asyncio
import uuid

from fastapi import APIRouter

from agents_store.store import RunStatus
from dashboard.deps import Ctx, User, find_run
from dashboard.errors import ApiError, error_responses
from dashboard.runs import pending_runs, settle_dead_runs, settle_if_orphaned
from dashboard.schemas import DecisionIn, DecisionOut, RunOut
from dashboard.views import DECISIONS

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["approvals"], responses=error_responses(401, 403))


@router.get("/approvals", response_model=list[RunOut], summary="Pending approvals")
async def list_pending(ctx: Ctx, user: User) -> list[RunOut]:
    """The user's runs waiting for a decision: which chunk, since when, and what it will do."""
    await settle_dead_runs(ctx)
    return await asyncio.to_thread(pending_runs, ctx, user)


@router.post(
    "/runs/{flow_run_id}/decision",
    response_model=DecisionOut,
    responses=error_responses(404, 409, 422, 503),
    summary="Answer a paused run",
)
async def decide(ctx: Ctx, user: User, flow_run_id: uuid.UUID, body: DecisionIn) -> DecisionOut:
    """Approve, skip or abort a chunk (verification mode); continue, run_to_end, retry or abort
    after one (debugging mode). 409 when the run is not waiting (any more), or waits at another
    pause than ``pause_key`` (the page's), so a late click never answers the next chunk."""
    from flows.decisions import send_decision

    found = await asyncio.to_thread(find_run, ctx, flow_run_id, user)
    if await settle_if_orphaned(ctx, found.record):  # its process is gone: nobody would run it on
        found = await asyncio.to_thread(find_run, ctx, flow_run_id, user)
    record = found.record
    awaiting = record.awaiting if record is not None and record.status == RunStatus.PAUSED else None
    if record is None or not awaiting:
        state = record.status.value if record else "Starting"
        raise ApiError(409, "not_paused", f"run {flow_run_id} is not waiting for a decision (it is {state})")
    if body.pause_key is not None and body.pause_key != awaiting.get("key"):
        # The page showed an earlier pause: someone answered it, and this answer was meant for it.
        raise ApiError(
            409,
            "answered",
            f"someone answered it first: run {flow_run_id} now waits at {awaiting.get('chunk')} "
            f"({awaiting.get('kind')}); your answer was not sent — look at that chunk before answering",
        )
    allowed = DECISIONS.get(str(awaiting.get("kind")), [])
    if body.decision not in allowed:
        waits_for = "an approval" if awaiting.get("kind") == "approval" else "a step decision"
        raise ApiError(
            422,
            "invalid",
            f"decision: this run waits for {waits_for}: {', '.join(allowed)}",
            field="decision",
        )
    decision = {"decision": body.decision, "note": body.note}
    await send_decision(flow_run_id, decision, pause_key=awaiting.get("key"))
    return DecisionOut(flow_run_id=flow_run_id, decision=body.decision, chunk=str(awaiting.get("chunk", "")))
