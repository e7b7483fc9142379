"""The run loop: chunks in order, with the pauses of verification and debugging mode.

Pauses happen here, in the flow body — never inside a chunk task, whose retries would leave a timed
out pause stuck in Paused. While paused, the chunk shows ``Awaiting Approval`` and the run record
says what it awaits, so ``agentctl pending``, the dashboard and the Prefect UI can all answer it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect.utilities.annotations import quote

from agents_store.errors import AgentctlError, ExecutionError
from agents_store.models import ChunkStatus
from agents_store.settings import Settings
from agents_store.store import ChunkResultRecord, RunStatus
from flows._prefect import run_client
from flows.cancellation import CancelWatch
from flows.decisions import ChunkDecision, StepDecision, describe_chunk
from flows.errors import ChunkFailed, PauseTimedOut, RunAborted, RunCancelled
from flows.evidence import ChunkOutcome
from flows.plan import RunPlan
from flows.progress import ProgressEvent, publish
from flows.session import save_session
from flows.state_sync import StoreSync
from tasks.browser.actions import screenshot_page
from tasks.browser.tracing import start_trace_chunk, stop_trace_chunk
from tasks.run_chunk import run_chunk
from tasks.runtime import RunRuntime
from tasks.steps import ChunkResult, ChunkStep

__all__ = ["RunExecutor"]

logger = logging.getLogger("agentctl.flow")

_TASKS: dict[tuple[int, float], Any] = {}


def _chunk_task(step: ChunkStep) -> Any:
    """``run_chunk`` with the chunk's retries (one Task object per retry setting, reused)."""
    key = (step.retries, step.retry_delay_seconds)
    if key not in _TASKS:
        _TASKS[key] = run_chunk.with_options(
            retries=step.retries, retry_delay_seconds=step.retry_delay_seconds
        )
    return _TASKS[key]


async def _fail_in_prefect(flow_run_id: uuid.UUID, message: str) -> None:
    """Prefect fails an expired pause with its own words; put ours, which say which chunk, instead."""
    from prefect.states import Failed

    async with run_client() as client:
        await client.set_flow_run_state(flow_run_id, Failed(message=message), force=True)


def _not_run(step: ChunkStep) -> ChunkStatus:
    """The status of a chunk the run did not get to: a review mark outlives the run."""
    return ChunkStatus.NEEDS_REVIEW if step.needs_review else ChunkStatus.NOT_STARTED


def _failure_screenshot(runtime: RunRuntime, step: ChunkStep) -> str | None:
    """The screenshot the chunk's last failed attempt took (its ``error_details.screenshot``)."""
    attempts = runtime.failed_attempts.get(step.order)
    shot = attempts[-1].error.get("screenshot") if attempts else None
    return str(shot) if shot else None


@dataclass
class RunExecutor:
    plan: RunPlan
    runtime: RunRuntime
    sync: StoreSync
    settings: Settings
    outcomes: list[ChunkOutcome] = field(default_factory=list)
    failure: AgentctlError | None = None
    aborted: bool = False
    cancelled: bool = False
    cancel_watch: CancelWatch | None = None
    _step_pauses: dict[int, int] = field(default_factory=dict)
    _approved: set[int] = field(default_factory=set)
    _pausing_steps: bool = False
    _saving: asyncio.Task[Path | None] | None = None

    @property
    def mode(self) -> str:
        return self.plan.mode

    async def run(self) -> tuple[list[ChunkOutcome], AgentctlError | None]:
        self.outcomes = [ChunkOutcome(step=s, status="Not Started") for s in self.plan.steps]
        await self.sync.reset(self.plan.steps)
        self._pausing_steps = self.mode == "debugging"
        index = 0
        while index < len(self.outcomes):
            if self.cancel_watch is not None and self.cancel_watch.requested.is_set():
                self._cancel(f"cancelled in Prefect before {self.outcomes[index].step.label}")
                break
            try:
                stop = await self._one(index)
            except PauseTimedOut as e:
                self.failure = e
                break
            except RunCancelled as e:
                self._cancel(str(e))
                break
            if stop is None:
                continue
            if stop:
                break
            index += 1
        if self.failure is None and any(o.status == "Failed" for o in self.outcomes):
            failed = next(o for o in self.outcomes if o.status == "Failed")
            self.failure = ChunkFailed(f"{failed.step.label} failed: {failed.error}", order=failed.step.order)
        return self.outcomes, self.failure

    async def _one(self, index: int) -> bool | None:
        """Run chunk ``index`` with its pauses: True to stop, False to go on, None to run it again."""
        outcome = self.outcomes[index]
        step = outcome.step
        # Debugging mode pauses after each chunk; one that needs review is approved before, as in
        # verification mode: it ran before anyone had looked at it (unless the run is forced).
        approve_first = self.mode == "verification" or (
            self.mode == "debugging" and step.needs_review and not self.plan.force
        )
        if approve_first and (self.mode == "verification" or step.order not in self._approved):
            decision = await self._approval(step)
            self._approved.add(step.order)  # a debugging retry of it is not asked about again
            if decision == "skip":
                outcome.status = "Skipped"
                return False
            if decision == "abort":
                await self.sync.set_status(step, _not_run(step))
                self._abort(step)
                return True
        unreviewed = step.needs_review and not approve_first  # run by --force
        if unreviewed:  # before it starts: if the run dies in it, the mark is put back (reconcile)
            await self.sync.add_note(
                {
                    "kind": "unreviewed",
                    "order": step.order,
                    "chunk_id": str(step.chunk_id),
                    "chunk": step.title,
                    "at": datetime.now(UTC).isoformat(),
                }
            )
        ok = await self._run_chunk(outcome)
        if unreviewed:
            await self.sync.keep_review_mark(step)
        if self._pausing_steps:
            choice = await self._step(step, outcome)
            if choice == "abort":
                self._abort(step)
                return True
            if choice == "retry":
                self.failure = None
                return None
            if choice == "run_to_end":
                self._pausing_steps = False
            elif not ok:
                self.failure = None  # stepping on past a failed chunk is the person's call
        return not ok and self.failure is not None

    # ------------------------------------------------------------------ one chunk

    async def _run_chunk(self, outcome: ChunkOutcome) -> bool:
        step = outcome.step
        runtime = self.runtime
        outcome.error = outcome.screenshot = None  # of an earlier try of this chunk (debugging's retry)
        tracing = self.mode == "debugging" and step.needs_browser
        if tracing:
            await start_trace_chunk(runtime.browser, step.title)
        try:
            # Both arguments are quoted: Prefect would otherwise walk them for upstream results on
            # every call, and they hold none.
            result: ChunkResult = await _chunk_task(step)(quote(step), quote(runtime))
        except ExecutionError as error:  # the task recorded the failure in the store already
            outcome.status = "Failed"
            outcome.attempts = runtime.attempts.get(step.order, 0)
            outcome.error = runtime.masker.mask(str(error))
            outcome.screenshot = _failure_screenshot(runtime, step)
            self.failure = ChunkFailed(f"{step.label} failed: {outcome.error}", order=step.order)
            return False
        else:
            outcome.status = "Completed"
            outcome.attempts = result.attempts
            outcome.duration_seconds = result.duration_seconds
            outcome.fallbacks = result.fallbacks or None
            return True
        finally:
            if tracing:
                path = (
                    runtime.artifacts_dir
                    / f"chunk-{step.order:02d}-trace-{runtime.attempts.get(step.order, 0)}.zip"
                )
                outcome.trace = str(await stop_trace_chunk(runtime.browser, path, runtime.masker))
            if self.mode == "debugging" and runtime.browser.started:
                page = await runtime.browser.page()
                attempt = runtime.attempts.get(step.order, 0)
                shot = runtime.artifacts_dir / f"chunk-{step.order:02d}-end-attempt-{attempt}.png"
                end_shot = str(
                    await screenshot_page(page, shot, runtime.sensitive_locators, runtime.masker.values)
                )
                outcome.screenshot = outcome.screenshot or end_shot  # a failure's own shot says more
            if outcome.status == "Completed":  # a failed chunk's session is no place to resume from
                await self._save_session_soon(step)

    async def _save_session_soon(self, step: ChunkStep) -> None:
        """Save the session after this chunk while the next one starts (one save in flight at a time)."""
        if self._saving is not None:
            await self._saving
        runtime = self.runtime
        self._saving = asyncio.get_running_loop().create_task(
            save_session(
                runtime.browser,
                self.settings.runs_dir(),
                runtime.flow_run_id,
                step.order,
                dict(runtime.templates.vars),
                runtime.masker,
                url=runtime.browser.url,  # now, before the next chunk navigates away
            )
        )
        # Let the save send its request to the browser now, while Prefect starts the next chunk's
        # task run, rather than together with that chunk's first action.
        await asyncio.sleep(0)

    async def flush_sessions(self) -> None:
        if self._saving is not None:
            saving, self._saving = self._saving, None
            await saving

    async def close_browser(self) -> None:
        """Close the run's browser once the last session save has read from it.

        Called by the flow beside the run's record and report, so the last chunk's save no longer
        adds its wait (6-8 ms) before them.
        """
        try:
            await self.flush_sessions()
        finally:
            await self.runtime.browser.close()

    def results(self) -> list[ChunkResultRecord]:
        """Each selected chunk as this run has it so far (the run record keeps them)."""
        return [
            ChunkResultRecord(
                order=o.step.order,
                chunk_id=o.step.chunk_id,
                name=o.step.name,
                status=ChunkStatus(o.status),
                attempts=o.attempts,
                duration_seconds=o.duration_seconds,
                error=o.error,
                screenshot=o.screenshot,
            )
            for o in self.outcomes
        ]

    def cancelled_at_end(self) -> RunCancelled:
        """The run was cancelled in Prefect while its last chunk ran (or failed, and was not tried
        again): it ends Cancelled, saying how that chunk ended."""
        what = str(self.failure) if self.failure else "its last chunk had run (it completed)"
        return self._cancel(f"cancelled in Prefect; {what}")

    def _cancel(self, reason: str) -> RunCancelled:
        self.cancelled = True
        self.failure = RunCancelled(reason)
        return self.failure

    def _abort(self, step: ChunkStep) -> None:
        self.aborted = True
        self.failure = RunAborted(f"aborted by a person at {step.label}")

    # ------------------------------------------------------------------ pauses

    async def _approval(self, step: ChunkStep) -> str:
        """Pause before the chunk until someone approves, skips or aborts it."""
        description = describe_chunk(step, self.runtime.templates, self.runtime.masker, heading="Approve")
        key = f"approve-{step.chunk_id}"
        await self.sync.set_status(step, ChunkStatus.AWAITING_APPROVAL)
        answer = await self._pause(step, "approval", key, ChunkDecision, description, decision="approve")
        was_review = step.needs_review
        if answer.decision == "skip":
            # A chunk nobody reviewed keeps needing review; any other skipped chunk shows Skipped.
            await self.sync.set_status(step, ChunkStatus.NEEDS_REVIEW if was_review else ChunkStatus.SKIPPED)
        await self.sync.add_note(
            self._note("approval", step, answer.decision, answer.note, reviewed=was_review)
        )
        return str(answer.decision)

    async def _step(self, step: ChunkStep, outcome: ChunkOutcome) -> str:
        """Pause after the chunk (debugging mode) until someone says how to go on."""
        count = self._step_pauses[step.order] = self._step_pauses.get(step.order, 0) + 1
        heading = f"Chunk {outcome.status.lower()}"  # then what it did: the form asks what next
        description = describe_chunk(step, self.runtime.templates, self.runtime.masker, heading=heading)
        if outcome.error:
            description += f"\n\n**Error:** {outcome.error}"
        if outcome.trace:
            description += f"\n\nTrace: `playwright show-trace {outcome.trace}`"
        key = f"step-{step.chunk_id}-{count}"
        answer = await self._pause(step, "step", key, StepDecision, description, decision="continue")
        await self.sync.add_note(self._note("step", step, answer.decision, answer.note))
        return str(answer.decision)

    async def _pause(
        self, step: ChunkStep, kind: str, key: str, model: type[Any], description: str, **initial: Any
    ) -> Any:
        """Pause until someone answers this pause; an answer meant for another one is not taken.

        Two people answering one pause a moment apart: Prefect resumes whatever pause the run is at
        when the second request lands, so it could approve the next chunk, which nobody had seen.
        Each answer names its pause (``pause_key``, filled in by every form); one that names
        another pause is set aside, and the run asks again under a new key.
        """
        asked = 0
        while True:
            asked += 1
            pause_key = key if asked == 1 else f"{key}-ask-{asked}"
            answer = await self._pause_once(step, kind, pause_key, model, description, initial)
            meant_for = getattr(answer, "pause_key", "")
            if not meant_for or meant_for == pause_key:
                return answer
            logger.warning(
                "%s: an answer meant for pause %s reached pause %s; asking again",
                step.label,
                meant_for,
                pause_key,
            )

    async def _unless_cancelled(self, pause: Any) -> Any:
        """The pause's answer, unless the run is cancelled in Prefect first (RunCancelled): Prefect
        keeps waiting for a resume that a cancelled run never gets, until the pause times out."""
        waiting = asyncio.ensure_future(pause)
        if self.cancel_watch is None:
            return await waiting
        cancelled = asyncio.ensure_future(self.cancel_watch.requested.wait())
        try:
            await asyncio.wait({waiting, cancelled}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            cancelled.cancel()
        if waiting.done():
            return waiting.result()
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        raise RunCancelled("cancelled in Prefect while it waited for a person")

    async def _pause_once(
        self,
        step: ChunkStep,
        kind: str,
        key: str,
        model: type[Any],
        description: str,
        initial: dict[str, Any],
    ) -> Any:
        from prefect.exceptions import FlowPauseTimeout
        from prefect.flow_runs import pause_flow_run

        form = model.with_initial_data(description=description, pause_key=key, **initial)
        since = datetime.now(UTC).isoformat()
        awaiting = {
            "kind": kind,
            "order": step.order,
            "chunk_id": str(step.chunk_id),
            "needs_review": step.needs_review,  # what the chunk goes back to if the run dies here
            "chunk": step.title,
            "key": key,
            "since": since,
            "description": description,
        }
        await self.sync.update_run(status=RunStatus.PAUSED, awaiting=awaiting, results=self.results())
        await self.sync.flush()  # the store says "paused" before anyone is asked
        publish(ProgressEvent(self.runtime.flow_run_id, "pause", order=step.order, status=kind, message=key))
        timeout = self.settings.pause_timeout_seconds
        try:
            answer = await self._unless_cancelled(
                pause_flow_run(wait_for_input=form, key=key, timeout=timeout, poll_interval=1)
            )
        except RunCancelled:
            if kind == "approval":
                await self.sync.set_status(step, _not_run(step))
            await self.sync.update_run(awaiting=None)
            raise
        except FlowPauseTimeout as e:
            if kind == "approval":
                await self.sync.set_status(step, _not_run(step))
            await self.sync.update_run(awaiting=None)
            message = f"nobody answered the {kind} pause of {step.label} within {timeout} s; the run stopped"
            await _fail_in_prefect(self.runtime.flow_run_id, message)
            raise PauseTimedOut(message) from e
        await self.sync.update_run(status=RunStatus.RUNNING, awaiting=None)
        publish(
            ProgressEvent(self.runtime.flow_run_id, "resume", order=step.order, status=str(answer.decision))
        )
        return answer

    def _note(self, kind: str, step: ChunkStep, decision: str, note: str, **extra: Any) -> dict[str, Any]:
        return {
            "kind": kind,
            "order": step.order,
            "chunk": step.title,
            "decision": decision,
            "note": self.runtime.masker.mask(note) if note else "",
            "at": datetime.now(UTC).isoformat(),
            **extra,
        }
