"""What the CLI and the dashboard do with deployments: deploy, schedule, trigger, undeploy.

Each function takes the store and talks to whatever Prefect ``PREFECT_API_URL`` names (or the
embedded server), so every way in behaves the same.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from agents_store.errors import AgentInUse, AgentNotFound
from agents_store.models import Agent
from agents_store.store import AgentQuery, AgentStore, RunRecord, RunStatus, Schedule
from deployments.agent_deployments import (
    DeployedAgent,
    agent_id_of,
    agent_tag,
    apply_agent_deployment,
    find_deployment,
    remove_agent_deployments,
)
from deployments.schedules import next_runs

__all__ = [
    "DeletedAgent",
    "NoDeployment",
    "ScheduledAgent",
    "all_agents",
    "apply_schedule",
    "delete_agent",
    "deploy_agents",
    "ensure_work_pool",
    "schedule_state",
    "schedules_overview",
    "trigger_agent",
    "undeploy_agent",
]


class NoDeployment(AgentNotFound):
    """The agent has no Prefect deployment yet (``agentctl deploy`` or ``agentctl serve`` creates it)."""


def all_agents(store: AgentStore, user_id: uuid.UUID | None = None) -> list[Agent]:
    agents: list[Agent] = []
    offset = 0
    while True:
        page = store.list_agents(
            AgentQuery(limit=1000, offset=offset, sort="created_at", descending=False, user_id=user_id)
        )
        agents += [store.get(summary.id) for summary in page.items]
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return agents


def _schedule_of(store: AgentStore, agent_id: uuid.UUID) -> Schedule | None:
    found = store.list_schedules(agent_id)
    return found[0] if found else None


async def ensure_work_pool(name: str) -> bool:
    """Create a ``process`` work pool named ``name`` if there is none; True when it was created."""
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    async with get_client() as client:
        try:
            await client.read_work_pool(name)
            return False
        except ObjectNotFound:
            await client.create_work_pool(WorkPoolCreate(name=name, type="process"))
            return True


async def deploy_agents(
    store: AgentStore, agents: list[Agent], *, work_pool: str | None
) -> list[DeployedAgent]:
    """Create or update the deployments of ``agents`` (on ``work_pool`` when given)."""
    from prefect import get_client

    deployed: list[DeployedAgent] = []
    async with get_client() as client:
        for agent in agents:
            info, _ = await apply_agent_deployment(
                client,
                agent,
                _schedule_of(store, agent.id),
                store_location=store.location,
                work_pool=work_pool,
            )
            deployed.append(info)
    return deployed


async def apply_schedule(
    store: AgentStore, agent_id: uuid.UUID, schedule: Schedule | None
) -> tuple[Schedule | None, DeployedAgent | None]:
    """Save the agent's schedule (None: turn it off) and put it on the agent's deployment.

    The store is the record: without a Prefect server (embedded mode) there is no scheduler to tell,
    and ``agentctl serve`` applies the stored schedule when it starts. With one, the deployment is
    updated at once (the second value; None in embedded mode); when that fails, the store gets the
    previous schedule back, so the store never says what Prefect does not do.
    """
    from prefect import get_client

    from flows.errors import RunRefused
    from flows.plan import Selection, compile_agent
    from flows.prefect_ui import embedded_mode

    agent = store.get(agent_id)
    if schedule is not None and schedule.active:
        try:  # what each of its runs would be refused for, said once now, not in a worker's log
            compile_agent(agent, schedule.mode, Selection(), schedule.params)
        except RunRefused as e:
            raise RunRefused(
                f"every scheduled {schedule.mode} run would be refused: {e}. Schedule it in verification "
                "mode, or review the chunks first; nothing was changed"
            ) from e
    previous = _schedule_of(store, agent_id)
    if schedule is None:
        store.delete_schedule(agent_id)
    else:
        schedule = store.set_schedule(schedule)
    if embedded_mode():
        return schedule, None
    try:
        async with get_client() as client:
            info, _ = await apply_agent_deployment(client, agent, schedule, store_location=store.location)
    except BaseException:
        # Saved first (the deployment takes the saved schedule); a Prefect that stopped answering
        # meanwhile left the new schedule stored and the deployment on the old one.
        if previous is None:
            store.delete_schedule(agent_id)
        else:
            store.set_schedule(previous)
        raise
    return schedule, info


async def undeploy_agent(agent_id: uuid.UUID) -> int:
    from prefect import get_client

    async with get_client() as client:
        return await remove_agent_deployments(client, agent_id)


@dataclass(frozen=True)
class DeletedAgent:
    """What deleting an agent removed besides the agent itself."""

    deployments: int
    """Prefect deployments (0 in embedded mode, where Prefect is not asked)."""
    run_folders: int
    """``<runs_dir>/<flow_run_id>/`` folders of its runs: saved sessions, screenshots, traces."""


_ALL_RUNS = 1_000_000
"""As many run records as ``list_runs`` may return: every run of one agent."""


def delete_agent(
    store: AgentStore,
    agent_id: uuid.UUID,
    *,
    user_id: uuid.UUID | None = None,
    runs_dir: Path | None = None,
) -> DeletedAgent:
    """Delete the agent, then its runs' folders, its Prefect deployment and schedules.

    A run's folder holds the browser session it saved after each chunk (sign-in cookies, local
    storage) and its screenshots: left behind, they outlived the agent. Its runs are read before
    the agent goes (its run records go with it); ``runs_dir`` defaults to the settings' (the
    dashboard's and the CLI's).

    Left behind, a deployment kept scheduling runs of a deleted agent. Without a Prefect server
    (embedded mode) Prefect is not asked — starting a temporary one to look would cost seconds; a
    deployment an embedded ``agentctl serve`` registered is removed when serve next starts.

    Raises:
        AgentNotFound: no such agent (or not ``user_id``'s); nothing was removed.
        AgentInUse: a run of the agent is running or paused (after settling those whose process or
            Prefect run has ended); nothing was removed.
        OSError: a run folder could not be removed (the agent is deleted; the message names it).
    """
    import asyncio
    import shutil

    from agents_store.settings import get_settings
    from flows.prefect_ui import embedded_mode

    store.get(agent_id, user_id=user_id)  # another user's agent: not found, and nothing looked at
    runs = _refuse_while_running(store, agent_id)
    store.delete(agent_id, user_id=user_id)
    folders = runs_dir if runs_dir is not None else get_settings().runs_dir()
    removed = 0
    for run in runs:
        folder = folders / str(run.flow_run_id)
        if folder.is_dir():
            shutil.rmtree(folder)
            removed += 1
    deployments = 0 if embedded_mode() else asyncio.run(undeploy_agent(agent_id))
    return DeletedAgent(deployments=deployments, run_folders=removed)


def _refuse_while_running(store: AgentStore, agent_id: uuid.UUID) -> list[RunRecord]:
    """The agent's runs, once none of them is running or paused.

    Deleted under a paused run, the agent's run went on when someone answered in Prefect's UI —
    running chunks of an agent nobody could see any more, and saving its session again.
    """
    import asyncio

    from flows.reconcile import reconcile

    runs = store.list_runs(agent_id, limit=_ALL_RUNS)
    if any(r.status in _IN_PROGRESS for r in runs):
        asyncio.run(reconcile(store))  # a run whose process died is settled, not a reason to refuse
        runs = store.list_runs(agent_id, limit=_ALL_RUNS)
    live = [r for r in runs if r.status in _IN_PROGRESS]
    if live:
        listed = ", ".join(f"{r.flow_run_id} ({r.status.value.lower()})" for r in live[:3])
        raise AgentInUse(
            f"the agent has a run in progress: {listed}; abort it first (agentctl approve RUN --abort "
            "or step RUN --abort when it is paused, the dashboard's run page, or Prefect's cancel), "
            "then delete"
        )
    return runs


_IN_PROGRESS = (RunStatus.RUNNING, RunStatus.PAUSED)


@dataclass(frozen=True)
class ScheduledAgent:
    agent: Agent
    schedule: Schedule
    next_run: datetime | None
    state: str
    """``on``; ``no runner`` (deployed, but Prefect has seen no ``agentctl serve`` or worker poll
    for its runs in the last minute: they will wait, Late); ``off`` (kept, turned off: the
    dashboard's "On" box); ``paused`` (a stopped ``agentctl serve`` paused it); ``not deployed`` (nothing in
    Prefect fires it yet: ``serve`` or ``deploy`` registers it); ``stored`` without a Prefect
    server (embedded mode), where the schedule fires only while ``agentctl serve`` runs."""


async def schedules_overview(store: AgentStore) -> list[ScheduledAgent]:
    """The stored schedules, with what Prefect's server says of their deployments when there is one.

    Without ``PREFECT_API_URL`` the server is not asked: that would start a temporary one (8-15 s)
    for a table, and its scheduler is not running anyway.
    """
    from flows.prefect_ui import embedded_mode

    deployments = None if embedded_mode() else await _agent_deployments()
    rows: list[ScheduledAgent] = []
    for schedule in store.list_schedules():
        try:
            agent = store.get(schedule.agent_id)
        except AgentNotFound:
            continue
        if not schedule.active:
            state = "off"
        elif deployments is None:
            state = "stored"
        elif agent.id not in deployments:
            state = "not deployed"
        else:
            state = deployments[agent.id]
        upcoming = (
            await next_runs(schedule, 1) if schedule.active and state in ("on", "no runner", "stored") else []
        )
        rows.append(ScheduledAgent(agent, schedule, upcoming[0] if upcoming else None, state))
    return sorted(rows, key=lambda r: (r.next_run is None, r.next_run or datetime.max, r.agent.name))


async def schedule_state(schedule: Schedule) -> str:
    """One agent's ``ScheduledAgent.state``: what the dashboard shows beside its schedule."""
    from flows.prefect_ui import embedded_mode

    if not schedule.active:
        return "off"
    if embedded_mode():
        return "stored"
    return (await _agent_deployments(schedule.agent_id)).get(schedule.agent_id, "not deployed")


async def _agent_deployments(agent_id: uuid.UUID | None = None) -> dict[uuid.UUID, str]:
    """Every agent's deployment in Prefect (or one agent's), by agent id: ``paused``, ``on`` or
    ``no runner`` (a request per 200).

    Prefect marks a deployment READY while a runner (``agentctl serve``) or a worker of its pool
    polls for its runs, and NOT_READY a minute after the last poll: a schedule that is on but has
    no one to run it only piles up Late runs, which a user should see here rather than in a day.
    """
    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags
    from prefect.client.schemas.objects import DeploymentStatus

    tags = ["agentctl"] if agent_id is None else ["agentctl", agent_tag(agent_id)]
    only_ours = DeploymentFilter(tags=DeploymentFilterTags(all_=tags))
    states: dict[uuid.UUID, str] = {}
    seen = 0
    async with get_client() as client:
        while True:
            page = await client.read_deployments(deployment_filter=only_ours, limit=_PAGE, offset=seen)
            seen += len(page)
            for deployment in page:
                agent_id = agent_id_of(deployment.tags or [])
                if agent_id is None:
                    continue
                if deployment.paused:
                    states[agent_id] = "paused"
                elif deployment.status == DeploymentStatus.READY:
                    states[agent_id] = "on"
                else:
                    states[agent_id] = "no runner"
            if len(page) < _PAGE:
                return states


_PAGE = 200


async def trigger_agent(
    store: AgentStore,
    agent: Agent,
    *,
    params: dict[str, Any] | None = None,
    mode: str | None = None,
    force: bool = False,
) -> Any:
    """Create a flow run of the agent's deployment (``run_deployment``) and return it at once.

    Raises:
        NoDeployment: the agent was never deployed.
        ConfigError: a param or mode the agent does not take (checked before anything starts).
        RunRefused: the run would refuse to start (an automatic run with chunks that need review,
            unless ``force``): said here, not in a worker's log after the run was queued.
    """
    from prefect import get_client
    from prefect.deployments.flow_runs import arun_deployment

    from flows.plan import Selection, compile_agent

    compile_agent(agent, mode or "automatic", Selection(), params, force=True)  # fail fast on bad input
    async with get_client() as client:
        deployment = await find_deployment(client, agent.id)
    if deployment is None:
        raise NoDeployment(
            f"agent {agent.name!r} has no deployment yet: run `agentctl deploy {str(agent.id)[:8]}` "
            "(for workers) or `agentctl serve`"
        )
    run_mode = mode or str((deployment.parameters or {}).get("mode") or "automatic")
    compile_agent(agent, run_mode, Selection(), params, force=force)
    parameters: dict[str, Any] = {}
    if params:
        parameters["params"] = params
    if mode:
        parameters["mode"] = mode
    if force:
        parameters["force"] = True
    return await arun_deployment(deployment.id, parameters=parameters, timeout=0)


async def wait_for_run(flow_run_id: uuid.UUID) -> Any:
    """The flow run once it has ended, however long that takes (a verification run waits for people)."""
    from prefect.flow_runs import wait_for_flow_run

    return await wait_for_flow_run(flow_run_id, timeout=None)  # follows events: no poll_interval
