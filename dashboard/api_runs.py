"""``/api/…/runs``: start a run, follow it (status, chunks, log lines), and fetch its evidence files."""

from __future__ import annotations

import asyncio
import mimetypes
import uuid
from typing import Annotated

import httpx
from fastapi import APIRouter, Query, status
from fastapi.responses import FileResponse

from agents_store.errors import AgentNotFound
from dashboard.deps import Ctx, User, find_run, owned_agent
from dashboard.errors import ApiError, error_responses
from dashboard.runs import run_logs, runs_of, settle_dead_runs, settle_if_orphaned, status_of
from dashboard.schemas import LogsOut, RunIn, RunOut, RunStarted, RunStatusOut

__all__ = ["EVIDENCE_SUFFIXES", "router"]

router = APIRouter(prefix="/api", tags=["runs"], responses=error_responses(401, 403, 404))

EVIDENCE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".zip", ".webm"})
"""What the files endpoint serves: screenshots, traces, videos — never a saved session (cookies)."""


@router.post(
    "/agents/{agent_id}/runs",
    response_model=RunStarted,
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(409, 422, 503),
    summary="Run the agent",
)
async def start_run(ctx: Ctx, user: User, agent_id: uuid.UUID, body: RunIn) -> RunStarted:
    """Start a run now: all chunks, ``chunks``, or ``from_chunk`` on, in the chosen mode.

    The request is checked first (chunks, params, templates, secrets, review state): a problem is
    a 422 (or 409 for chunks that need review) and nothing starts, as with a Prefect that does not
    answer (503 ``prefect_unavailable``). The run then goes on in the background; follow it at
    ``GET /api/runs/{flow_run_id}``.
    """
    agent = await asyncio.to_thread(owned_agent, ctx, agent_id, user)
    launched = await ctx.launcher.start(agent, body)
    from flows.prefect_ui import flow_run_url

    return RunStarted(
        flow_run_id=launched.flow_run_id,
        agent_id=agent.id,
        url=f"/runs/{launched.flow_run_id}",
        prefect_url=flow_run_url(launched.flow_run_id),
    )


@router.get("/agents/{agent_id}/runs", response_model=list[RunOut], summary="The agent's runs")
async def agent_runs(
    ctx: Ctx, user: User, agent_id: uuid.UUID, limit: Annotated[int, Query(ge=1, le=200)] = 20
) -> list[RunOut]:
    """The agent's runs, newest first."""
    await asyncio.to_thread(owned_agent, ctx, agent_id, user)
    await settle_dead_runs(ctx)
    records = await asyncio.to_thread(ctx.store.list_runs, agent_id, limit=limit)
    return await asyncio.to_thread(runs_of, ctx, user, records)


@router.get("/runs", response_model=list[RunOut], summary="Recent runs")
async def recent_runs(ctx: Ctx, user: User, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[RunOut]:
    """The user's most recent runs, of all agents, newest first."""
    await settle_dead_runs(ctx)
    records = await asyncio.to_thread(ctx.store.list_runs, None, limit=limit)
    return await asyncio.to_thread(runs_of, ctx, user, records)


@router.get("/runs/{flow_run_id}", response_model=RunStatusOut, summary="A run, live")
async def get_run(ctx: Ctx, user: User, flow_run_id: uuid.UUID) -> RunStatusOut:
    """The run's status (``Starting`` until it has written its record), what it waits for, and
    its agent's chunk rows as this run has them. Poll it (the pages do, every second) to follow a
    run; a run whose process is gone is settled (Crashed) on the way."""
    found = await asyncio.to_thread(find_run, ctx, flow_run_id, user)
    if await settle_if_orphaned(ctx, found.record):  # read again only when it changed
        found = await asyncio.to_thread(find_run, ctx, flow_run_id, user)
    return await asyncio.to_thread(status_of, ctx, found)


@router.get(
    "/runs/{flow_run_id}/logs", response_model=LogsOut, responses=error_responses(503), summary="Log lines"
)
async def get_logs(
    ctx: Ctx, user: User, flow_run_id: uuid.UUID, after: Annotated[int, Query(ge=0)] = 0
) -> LogsOut:
    """The run's log lines (INFO and up; DEBUG too for a debugging run) from Prefect's API;
    ``after`` skips the lines already read."""
    found = await asyncio.to_thread(find_run, ctx, flow_run_id, user)
    verbose = found.record is not None and found.record.mode == "debugging"
    try:
        return await run_logs(flow_run_id, after, verbose=verbose)
    except httpx.HTTPError as e:
        raise ApiError(503, "prefect_unavailable", f"cannot read the run's logs from Prefect: {e}") from e


@router.get(
    "/runs/{flow_run_id}/files/{path:path}",
    response_class=FileResponse,
    responses={200: {"content": {"image/png": {}, "application/zip": {}}}},
    summary="A screenshot or trace of the run",
)
def get_file(ctx: Ctx, user: User, flow_run_id: uuid.UUID, path: str) -> FileResponse:
    """A file the run kept under ``$AGENTCTL_HOME/runs/<flow_run_id>/`` (screenshots, traces).

    Only that folder, only evidence files, only runs of the user's agents: anything else is a 404.
    """
    find_run(ctx, flow_run_id, user)
    folder = (ctx.runs_dir / str(flow_run_id)).resolve()
    target = (folder / path).resolve()
    if (
        not target.is_relative_to(folder)
        or target.suffix.lower() not in EVIDENCE_SUFFIXES
        or not target.is_file()
    ):
        raise AgentNotFound(f"run {flow_run_id} has no file {path!r}")
    media_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    return FileResponse(
        target, media_type=media_type, filename=target.name if target.suffix == ".zip" else None
    )
