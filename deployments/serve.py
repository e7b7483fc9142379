"""``agentctl serve``: every agent's deployment served from one long-running process.

Prefect's ``Runner`` (what ``prefect.serve`` uses) runs the scheduled and triggered runs of the
deployments it was given. Agents change while it runs, so every ``poll_seconds`` the store is read
again: a new agent gets its deployment, a renamed or rescheduled one has it updated (same id), a
deleted one has it removed. A change is picked up within one poll interval. At start, the
deployments of this store's agents deleted while no serve ran are removed (each deployment is
tagged with its store; several stores can share one Prefect server).

Stopping (Ctrl+C, SIGTERM, ``stop``) pauses the schedules of the deployments only this process
runs, as Prefect's own ``serve`` does — their runs would otherwise pile up, late, for a runner that
is gone — and the next ``serve`` resumes them. A deployment on a work pool has workers of its own:
it is kept up to date here but run only by its workers (a runner here would race them for its
runs), and never paused here. An agent moved to a pool while serve runs stays in its runner until
the next serve (Prefect's ``Runner`` cannot drop a deployment); Prefect's orchestration still lets
only one of them start each run (a second move to Pending is refused).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

from agents_store.models import Agent
from agents_store.store import AgentStore, Schedule
from deployments.agent_deployments import (
    apply_agent_deployment,
    remove_agent_deployments,
    remove_deployments_of_gone_agents,
)
from deployments.operations import all_agents

__all__ = ["serve_agents"]

logger = logging.getLogger("agentctl.serve")


def _fingerprint(agent: Agent, schedule: Schedule | None) -> tuple[object, ...]:
    sched = (
        (
            schedule.cron,
            schedule.timezone,
            schedule.mode,
            tuple(sorted(schedule.params.items())),
            schedule.active,
        )
        if schedule
        else None
    )
    return (agent.name, agent.description, sched)


async def serve_agents(
    store: AgentStore,
    *,
    poll_seconds: float = 10.0,
    limit: int | None = None,
    on_change: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until ``stop`` is set (or forever)."""
    from prefect import get_client
    from prefect.runner import Runner

    runner = Runner(
        name="agentctl-serve", limit=limit, query_seconds=min(poll_seconds, 5.0), pause_on_shutdown=False
    )
    served: dict[uuid.UUID, tuple[object, ...]] = {}
    served_only: dict[uuid.UUID, uuid.UUID] = {}  # agent id → its deployment, when no work pool has it
    say = on_change or (lambda message: logger.info("%s", message))

    async def sync_once(*, first: bool = False) -> None:
        agents = await asyncio.to_thread(all_agents, store)
        schedules = {s.agent_id: s for s in await asyncio.to_thread(store.list_schedules)}
        async with get_client() as client:
            if first:  # agents deleted while no serve ran; later deletes are seen below
                for gone in await remove_deployments_of_gone_agents(
                    client, store.location, {a.id for a in agents}
                ):
                    say(f"removed the deployment of deleted agent {gone}")
            for agent in agents:
                fingerprint = _fingerprint(agent, schedules.get(agent.id))
                if served.get(agent.id) == fingerprint:
                    continue
                info, deployment = await apply_agent_deployment(
                    client, agent, schedules.get(agent.id), store_location=store.location
                )
                if deployment.work_pool_name is None:
                    await runner.aadd_deployment(deployment)
                    served_only[agent.id] = info.deployment_id
                    say(f"{'updated' if agent.id in served else 'serving'} {info.full_name} ({agent.name})")
                else:
                    # Its pool's workers run it; a runner here would poll the same runs and race them.
                    served_only.pop(agent.id, None)
                    say(
                        f"{'updated' if agent.id in served else 'kept'} {info.full_name} ({agent.name}) "
                        f"on work pool {deployment.work_pool_name!r}: its workers run it"
                    )
                served[agent.id] = fingerprint
            for gone in set(served) - {a.id for a in agents}:
                await remove_agent_deployments(client, gone)
                served.pop(gone)
                served_only.pop(gone, None)
                say(f"removed the deployment of deleted agent {gone}")

    await sync_once(first=True)

    async def keep_in_sync() -> None:
        while stop is None or not stop.is_set():
            await asyncio.sleep(poll_seconds)
            try:
                await sync_once()
            except Exception:
                logger.exception("could not bring deployments up to date; trying again next poll")

    async def stop_when_asked() -> None:
        if stop is None:
            await asyncio.Event().wait()
        else:
            await stop.wait()
        await runner.astop()

    syncing = asyncio.get_running_loop().create_task(keep_in_sync())
    stopping = asyncio.get_running_loop().create_task(stop_when_asked())
    try:
        # Returns once the runner stops: ``stop``, or a SIGTERM (Prefect's runner handles it).
        await runner.start()
    finally:
        syncing.cancel()
        stopping.cancel()
        await _pause(list(served_only.values()))


async def _pause(deployment_ids: list[uuid.UUID]) -> None:
    """Pause these deployments' schedules; a failure is logged, since the process is going down anyway.

    One moved to a work pool since (``agentctl deploy --pool`` while serve ran) is its workers' now:
    pausing it stopped their schedules.
    """
    from prefect import get_client

    async with get_client() as client:
        for deployment_id in deployment_ids:
            try:
                if (await client.read_deployment(deployment_id)).work_pool_name:
                    continue
                await client.pause_deployment(deployment_id)
            except Exception as e:  # noqa: BLE001 - stopping must not fail on one deployment
                logger.warning("could not pause deployment %s: %s", deployment_id, e)
