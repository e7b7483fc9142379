"""Run state → the store: chunk status and error details as they change, and the run record.

Written from inside the run (the chunk task and the flow loop), never read back from Prefect's API,
whose task states arrive as batched events. Writes go through one queue, in order, drained by a
background coroutine that calls the (synchronous) store in a worker thread: the browser never waits
for the database, and the order of transitions is kept. ``flush`` waits until all have landed; the
flow flushes before it finishes. A write that meets an unreachable database is retried until it
lands (bounded), so a database restart mid-run loses none.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from agents_store.errors import AgentNotFound, StoreUnavailable
from agents_store.models import ChunkStatus
from agents_store.store import UNSET, AgentStore, RunRecord, RunStatus
from flows.progress import ProgressEvent, publish
from tasks.steps import ChunkResult, ChunkStep

__all__ = ["StoreSync"]

logger = logging.getLogger("agentctl.state")

T = TypeVar("T")

WRITE_RETRY_SECONDS = 60.0


class StoreSync:
    """The run's observer (``tasks.runtime.ChunkObserver``) and its run-record keeper."""

    def __init__(self, store: AgentStore, flow_run_id: uuid.UUID) -> None:
        self.store = store
        self.flow_run_id = flow_run_id
        self.record: RunRecord | None = None
        self._queue: asyncio.Queue[tuple[str, Callable[[], object]]] = asyncio.Queue()
        self._drainer: asyncio.Task[None] | None = None
        self.lost: list[str] = []
        self._released: set[int] = set()

    def _enqueue(self, what: str, call: Callable[[], object]) -> None:
        if self._drainer is None or self._drainer.done():
            loop = asyncio.get_running_loop()
            self._drainer = loop.create_task(self._drain(), name="agentctl-store-writes")
        self._queue.put_nowait((what, call))

    async def _drain(self) -> None:
        while True:
            what, call = await self._queue.get()
            try:
                await self._write(what, call)
            except Exception as e:  # noqa: BLE001 - one failed write must not stop the ones behind it
                self.lost.append(f"{what}: {e}")
                logger.error("could not write %s to the store: %s", what, e)
            finally:
                self._queue.task_done()

    async def flush(self) -> None:
        """Wait until every queued write has landed (or was given up after retrying)."""
        await self._queue.join()

    async def close(self) -> None:
        await self.flush()
        if self._drainer is not None:
            self._drainer.cancel()
            self._drainer = None

    async def _write(self, what: str, call: Callable[[], T]) -> T:
        delay = 0.2
        waited = 0.0
        while True:
            try:
                return await asyncio.to_thread(call)
            except StoreUnavailable as e:
                if waited >= WRITE_RETRY_SECONDS:
                    raise
                logger.warning("store unavailable while writing %s (%s); retrying in %.1f s", what, e, delay)
                await asyncio.sleep(delay)
                waited += delay
                delay = min(delay * 2, 5.0)

    def _chunk(
        self,
        step: ChunkStep,
        status: ChunkStatus,
        *,
        error_details: dict[str, Any] | object | None = UNSET,
        attempts: int | None = None,
    ) -> Callable[[], None]:
        def write() -> None:
            try:
                landed = self.store.update_chunk_status(
                    step.chunk_id,
                    status,
                    error_details=error_details,  # type: ignore[arg-type]
                    attempts=attempts,
                    run_id=self.flow_run_id,
                )
            except AgentNotFound:  # an edit removed it, or gave it a new id, during the run
                landed = False
            if not landed and step.order not in self._released:
                self._released.add(step.order)
                logger.info(
                    "%s: a later run or an edit of the agent has taken the chunk's row; this run's "
                    "result for it stays in its own record",
                    step.label,
                )

        return write

    def _publish(
        self, step: ChunkStep, status: ChunkStatus, attempt: int | None, message: str | None = None
    ) -> None:
        publish(
            ProgressEvent(
                self.flow_run_id,
                "chunk",
                order=step.order,
                status=status.value,
                attempt=attempt,
                message=message,
            )
        )

    # ------------------------------------------------------------------ ChunkObserver

    async def attempt_started(self, step: ChunkStep, attempt: int) -> None:
        self._enqueue(step.label, self._chunk(step, ChunkStatus.RUNNING, attempts=attempt))
        self._publish(step, ChunkStatus.RUNNING, attempt)

    async def attempt_failed(
        self, step: ChunkStep, attempt: int, error: dict[str, Any], *, final: bool
    ) -> None:
        status = ChunkStatus.FAILED if final else ChunkStatus.RUNNING
        self._enqueue(step.label, self._chunk(step, status, error_details=error, attempts=attempt))
        self._publish(step, status, attempt, str(error.get("message")))

    async def chunk_completed(self, step: ChunkStep, result: ChunkResult) -> None:
        completed = self._chunk(step, ChunkStatus.COMPLETED, error_details=None, attempts=result.attempts)
        self._enqueue(step.label, completed)
        self._publish(step, ChunkStatus.COMPLETED, result.attempts)

    # ------------------------------------------------------------------ chunks set by the flow

    async def set_status(
        self, step: ChunkStep, status: ChunkStatus, *, error_details: dict[str, Any] | object | None = UNSET
    ) -> None:
        self._enqueue(step.label, self._chunk(step, status, error_details=error_details))
        self._publish(step, status, None)

    async def keep_review_mark(self, step: ChunkStep) -> None:
        """Put back ``Needs Review`` on a chunk that ran without anyone approving it (``--force``).

        The mark says no person has confirmed the learned actions; running them does not confirm
        them, whatever the outcome, so the next automatic run is blocked again. A failure's
        ``error_details`` stay. The live view keeps showing how the chunk ended in this run.
        """
        self._enqueue(step.label, self._chunk(step, ChunkStatus.NEEDS_REVIEW))

    async def reset(self, steps: list[ChunkStep]) -> None:
        """Selected chunks start the run Not Started, so the ones never reached stay that way.

        The run claims them: a run of the same agent that started earlier and is still going (a
        paused verification run, say) no longer writes them.
        """
        ids = [s.chunk_id for s in steps]
        self._enqueue("chunk reset", lambda: self.store.reset_chunks(ids, run_id=self.flow_run_id))

    # ------------------------------------------------------------------ the run record

    def _save_record(self, what: str, record: RunRecord) -> None:
        self.record = record
        self._enqueue(what, lambda: self.store.record_run(record))

    async def run_started(self, record: RunRecord) -> None:
        self._save_record("run record", record)

    async def run_finished(self, status: RunStatus, error: str | None = None, **changes: Any) -> None:
        if self.record is not None:
            update = {"status": status, "finished_at": datetime.now(UTC), "error": error, **changes}
            self._save_record("run record", self.record.model_copy(update=update))
        await self.flush()

    async def add_note(self, note: dict[str, Any]) -> None:
        if self.record is not None:
            self._save_record(
                "run note", self.record.model_copy(update={"notes": [*self.record.notes, note]})
            )

    async def update_run(self, **changes: Any) -> None:
        if self.record is not None:
            self._save_record("run record", self.record.model_copy(update=changes))
