"""One Prefect deployment per agent: ``run-agent/<agent-slug>``, tagged ``agent:<id>`` and ``store:<hash>``.

The deployment carries what a run of the agent needs — ``{agent_id, mode}`` (and the schedule's
params) — and the agent's cron schedule from the store. It is found by its tag, not its name, so
renaming an agent keeps its deployment (and its id, its history, the integrations that call it);
the deployment keeps the name it was created with. Every deployment gets a pull step that sets the
working directory to this code, so a process worker on a machine with the same checkout runs it,
and so does ``agentctl serve`` started from any folder: without it, Prefect copied the deployment's
folder (the whole checkout) into the folder ``serve`` was started from at every run, and failed
from the second run on. The store tag says which store the agent is in (several can share one
Prefect server): ``agentctl serve`` removes its own store's deployments whose agent is gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import flows
from agents_store.models import Agent
from agents_store.slug import agent_slug
from agents_store.store import Schedule

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.responses import DeploymentResponse
    from prefect.deployments.runner import RunnerDeployment

__all__ = [
    "CODE_ROOT",
    "ENTRYPOINT",
    "FLOW_NAME",
    "DeployedAgent",
    "agent_id_of",
    "agent_tag",
    "apply_agent_deployment",
    "find_deployment",
    "remove_agent_deployments",
    "remove_deployments_of_gone_agents",
    "runner_deployment",
    "store_tag",
]

FLOW_NAME = "run-agent"
ENTRYPOINT = "flows/run_agent.py:run_agent"
CODE_ROOT = Path(flows.__file__).resolve().parent.parent
"""The folder that holds ``flows/``: where a worker must run to import the flow."""


def agent_tag(agent_id: uuid.UUID | str) -> str:
    return f"agent:{agent_id}"


def store_tag(store_location: str) -> str:
    """``store:`` and a digest of the store's location (``AgentStore.location``): no path or host
    shown in Prefect's UI, and a tag short enough to read."""
    return "store:" + hashlib.sha256(store_location.encode("utf-8")).hexdigest()[:16]


def agent_id_of(tags: list[str]) -> uuid.UUID | None:
    """The agent a deployment runs, from its ``agent:<id>`` tag (None: not one of ours)."""
    for tag in tags:
        if tag.startswith("agent:"):
            with contextlib.suppress(ValueError):
                return uuid.UUID(tag.removeprefix("agent:"))
    return None


@dataclass(frozen=True)
class DeployedAgent:
    agent_id: uuid.UUID
    deployment_id: uuid.UUID
    name: str

    @property
    def full_name(self) -> str:
        return f"{FLOW_NAME}/{self.name}"


async def find_deployment(client: PrefectClient, agent_id: uuid.UUID) -> DeploymentResponse | None:
    """The agent's deployment, found by its ``agent:<id>`` tag."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

    found = await client.read_deployments(
        deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[agent_tag(agent_id)]))
    )
    return found[0] if found else None


async def _free_name(client: PrefectClient, agent: Agent) -> str:
    """The agent's slug, or the slug plus its id's start when another agent's deployment has it."""
    from prefect.exceptions import ObjectNotFound

    name = agent_slug(agent.name)
    try:
        taken = await client.read_deployment_by_name(f"{FLOW_NAME}/{name}")
    except ObjectNotFound:
        return name
    if agent_tag(agent.id) in (taken.tags or []):
        return name
    return f"{name[:54]}-{str(agent.id)[:8]}"


def runner_deployment(
    agent: Agent, name: str, schedule: Schedule | None, *, store_location: str, work_pool: str | None = None
) -> RunnerDeployment:
    """The agent's deployment as Prefect's ``RunnerDeployment`` (for ``serve`` or a work pool)."""
    from prefect.deployments.runner import RunnerDeployment
    from prefect.runner.storage import LocalStorage

    from flows.run_agent import run_agent

    parameters: dict[str, Any] = {
        "agent_id": str(agent.id),
        "mode": schedule.mode if schedule else "automatic",
    }
    if schedule and schedule.params:
        parameters["params"] = dict(schedule.params)
    schedules = []
    if schedule is not None and schedule.active:
        from deployments.schedules import prefect_schedule

        schedules = [prefect_schedule(schedule.cron, schedule.timezone)]
    deployment = RunnerDeployment.from_flow(
        run_agent,
        name=name,
        parameters=parameters,
        schedules=schedules,
        tags=["agentctl", agent_tag(agent.id), store_tag(store_location)],
        description=f"Runs the agent {agent.name!r} ({agent.id}). {agent.description or ''}".strip(),
        work_pool_name=work_pool,
    )
    deployment.entrypoint = ENTRYPOINT
    deployment.storage = LocalStorage(str(CODE_ROOT))
    return deployment


async def apply_agent_deployment(
    client: PrefectClient,
    agent: Agent,
    schedule: Schedule | None,
    *,
    store_location: str,
    work_pool: str | None = None,
) -> tuple[DeployedAgent, RunnerDeployment]:
    """Create or update the agent's deployment (same id as before, whatever the agent is called now)."""
    existing = await find_deployment(client, agent.id)
    name = existing.name if existing is not None else await _free_name(client, agent)
    if existing is not None and work_pool is None:
        work_pool = existing.work_pool_name
    deployment = runner_deployment(agent, name, schedule, store_location=store_location, work_pool=work_pool)
    deployment_id = await deployment.aapply(work_pool_name=work_pool)
    await _replace_schedules(client, deployment_id, deployment)
    return DeployedAgent(agent.id, deployment_id, name), deployment


async def _replace_schedules(
    client: PrefectClient, deployment_id: uuid.UUID, deployment: RunnerDeployment
) -> None:
    """Make the server's schedules exactly the deployment's, and drop runs the old ones had planned.

    An update keeps old schedules, and their already-scheduled runs, otherwise; new schedules get
    their runs planned by the server at once.
    """
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    current = await client.read_deployment_schedules(deployment_id)
    wanted = [s.schedule for s in deployment.schedules or [] if s.schedule is not None]
    if [c.schedule for c in current] == wanted:
        return
    for schedule in current:
        await client.delete_deployment_schedule(deployment_id, schedule.id)
    scheduled = FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
    planned = await client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
        flow_run_filter=FlowRunFilter(state=scheduled),
    )
    for run in planned:
        if run.auto_scheduled:
            await client.delete_flow_run(run.id)
    if wanted:
        await client.create_deployment_schedules(deployment_id, [(s, True) for s in wanted])


async def remove_agent_deployments(client: PrefectClient, agent_id: uuid.UUID) -> int:
    """Delete the agent's deployment(s) and with them their schedules; how many there were."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

    found = await client.read_deployments(
        deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[agent_tag(agent_id)]))
    )
    from prefect.exceptions import ObjectNotFound

    for deployment in found:
        # `agentctl serve` removes the deployments of deleted agents too: whoever comes second
        # finds it gone, which is the outcome both wanted.
        with contextlib.suppress(ObjectNotFound):
            await client.delete_deployment(deployment.id)
    return len(found)


async def remove_deployments_of_gone_agents(
    client: PrefectClient, store_location: str, agent_ids: set[uuid.UUID]
) -> list[uuid.UUID]:
    """Delete this store's deployments whose agent is not in ``agent_ids``; the agents they ran.

    An agent deleted while no ``serve`` ran and without a Prefect server to tell (embedded mode
    keeps deployments in Prefect's local database) left its deployment behind. Only deployments
    tagged with this store are looked at: another store's agents are not in ``agent_ids``.
    """
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags
    from prefect.exceptions import ObjectNotFound

    this_store = DeploymentFilter(tags=DeploymentFilterTags(all_=["agentctl", store_tag(store_location)]))
    gone: list[uuid.UUID] = []
    offset = 0
    while True:
        page = await client.read_deployments(deployment_filter=this_store, limit=200, offset=offset)
        offset += len(page)
        for deployment in page:
            agent_id = agent_id_of(deployment.tags or [])
            if agent_id is not None and agent_id not in agent_ids:
                gone.append(agent_id)
        if len(page) < 200:
            break
    for agent_id in gone:
        with contextlib.suppress(ObjectNotFound):
            await remove_agent_deployments(client, agent_id)
    return gone
