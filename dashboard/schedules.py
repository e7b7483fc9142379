"""Turning an agent's schedule on, off or away — the dashboard's one call site for it.

ISSUE 6 PLUG-IN POINT: ``deployments.schedules.apply_schedule(store, agent_id, schedule | None)``
(Prefect deployment + cron) is being written on main. Until it lands, ``apply_schedule`` below
records the schedule in the store only (which every way of serving deployments reads); when it lands,
replace the body of ``apply_schedule`` with a call to it. Nothing else in the dashboard changes.
"""

from __future__ import annotations

import uuid

from pydantic import ValidationError

from agents_store.errors import InvalidAgent
from agents_store.store import AgentStore, Schedule

__all__ = ["apply_schedule", "check_cron"]


def check_cron(cron: str, timezone: str) -> None:
    """Refuse what Prefect would refuse, with its words: a cron string or time zone it cannot use.

    Raises:
        InvalidAgent: naming ``cron`` or ``timezone``.
    """
    from prefect.client.schemas.schedules import CronSchedule

    try:
        CronSchedule(cron=cron, timezone=timezone)
    except ValidationError as e:
        problem = e.errors()[0]
        field = str(problem["loc"][0]) if problem["loc"] else "cron"
        message = str(problem["msg"]).removeprefix("Value error, ")
        raise InvalidAgent(f"{field}: {message}") from e


def apply_schedule(store: AgentStore, agent_id: uuid.UUID, schedule: Schedule | None) -> Schedule | None:
    """Set (or, with None, remove) the agent's schedule; returns what is in force now."""
    # ISSUE 6: return deployments.schedules.apply_schedule(store, agent_id, schedule)
    if schedule is None:
        store.delete_schedule(agent_id)
        return None
    return store.set_schedule(schedule)
