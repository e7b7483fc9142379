"""The one flow: ``run_agent`` loads a saved agent and runs its chunks, in order, as Prefect tasks.

Agents are data, so one flow serves them all; per-agent deployments carry the parameters. The flow
body owns the order of chunks, the stop on the first failed chunk, and the run record; each chunk is
an async task (``tasks.run_chunk``) with the chunk's retries, named ``NN · chunk name``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from prefect import flow
from prefect.utilities.annotations import quote

from agents_store.errors import AgentctlError, ExecutionError
from agents_store.models import Agent
from agents_store.settings import Settings, get_settings
from agents_store.store import RunRecord, RunStatus
from flows._store import flow_store
from flows.errors import ChunkFailed
from flows.evidence import ChunkOutcome, publish_run_artifacts
from flows.plan import Mode, RunPlan, Selection
from flows.preflight import prepare_run
from flows.progress import ProgressEvent, publish
from flows.run_logs import attach_to_prefect
from flows.state_sync import StoreSync
from tasks.browser.session import RunBrowser, find_chromium
from tasks.errors import TemplateError
from tasks.masking import SecretMasker, masking_logs
from tasks.run_chunk import run_chunk
from tasks.runtime import RunRuntime
from tasks.secrets import block_name, env_name, resolve_secrets
from tasks.steps import ChunkResult, ChunkStep
from tasks.templating import TemplateContext

__all__ = ["resolve_plan_secrets", "run_agent"]

logger = logging.getLogger("agentctl.flow")


@flow(name="run-agent", persist_result=False, log_prints=False, validate_parameters=True)
async def run_agent(
    agent_id: str,
    mode: Mode = "automatic",
    chunks: list[int] | None = None,
    from_chunk: int | None = None,
    params: dict[str, Any] | None = None,
    force: bool = False,
    headless: bool | None = None,
) -> dict[str, Any]:
    """Run a saved agent.

    Args:
        agent_id: the agent's id, a unique id prefix, or its name.
        mode: ``automatic``; ``verification`` (approve each chunk); ``debugging`` (trace and step).
        chunks: run only these chunks (their order numbers, 1-based).
        from_chunk: run from this chunk to the end.
        params: values for the agent's params (the agent's own are the defaults).
        force: run chunks marked Needs Review in automatic mode anyway.
        headless: override the agent's ``settings.headless`` (``agentctl run --headed``).
    """
    from prefect.runtime import flow_run

    flow_run_id = uuid.UUID(str(flow_run.get_id()))
    attach_to_prefect(logging.DEBUG if mode == "debugging" else logging.INFO)
    settings = get_settings()
    store = flow_store()
    agent, plan = await asyncio.to_thread(
        prepare_run, store, agent_id, mode, Selection(chunks=chunks, from_chunk=from_chunk), params, force
    )
    if headless is not None:
        plan = plan.model_copy(update={"headless": headless})
    secrets = await resolve_plan_secrets(plan)
    sync = StoreSync(store, flow_run_id)
    await sync.run_started(
        RunRecord(
            flow_run_id=flow_run_id,
            agent_id=agent.id,
            agent_version=agent.version,
            mode=plan.mode,
            status=RunStatus.RUNNING,
            started_at=datetime.now(UTC),
            triggered_by=_triggered_by(),
            params=plan.params,
            chunks=plan.orders,
        )
    )
    publish(ProgressEvent(flow_run_id, "plan", orders=tuple(plan.orders)))
    masker = SecretMasker(secrets.values())
    labelling = asyncio.get_running_loop().create_task(_label_flow_run(flow_run_id, agent, plan))
    with masking_logs(masker):
        try:
            outcomes, failure = await _execute(plan, settings, sync, masker, secrets, flow_run_id)
            status = RunStatus.FAILED if failure else RunStatus.COMPLETED
            error = str(failure) if failure else None
            publish(ProgressEvent(flow_run_id, "run", status=status.value, message=error))
            await asyncio.gather(
                sync.run_finished(status, error),
                publish_run_artifacts(
                    agent_id=str(agent.id),
                    agent_name=agent.name,
                    agent_version=agent.version,
                    mode=plan.mode,
                    outcomes=outcomes,
                    artifacts_dir=settings.runs_dir() / str(flow_run_id),
                ),
            )
        finally:
            await sync.close()
            await labelling
    if failure is not None:
        raise failure
    return {
        "agent_id": str(agent.id),
        "agent_version": agent.version,
        "status": status.value,
        "chunks": [{"order": o.step.order, "status": o.status, "attempts": o.attempts} for o in outcomes],
    }


async def resolve_plan_secrets(plan: RunPlan, *, use_prefect_blocks: bool = True) -> dict[str, str]:
    """The values of the secrets the plan uses.

    Raises:
        TemplateError: a secret has no value, naming where it is used and where it is looked up.
    """
    found, missing = await resolve_secrets(plan.secret_uses, use_prefect_blocks=use_prefect_blocks)
    if missing:
        problems = [
            f"{plan.secret_uses[name][0]}: {{{{ secrets.{name} }}}} is not set "
            f"(set {env_name(name)} or a Prefect Secret block named {block_name(name)!r})"
            for name in missing
        ]
        raise TemplateError("; ".join(problems))
    return found


async def _execute(
    plan: RunPlan,
    settings: Settings,
    sync: StoreSync,
    masker: SecretMasker,
    secrets: dict[str, str],
    flow_run_id: uuid.UUID,
) -> tuple[list[ChunkOutcome], AgentctlError | None]:
    artifacts_dir = settings.runs_dir() / str(flow_run_id)
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    browser = RunBrowser(
        headless=plan.headless,
        executable=find_chromium(settings.chromium) if plan.needs_browser else None,
    )
    outcomes = [ChunkOutcome(step=s, status="Not Started") for s in plan.steps]
    failure: AgentctlError | None = None
    await sync.reset(plan.steps)
    async with httpx.AsyncClient(follow_redirects=True) as http:
        runtime = RunRuntime(
            flow_run_id=flow_run_id,
            templates=TemplateContext(params=plan.params, vars={}, secrets=secrets),
            masker=masker,
            browser=browser,
            http=http,
            artifacts_dir=artifacts_dir,
            upload_dir=settings.resolved_upload_dir(),
            observer=sync,
            debug=plan.mode == "debugging",
        )
        try:
            for outcome in outcomes:
                step = outcome.step
                try:
                    result = await _chunk_task(step)(step, quote(runtime))
                except ExecutionError as error:  # the task already recorded the failure in the store
                    outcome.status = "Failed"
                    outcome.attempts = runtime.attempts.get(step.order, 0)
                    outcome.error = masker.mask(str(error))
                    failure = ChunkFailed(f"{step.label} failed: {outcome.error}", order=step.order)
                    break
                _completed(outcome, result)
        finally:
            await browser.close()
    return outcomes, failure


_TASKS: dict[tuple[int, float], Any] = {}


def _chunk_task(step: ChunkStep) -> Any:
    """``run_chunk`` with the chunk's retries (one Task object per retry setting, reused)."""
    key = (step.retries, step.retry_delay_seconds)
    if key not in _TASKS:
        _TASKS[key] = run_chunk.with_options(
            retries=step.retries, retry_delay_seconds=step.retry_delay_seconds
        )
    return _TASKS[key]


def _completed(outcome: ChunkOutcome, result: ChunkResult) -> None:
    outcome.status = "Completed"
    outcome.attempts = result.attempts
    outcome.duration_seconds = result.duration_seconds
    outcome.fallbacks = result.fallbacks or None


async def _label_flow_run(flow_run_id: uuid.UUID, agent: Agent, plan: RunPlan) -> None:
    """Name the flow run after the agent and tag it ``agent:<id>``, so Prefect's UI finds it."""
    from prefect import get_client
    from prefect.runtime import flow_run

    tags = sorted({*flow_run.get_tags(), f"agent:{agent.id}", f"mode:{plan.mode}"})
    async with get_client() as client:
        await client.update_flow_run(flow_run_id, name=f"{agent.name} · {plan.mode}", tags=tags)


def _triggered_by() -> str:
    """``deployment:<id>`` for a deployment's run (schedule, trigger, UI), else ``agentctl``."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    deployment_id = context.flow_run.deployment_id if context and context.flow_run else None
    return f"deployment:{deployment_id}" if deployment_id else "agentctl"
