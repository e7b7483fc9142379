"""Turning an agent's schedule on, off or away: the dashboard's one call site for it.

The checks and the Prefect side are ``deployments``' own (the CLI uses the same functions): the cron
and time zone are refused with the field named, and with a Prefect server configured the agent's
deployment gets the schedule at once.
"""

from __future__ import annotations

import asyncio
import uuid

from agents_store.errors import ConfigError, InvalidAgent
from agents_store.store import AgentStore, Schedule

__all__ = ["apply_schedule", "check_cron"]


def check_cron(cron: str, timezone: str) -> None:
    """Refuse a cron string or time zone that Prefect would refuse.

    Raises:
        InvalidAgent: naming ``cron`` or ``timezone``.
    """
    from deployments.schedules import make_schedule

    try:
        make_schedule(uuid.uuid4(), cron, timezone=timezone)
    except ConfigError as e:
        raise InvalidAgent(str(e)) from e


def apply_schedule(store: AgentStore, agent_id: uuid.UUID, schedule: Schedule | None) -> Schedule | None:
    """Set (or, with None, remove) the agent's schedule; returns what is in force now.

    Raises:
        PrefectUnavailable: ``PREFECT_API_URL`` names no Prefect API that answers; nothing changed
            (checked before saving, as ``agentctl schedule`` does).
    """
    from deployments.operations import apply_schedule as apply
    from flows.prefect_ui import require_prefect_api

    require_prefect_api(cached=False)
    saved, _ = asyncio.run(apply(store, agent_id, schedule))
    return saved
