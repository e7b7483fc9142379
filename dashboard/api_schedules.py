"""``/api/agents/{id}/schedule``: when the agent runs by itself (cron), on or off."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from agents_store.errors import InvalidAgent
from agents_store.store import Schedule
from dashboard.deps import Ctx, User, owned_agent
from dashboard.errors import ApiError, error_responses
from dashboard.schedules import apply_schedule, check_cron
from dashboard.schemas import ScheduleIn, ScheduleOut
from dashboard.views import schedule_out

__all__ = ["router"]

router = APIRouter(
    prefix="/api/agents/{agent_id}/schedule", tags=["schedules"], responses=error_responses(401, 403, 404)
)


@router.get("", response_model=ScheduleOut | None, summary="The schedule")
def get_schedule(ctx: Ctx, user: User, agent_id: uuid.UUID) -> ScheduleOut | None:
    """The agent's schedule, or null when it has none."""
    owned_agent(ctx, agent_id, user)
    found = ctx.store.list_schedules(agent_id)
    return schedule_out(found[0] if found else None)


@router.put("", response_model=ScheduleOut, responses=error_responses(422, 503), summary="Set the schedule")
def set_schedule(ctx: Ctx, user: User, agent_id: uuid.UUID, body: ScheduleIn) -> ScheduleOut:
    """Create or replace the schedule; ``active: false`` keeps it but turns it off. 503
    ``prefect_unavailable`` when Prefect does not answer: the stored schedule stays as it was."""
    agent = owned_agent(ctx, agent_id, user)
    try:
        check_cron(body.cron, body.timezone)
    except InvalidAgent as e:
        field = str(e).split(":", 1)[0]
        raise ApiError(422, "invalid", str(e), field=field) from e
    unknown = sorted(set(body.params) - set(agent.params))
    if unknown:
        raise ApiError(
            422, "invalid", f"params: {', '.join(unknown)} not a param of this agent", field="params"
        )
    schedule = Schedule(agent_id=agent_id, **body.model_dump())
    out = schedule_out(apply_schedule(ctx.store, agent_id, schedule))
    if out is None:  # apply_schedule returns None only when given None
        raise ApiError(500, "internal", "the schedule was not applied")
    return out


@router.delete(
    "", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(503), summary="Remove the schedule"
)
def delete_schedule(ctx: Ctx, user: User, agent_id: uuid.UUID) -> Response:
    """Remove the schedule (no error when there was none)."""
    owned_agent(ctx, agent_id, user)
    apply_schedule(ctx.store, agent_id, None)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
