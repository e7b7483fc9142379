"""Cron schedules: checked before anything is saved, and their next run times.

The store keeps each agent's schedule (``agent_schedules``); ``deployments.agent_deployments`` turns
it into the schedule of the agent's Prefect deployment. A cron has five fields (minute hour day month
weekday), or six with seconds last (``* * * * * */10``: every ten seconds); the time zone is an IANA
name.
"""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import UTC, datetime
from typing import Any

from agents_store.errors import ConfigError
from agents_store.store import Schedule

__all__ = ["make_schedule", "next_runs", "prefect_schedule"]

MODES = ("automatic", "verification", "debugging")


def make_schedule(
    agent_id: uuid.UUID,
    cron: str,
    *,
    timezone: str = "UTC",
    mode: str = "automatic",
    params: dict[str, Any] | None = None,
) -> Schedule:
    """A checked schedule.

    Raises:
        ConfigError: naming the field — ``cron``, ``timezone`` or ``mode`` — and the problem.
    """
    cron = " ".join(cron.split())
    fields = cron.split(" ")
    if len(fields) not in (5, 6) and not (len(fields) == 1 and cron.startswith("@")):
        raise ConfigError(
            f"{cron!r} has {len(fields)} field{'' if len(fields) == 1 else 's'}; use 5 "
            "(minute hour day month weekday), or 6 with seconds last, or @hourly, @daily, @weekly, "
            "@monthly, @yearly",
            field="cron",
        )
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as e:
        raise ConfigError(
            f"{timezone!r} is not a time zone (e.g. Europe/Paris, UTC)", field="timezone"
        ) from e
    if mode not in MODES:
        raise ConfigError(f"{mode!r} is not one of {', '.join(MODES)}", field="mode")
    try:
        prefect_schedule(cron, timezone)
    except ValueError as e:
        raise ConfigError(f"{cron!r} is not a valid cron expression", field="cron") from e
    if not _ever_fires(cron, timezone):
        # Valid to Prefect, yet no date matches (31 February): Prefect's scheduler and our listing
        # of next runs raised on it, and `agentctl schedules` failed for every agent.
        raise ConfigError(f"{cron!r} never fires: no date matches it", field="cron")
    return Schedule(agent_id=agent_id, cron=cron, timezone=timezone, mode=mode, params=params or {})


def prefect_schedule(cron: str, timezone: str) -> Any:
    """Prefect's ``CronSchedule`` (its validation is the one the server applies)."""
    from prefect.client.schemas.schedules import CronSchedule

    return CronSchedule(cron=cron, timezone=timezone)


def _ever_fires(cron: str, timezone: str) -> bool:
    """Whether the cron matches a date in the next years (croniter: what Prefect's scheduler uses)."""
    from prefect._vendor.croniter.croniter import croniter

    try:
        start = datetime.now(zoneinfo.ZoneInfo(timezone))
        croniter(cron, start).get_next(datetime)  # type: ignore[no-untyped-call]
    except ValueError:  # CroniterBadDateError: "failed to find next date"
        return False
    return True


async def next_runs(schedule: Schedule, count: int = 1, *, after: datetime | None = None) -> list[datetime]:
    """The next ``count`` times the schedule fires, computed as Prefect's scheduler does; none for a
    schedule that never fires (one saved before such crons were refused)."""
    from prefect.server.schemas.schedules import CronSchedule as ServerCronSchedule

    server_schedule = ServerCronSchedule(cron=schedule.cron, timezone=schedule.timezone)
    start = after or datetime.now(UTC)
    try:
        dates = await server_schedule.get_dates(n=count, start=start)
    except ValueError:
        return []
    return [d.astimezone(UTC) for d in dates]
