"""Repairing what a dead run left behind: chunks stuck ``Running`` or ``Awaiting Approval``.

A crash the process survives long enough runs the flow's hooks, which call ``settle_run``. A process
killed with SIGKILL runs nothing, so ``reconcile`` — called by ``agentctl runs``/``run``/``pending``
and the dashboard — finds runs the store still thinks are alive and asks: is the process that runs
it gone (same host, pid no longer alive)? Does Prefect say the run ended? Then the run is settled:
its chunks stop being Running (Failed, with the reason) or Awaiting Approval (Not Started, or Needs
Review if it was: a review mark outlives the run), the run
record gets its final status, and a run Prefect still thinks is running is marked Crashed there too.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from agents_store.errors import AgentNotFound
from agents_store.models import ChunkStatus
from agents_store.store import AgentStore, ChunkResultRecord, RunRecord, RunStatus, StuckChunk

if TYPE_CHECKING:
    from prefect.client.schemas.objects import State

__all__ = ["Settled", "process_gone", "reconcile", "settle_run"]

logger = logging.getLogger("agentctl.reconcile")

_ALIVE = (RunStatus.RUNNING, RunStatus.PAUSED)


@dataclass(frozen=True)
class Settled:
    flow_run_id: uuid.UUID
    status: RunStatus
    reason: str
    chunks: int


def settle_run(store: AgentStore, flow_run_id: uuid.UUID, status: RunStatus, reason: str) -> Settled:
    """Give a run that ended its final status, and free the chunks it left busy."""
    fixed = 0
    now = datetime.now(UTC)
    try:
        record = store.get_run(flow_run_id)
    except AgentNotFound:
        record = None
    unreviewed = _unreviewed_chunks(record)
    for chunk in store.stuck_chunks(flow_run_id):
        ended = _how_it_ended(chunk, record, status)
        if ended is not None:
            # Only the chunk's own write was lost (the store was unreachable longer than the run
            # retried): it was settled "Failed: the run ended completed".
            store.update_chunk_status(
                chunk.chunk_id,
                ChunkStatus.NEEDS_REVIEW if str(chunk.chunk_id) in unreviewed else ended.status,
                attempts=ended.attempts or None,
            )
        elif chunk.status == ChunkStatus.RUNNING and status != RunStatus.CANCELLED:
            store.update_chunk_status(
                chunk.chunk_id,
                ChunkStatus.NEEDS_REVIEW if str(chunk.chunk_id) in unreviewed else ChunkStatus.FAILED,
                error_details={
                    "type": status.value,
                    "message": reason,
                    "action_index": None,
                    "flow_run_id": str(flow_run_id),
                    "at": now.isoformat(),
                },
            )
        elif str(chunk.chunk_id) in unreviewed:
            store.update_chunk_status(chunk.chunk_id, ChunkStatus.NEEDS_REVIEW)
        else:
            store.update_chunk_status(chunk.chunk_id, ChunkStatus.NOT_STARTED)
        fixed += 1
    if record is not None and record.status in _ALIVE:
        store.record_run(
            record.model_copy(
                update={"status": status, "finished_at": now, "error": reason, "awaiting": None}
            )
        )
    return Settled(flow_run_id, status, reason, fixed)


def _how_it_ended(chunk: StuckChunk, record: RunRecord | None, status: RunStatus) -> ChunkResultRecord | None:
    """How the chunk ended in this run, as the run's record says (Completed, Skipped); a run that
    completed ran every chunk it started to completion. None when that is not known."""
    for result in (record.results if record else None) or []:
        if result.chunk_id == chunk.chunk_id and result.status in (
            ChunkStatus.COMPLETED,
            ChunkStatus.SKIPPED,
        ):
            return result
    if status == RunStatus.COMPLETED and chunk.status == ChunkStatus.RUNNING:
        return ChunkResultRecord(order=chunk.order, chunk_id=chunk.chunk_id, status=ChunkStatus.COMPLETED)
    return None


def _unreviewed_chunks(record: RunRecord | None) -> set[str]:
    """The ids of the chunks this run had while they needed review: they go back to Needs Review.

    A run that dies must not clear the mark no person has taken off: the chunk it awaited approval
    for (``awaiting``), and the chunks a forced run started without review (its ``unreviewed``
    notes, written before each of them started).
    """
    if record is None:
        return set()
    ids = {str(n["chunk_id"]) for n in record.notes if n.get("kind") == "unreviewed" and n.get("chunk_id")}
    awaiting = record.awaiting or {}
    if awaiting.get("needs_review") and awaiting.get("chunk_id"):
        ids.add(str(awaiting["chunk_id"]))
    return ids


def process_gone(record: RunRecord) -> bool:
    """The run executes on this host, in a process that no longer exists (no Prefect call)."""
    if record.host != socket.gethostname() or record.pid is None:
        return False
    if record.pid == os.getpid():
        return False
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(record.pid)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


async def reconcile(store: AgentStore) -> list[Settled]:
    """Settle every run the store thinks is alive but whose process or Prefect run has ended.

    Cheap when nothing is stuck: Prefect is only asked about runs the store has as running.
    """
    # The store is synchronous: off the event loop, which may be a dashboard's serving requests.
    candidates = await asyncio.to_thread(_candidates, store)
    settled: list[Settled] = []
    for run_id, record in candidates.items():
        verdict = await _verdict(run_id, record)
        if verdict is not None:
            status, reason, crash_in_prefect = verdict
            if crash_in_prefect:
                await _mark_crashed_in_prefect(run_id, reason)
            settled.append(await asyncio.to_thread(settle_run, store, run_id, status, reason))
            logger.info("settled run %s: %s", run_id, reason)
    return settled


def _candidates(store: AgentStore) -> dict[uuid.UUID, RunRecord | None]:
    """Runs the store has as alive, and the runs of chunks left Running or Awaiting Approval."""
    candidates: dict[uuid.UUID, RunRecord | None] = {}
    for status in _ALIVE:
        for alive in store.list_runs(status=status, limit=1000):
            candidates[alive.flow_run_id] = alive
    for chunk in store.stuck_chunks():
        if chunk.last_run_id is not None and chunk.last_run_id not in candidates:
            try:
                candidates[chunk.last_run_id] = store.get_run(chunk.last_run_id)
            except AgentNotFound:
                candidates[chunk.last_run_id] = None
    return candidates


async def _verdict(run_id: uuid.UUID, record: RunRecord | None) -> tuple[RunStatus, str, bool] | None:
    if record is not None and record.status not in _ALIVE:
        return record.status, record.error or f"the run ended {record.status.value.lower()}", False
    if record is not None and process_gone(record):
        return RunStatus.CRASHED, f"the process running it (pid {record.pid} on {record.host}) is gone", True
    state = await _prefect_state(run_id)
    if state is None:
        return RunStatus.CRASHED, "Prefect has no such flow run", False
    if state.is_final():
        status = {
            "COMPLETED": RunStatus.COMPLETED,
            "CANCELLED": RunStatus.CANCELLED,
            "CRASHED": RunStatus.CRASHED,
        }.get(state.type.value, RunStatus.FAILED)
        name = (state.name or state.type.value).lower()
        return status, f"Prefect reports the run {name}: {state.message or ''}".strip(": "), False
    return None


async def _prefect_state(run_id: uuid.UUID) -> State | None:
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    async with get_client() as client:
        try:
            return (await client.read_flow_run(run_id)).state
        except ObjectNotFound:
            return None


async def _mark_crashed_in_prefect(run_id: uuid.UUID, reason: str) -> None:
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.states import Crashed

    async with get_client() as client:
        try:
            run = await client.read_flow_run(run_id)
        except ObjectNotFound:
            return
        if run.state is None or not run.state.is_final():
            await client.set_flow_run_state(run_id, Crashed(message=reason), force=True)
