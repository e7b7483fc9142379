"""The one flow: ``run_agent`` loads a saved agent and runs its chunks, in order, as Prefect tasks.

Agents are data, so one flow serves them all; per-agent deployments carry the parameters. The flow
body owns the order of chunks, the pauses of verification and debugging mode (``flows.executor``),
the stop on a failed chunk, and the run record; each chunk is an async task (``tasks.run_chunk``)
with the chunk's retries, named ``NN · chunk name``. Hooks mark what a crash or a cancellation left
behind, and ``flows.reconcile`` repairs what a process killed too hard for hooks left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

from prefect import flow
from prefect.settings import get_current_settings
from prefect.states import Cancelled, Failed

from agents_store.errors import AgentctlError, ConfigError
from agents_store.models import Agent, BrowserAction
from agents_store.settings import Settings, get_settings
from agents_store.store import AgentStore, RunRecord, RunStatus
from flows._prefect import run_client
from flows._store import flow_store
from flows.browser_limit import BrowserLimit
from flows.cancellation import CancelWatch
from flows.errors import RunRefused
from flows.evidence import publish_run_artifacts
from flows.executor import RunExecutor
from flows.host_signals import restore_host_sigterm
from flows.plan import Mode, RunPlan, Selection
from flows.preflight import check_secret_hosts, http_secrets, prepare_run
from flows.progress import ProgressEvent, publish
from flows.reconcile import settle_run
from flows.run_logs import attach_to_prefect
from flows.state_sync import StoreSync
from tasks.browser.session import RunBrowser, find_chromium
from tasks.errors import TemplateError
from tasks.http import action_client
from tasks.masking import MIN_SECRET_LENGTH, SecretMasker, masking_logs
from tasks.runtime import RunRuntime
from tasks.secrets import (
    HostBinding,
    block_name,
    env_name,
    hosts_env_name,
    resolve_secret_hosts,
    resolve_secrets,
)
from tasks.templating import TemplateContext

__all__ = ["resolve_plan_secret_hosts", "resolve_plan_secrets", "run_agent"]

logger = logging.getLogger("agentctl.flow")


def _on_crashed(flow: Any, flow_run: Any, state: Any) -> None:
    """The process is going down: no chunk may stay Running."""
    settle_run(flow_store(), flow_run.id, RunStatus.CRASHED, state.message or "the flow run crashed")


def _on_cancelled(flow: Any, flow_run: Any, state: Any) -> None:
    """Cancelled from Prefect: the chunk in progress goes back to Not Started."""
    settle_run(flow_store(), flow_run.id, RunStatus.CANCELLED, state.message or "the flow run was cancelled")


# A run keeps no results (``persist_result=False``): its outcome is in the store and in Prefect's
# states and artifacts. Without a storage named here, Prefect's async engine still asks the server
# where results would go, at every run's start, with a blocking request on the event loop (3-17 ms
# measured, and every other run a dashboard process drives waits with it). Prefect's own local
# default folder, named (a path: Prefect looks that up itself), is never written to.
_NO_RESULTS = get_current_settings().results.local_storage_path


@flow(
    name="run-agent",
    persist_result=False,
    result_storage=_NO_RESULTS,
    log_prints=False,
    validate_parameters=True,
    on_crashed=[_on_crashed],
    on_cancellation=[_on_cancelled],
)
async def run_agent(
    agent_id: str,
    mode: Mode = "automatic",
    chunks: list[int] | None = None,
    from_chunk: int | None = None,
    params: dict[str, Any] | None = None,
    force: bool = False,
    headless: bool | None = None,
    session_from: str | None = None,
) -> Any:
    """Run a saved agent.

    Args:
        agent_id: the agent's id, a unique id prefix, or its name.
        mode: ``automatic``; ``verification`` (approve each chunk); ``debugging`` (trace and step).
        chunks: run only these chunks (their order numbers, 1-based).
        from_chunk: run from this chunk to the end, with the browser session an earlier run had
            after the chunk before it.
        params: values for the agent's params (the agent's own are the defaults).
        force: run chunks marked Needs Review in automatic mode anyway.
        headless: override the agent's ``settings.headless`` (``agentctl run --headed``).
        session_from: the earlier run whose session ``from_chunk`` starts with (default: the
            agent's latest run that kept one).
    """
    from prefect.runtime import flow_run

    restore_host_sigterm()
    flow_run_id = uuid.UUID(str(flow_run.get_id()))
    attach_to_prefect(logging.DEBUG if mode == "debugging" else logging.INFO)
    settings = get_settings()
    # Looked up while the agent loads and the first chunk starts, not when the browser opens.
    limit = BrowserLimit(settings.browser_limit) if settings.browser_limit else None
    try:
        return await _run(
            flow_run_id,
            agent_id,
            mode,
            Selection(chunks=chunks, from_chunk=from_chunk),
            params,
            force=force,
            headless=headless,
            session_from=session_from,
            settings=settings,
            limit=limit,
        )
    finally:
        if limit is not None:
            await limit.close()


async def _run(
    flow_run_id: uuid.UUID,
    agent_id: str,
    mode: Mode,
    selection: Selection,
    params: dict[str, Any] | None,
    *,
    force: bool,
    headless: bool | None,
    session_from: str | None,
    settings: Settings,
    limit: BrowserLimit | None,
) -> Any:
    debugging = mode == "debugging"
    store = flow_store()
    try:
        prepared = await asyncio.to_thread(
            lambda: prepare_run(
                store,
                agent_id,
                mode,
                selection,
                params,
                force,
                runs_dir=settings.runs_dir(),
                session_from=session_from,
            )
        )
    except (TemplateError, RunRefused, ConfigError) as refused:
        await asyncio.to_thread(_record_refusal, store, flow_run_id, agent_id, mode, params, refused)
        raise
    agent, plan, session = prepared.agent, prepared.plan, prepared.session
    if headless is not None:
        plan = plan.model_copy(update={"headless": headless})
    sync = StoreSync(store, flow_run_id)
    record = RunRecord(
        flow_run_id=flow_run_id,
        agent_id=agent.id,
        agent_version=agent.version,
        mode=plan.mode,
        status=RunStatus.RUNNING,
        started_at=datetime.now(UTC),
        triggered_by=_triggered_by(),
        params=plan.params,
        chunks=plan.orders,
        host=socket.gethostname(),
        pid=os.getpid(),
        notes=[{"kind": "session", "from_run": str(session.run_id), "after_chunk": session.after_order}]
        if session
        else [],
    )
    try:
        secrets = await resolve_plan_secrets(plan)
        secret_hosts = await resolve_plan_secret_hosts(plan)
    except (TemplateError, RunRefused) as refused:
        # A deployment's run (a schedule, a trigger) meets this with no one watching: the run is
        # recorded, Failed with the reason, so `agentctl runs` and the dashboard show it.
        await sync.run_started(record)
        await sync.run_finished(RunStatus.FAILED, str(refused))
        await sync.close()
        raise
    await sync.run_started(record)
    publish(ProgressEvent(flow_run_id, "plan", orders=tuple(plan.orders)))
    labelling = asyncio.get_running_loop().create_task(_label_flow_run(flow_run_id, agent, plan))
    masker = SecretMasker(secrets.values())
    artifacts_dir = settings.runs_dir() / str(flow_run_id)
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    browser = RunBrowser(
        headless=plan.headless,
        executable=find_chromium(settings.chromium) if plan.needs_browser else None,
        storage_state=session.storage_state if session else None,
        start_url=session.url if session else None,
        trace=debugging,
        trace_screenshots=not _types_secrets(plan),
        slot=limit.slot if limit is not None else None,
    )
    with masking_logs(masker):
        try:
            cancel_requested = asyncio.Event()
            async with action_client() as http, CancelWatch(flow_run_id, cancel_requested) as cancel_watch:
                runtime = RunRuntime(
                    flow_run_id=flow_run_id,
                    templates=TemplateContext(
                        params=plan.params, vars=dict(session.vars) if session else {}, secrets=secrets
                    ),
                    masker=masker,
                    browser=browser,
                    http=http,
                    artifacts_dir=artifacts_dir,
                    upload_dir=settings.resolved_upload_dir(),
                    observer=sync,
                    debug=debugging,
                    secret_hosts=secret_hosts,
                    cancel_requested=cancel_requested,
                )
                executor = RunExecutor(
                    plan=plan, runtime=runtime, sync=sync, settings=settings, cancel_watch=cancel_watch
                )
                try:
                    outcomes, failure = await executor.run()
                    if not (executor.cancelled or executor.aborted) and await cancel_watch.settled():
                        failure = executor.cancelled_at_end()
                except BaseException:
                    with contextlib.suppress(Exception):  # the error to report is the run's own
                        await executor.close_browser()
                    raise
            status = (
                RunStatus.ABORTED
                if executor.aborted
                else RunStatus.CANCELLED
                if executor.cancelled
                else RunStatus.FAILED
                if failure
                else RunStatus.COMPLETED
            )
            error = str(failure) if failure else None
            publish(ProgressEvent(flow_run_id, "run", status=status.value, message=error))
            await _all_of(
                executor.close_browser(),  # while the run's record and report are written: one wait, not two
                sync.run_finished(status, error, results=executor.results()),
                publish_run_artifacts(
                    agent_id=str(agent.id),
                    agent_name=agent.name,
                    agent_version=agent.version,
                    mode=plan.mode,
                    outcomes=outcomes,
                    artifacts_dir=artifacts_dir,
                ),
            )
        finally:
            await sync.close()
            await labelling
    if executor.aborted or executor.cancelled:
        return Cancelled(message=error)
    if failure is not None:
        # The run's outcome as a state, not an exception: raised, it had Prefect log a traceback
        # through its own engine to this line ("Encountered exception during execution") and wrap
        # the message ("Flow run encountered an exception: ChunkFailed: …") in its UI, the
        # dashboard's log and `agentctl logs`. The chunk's task run keeps the traceback that says
        # something: where its action failed.
        return Failed(message=str(failure))
    return {
        "agent_id": str(agent.id),
        "agent_version": agent.version,
        "status": status.value,
        "chunks": [{"order": o.step.order, "status": o.status, "attempts": o.attempts} for o in outcomes],
    }


async def _all_of(*steps: Awaitable[Any]) -> None:
    """Run the steps at once, each to its end even when another fails; then raise the first failure."""
    for result in await asyncio.gather(*steps, return_exceptions=True):
        if isinstance(result, BaseException):
            raise result


async def resolve_plan_secrets(plan: RunPlan, *, use_prefect_blocks: bool = True) -> dict[str, str]:
    """The values of the secrets the plan uses.

    Raises:
        TemplateError: a secret has no value, naming where it is used and where it is looked up.
    """
    found, missing = await resolve_secrets(plan.secret_uses, use_prefect_blocks=use_prefect_blocks)
    problems = [
        f"{plan.secret_uses[name][0]}: {{{{ secrets.{name} }}}} is not set "
        f"(set {env_name(name)} or a Prefect Secret block named {block_name(name)!r})"
        for name in missing
    ] + [
        # Masked, one character would be taken out of every log line; unmasked, it would show.
        f"{plan.secret_uses[name][0]}: {{{{ secrets.{name} }}}} is a single character: too short to keep "
        f"out of logs; give it at least {MIN_SECRET_LENGTH}"
        for name, value in found.items()
        if 0 < len(value) < MIN_SECRET_LENGTH
    ]
    if problems:
        raise TemplateError("; ".join(problems))
    return found


async def resolve_plan_secret_hosts(
    plan: RunPlan, *, use_prefect_blocks: bool = True
) -> dict[str, HostBinding]:
    """The host bindings of the plan's secrets, checked against every static ``http`` URL.

    Logs one warning line naming the secrets that ``http`` actions send but that are bound to no
    host (they keep working for any host).

    Raises:
        RunRefused: a static ``http`` URL sends a bound secret to a host its binding does not list.
    """
    bindings = await resolve_secret_hosts(plan.secret_uses, use_prefect_blocks=use_prefect_blocks)
    check_secret_hosts(plan, bindings)
    unbound = sorted(http_secrets(plan) - set(bindings))
    if unbound:
        logger.warning(
            "secrets sent by http actions but bound to no host (they may go to any host): %s; "
            "bind them with %s=host,…",
            ", ".join(unbound),
            hosts_env_name(unbound[0]),
        )
    return bindings


async def _label_flow_run(flow_run_id: uuid.UUID, agent: Agent, plan: RunPlan) -> None:
    """Name the flow run after the agent and tag it ``agent:<id>``, so Prefect's UI finds it."""
    from prefect.runtime import flow_run

    tags = sorted({*flow_run.get_tags(), f"agent:{agent.id}", f"mode:{plan.mode}"})
    async with run_client() as client:
        await client.update_flow_run(flow_run_id, name=f"{agent.name} · {plan.mode}", tags=tags)


def _types_secrets(plan: RunPlan) -> bool:
    """Whether a browser action of the plan uses a secret (its trace then has no screencast)."""
    return any(
        isinstance(step.actions[index], BrowserAction) for step in plan.steps for index in step.secret_actions
    )


def _record_refusal(
    store: AgentStore,
    flow_run_id: uuid.UUID,
    agent_ref: str,
    mode: Mode,
    params: dict[str, Any] | None,
    refused: Exception,
) -> None:
    """A run refused before it starts (chunks need review, an unknown template name, a bad param)
    is recorded Failed with the reason: a schedule's or a trigger's run meets this with no one
    watching, and it showed in Prefect only — ``agentctl runs`` and the dashboard had nothing."""
    try:
        agent = store.get(store.resolve(agent_ref))
    except AgentctlError:  # no such agent (deleted since it was scheduled): nothing to record it on
        return
    now = datetime.now(UTC)
    store.record_run(
        RunRecord(
            flow_run_id=flow_run_id,
            agent_id=agent.id,
            agent_version=agent.version,
            mode=mode,
            status=RunStatus.FAILED,
            started_at=now,
            finished_at=now,
            triggered_by=_triggered_by(),
            params=dict(params or {}),
            error=str(refused),
        )
    )


def _triggered_by() -> str:
    """``deployment:<id>`` for a deployment's run (schedule, trigger, UI), else ``agentctl``."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    deployment_id = context.flow_run.deployment_id if context and context.flow_run else None
    return f"deployment:{deployment_id}" if deployment_id else "agentctl"
