"""What a person answers when a run pauses, as Prefect ``RunInput`` models.

The same models serve every way in: the Prefect UI renders them as its resume form, ``agentctl
approve`` / ``agentctl step`` and the dashboard send them through Prefect's resume API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any, Literal

from prefect.input import RunInput
from pydantic import Field

from agents_store.models import HttpAction
from tasks.errors import TemplateError
from tasks.masking import MASK, SecretMasker
from tasks.steps import ChunkStep
from tasks.templating import TemplateContext, render

__all__ = ["ChunkDecision", "StepDecision", "describe_chunk", "send_decision"]

PAUSE_GRACE_SECONDS = 15.0
PAUSE_KEY_HELP = (
    "The pause this answer is for, filled in when the run paused: leave it as it is. An answer "
    "for a pause the run has left (someone answered first) is set aside, and the run asks again."
)


class ChunkDecision(RunInput):
    """Verification mode, before a chunk: run it, skip it, or stop the run."""

    decision: Literal["approve", "skip", "abort"] = "approve"
    note: str = ""
    pause_key: str = Field(default="", description=PAUSE_KEY_HELP)


class StepDecision(RunInput):
    """Debugging mode, after a chunk: go on, stop pausing, run the chunk again, or stop the run."""

    decision: Literal["continue", "run_to_end", "retry", "abort"] = "continue"
    note: str = ""
    pause_key: str = Field(default="", description=PAUSE_KEY_HELP)


def describe_chunk(step: ChunkStep, templates: TemplateContext, masker: SecretMasker, *, heading: str) -> str:
    """Markdown of what the chunk will do, with params and vars filled in and secrets shown as ``***``."""
    hidden = TemplateContext(
        params=templates.params, vars=templates.vars, secrets={name: MASK for name in templates.secrets}
    )
    lines = [f"### {heading}: {step.title}", ""]
    for index, action in enumerate(step.actions, start=1):
        data = action.model_dump(mode="json", by_alias=True, exclude_none=True)
        with contextlib.suppress(TemplateError):  # a var not saved yet: show the action as written
            data = render(data, hidden)
        shown_in_kind = ("type", "method") if isinstance(action, HttpAction) else ("type",)
        fields = ", ".join(
            f"{key}={json.dumps(value, ensure_ascii=False)}"
            for key, value in data.items()
            if key not in shown_in_kind
        )
        kind = f"**{action.type}**" if not isinstance(action, HttpAction) else f"**http {action.method}**"
        lines.append(f"{index}. {kind} {masker.mask(fields)}")
    return "\n".join(lines)


async def send_decision(
    flow_run_id: uuid.UUID, decision: dict[str, Any], *, pause_key: str | None = None
) -> None:
    """Resume a paused run with a decision (what ``agentctl approve`` and the dashboard call).

    ``pause_key`` is the pause the person saw (the store's ``awaiting["key"]``): a decision is for
    that chunk only. Without it, two people answering the same pause a moment apart both got "ok",
    and the second answer approved the next chunk, which neither had seen.

    Raises:
        RunNotPaused: the run is not waiting for a decision (any more), or waits at another pause.
    """
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    from flows.errors import RunNotPaused

    async with get_client() as client:
        # The store says "paused" a moment before Prefect does (the run records what it awaits, then
        # pauses), and Prefect marks the run Paused a moment before it saves the input's schema (its
        # ``pause_flow_run`` proposes the state first): give the run a few seconds to get to both.
        deadline = asyncio.get_running_loop().time() + PAUSE_GRACE_SECONDS
        while True:
            try:
                run = await client.read_flow_run(flow_run_id)
            except ObjectNotFound as e:
                raise RunNotPaused(f"Prefect has no flow run {flow_run_id}") from e
            late = asyncio.get_running_loop().time() > deadline
            if run.state and run.state.is_paused():
                waiting_at = run.state.state_details.pause_key
                if pause_key is not None and waiting_at != pause_key:
                    raise RunNotPaused(
                        f"run {flow_run_id} is not waiting for that decision any more: someone answered it, "
                        "and the run went on to its next pause"
                    )
                answer = {**decision, "pause_key": pause_key} if pause_key is not None else decision
                result = await client.resume_flow_run(flow_run_id, run_input=answer)
                if result.status.value == "ACCEPT":
                    if (
                        pause_key is not None
                        and await _stored_answer(client, flow_run_id, pause_key) != answer
                    ):
                        # Prefect resumed the pause the run had reached when this request landed:
                        # the run sets this answer aside and asks again.
                        raise RunNotPaused(
                            f"run {flow_run_id} is not waiting for that decision any more: someone "
                            "answered it first"
                        )
                    return
                reason = getattr(result.details, "reason", None) or result.status.value
                if pause_key is not None and await _answered(client, flow_run_id, pause_key):
                    # Another answer resumed the run between our look and our request.
                    raise RunNotPaused(
                        f"run {flow_run_id} is not waiting for that decision any more: someone "
                        "answered it first"
                    )
                if late or not _schema_not_saved_yet(reason):
                    raise RunNotPaused(f"Prefect refused to resume run {flow_run_id}: {reason}")
            elif pause_key is not None and await _answered(client, flow_run_id, pause_key):
                raise RunNotPaused(
                    f"run {flow_run_id} is not waiting for that decision any more: someone answered it"
                )
            elif not (run.state and run.state.is_running()) or late:
                state = run.state.name if run.state else "unknown"
                raise RunNotPaused(f"run {flow_run_id} is not waiting for a decision (it is {state})")
            await asyncio.sleep(0.2)


async def _answered(client: Any, flow_run_id: uuid.UUID, pause_key: str) -> bool:
    return await _stored_answer(client, flow_run_id, pause_key) is not None


async def _stored_answer(client: Any, flow_run_id: uuid.UUID, pause_key: str) -> Any:
    """The answer Prefect keeps for that pause (the run's input ``paused-<key>-response``, see
    ``prefect.input.keyset_from_paused_state``), None before anyone answered it."""
    from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError

    try:
        stored = await client.read_flow_run_input(flow_run_id, f"paused-{pause_key}-response")
    except ObjectNotFound:
        return None
    except PrefectHTTPStatusError as e:  # this client method answers a missing input with a bare 404
        if e.response.status_code == 404:
            return None
        raise
    return json.loads(stored)


def _schema_not_saved_yet(reason: str) -> bool:
    """Prefect's answer to a resume that came between the Paused state and the schema's save."""
    return "schema not found" in reason.lower()
