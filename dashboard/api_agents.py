"""``/api/agents``: find, read, create, edit, duplicate, download and delete agents."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status

from agents_store.models import AgentStatus
from agents_store.slug import agent_slug
from agents_store.store import NEWEST_FIRST_SORTS, AgentPage, AgentQuery, SortKey
from dashboard.deps import Ctx, Dashboard, User, owned_agent
from dashboard.edits import checked_loom_url, edit_metadata, new_definition
from dashboard.errors import ApiError, about_field, error_responses
from dashboard.schemas import AgentCreate, AgentOut, AgentUpdate
from dashboard.views import agent_out

__all__ = ["agent_detail", "agent_query", "router"]

router = APIRouter(prefix="/api/agents", tags=["agents"], responses=error_responses(401, 403, 422))


def agent_query(
    user_id: uuid.UUID,
    q: str | None,
    status_: AgentStatus | None,
    sort: SortKey,
    order: Literal["asc", "desc"] | None,
    limit: int,
    offset: int,
) -> AgentQuery:
    """The list query; newest first for times and A→Z otherwise unless ``order`` says."""
    descending = order == "desc" if order else sort in NEWEST_FIRST_SORTS
    return AgentQuery(
        text=q or None,
        status=status_,
        sort=sort,
        descending=descending,
        limit=limit,
        offset=offset,
        user_id=user_id,
    )


@router.get("", response_model=AgentPage, summary="List agents (filter, sort, page)")
def list_agents(
    ctx: Ctx,
    user: User,
    q: Annotated[str | None, Query(max_length=200, description="Text in the name or description.")] = None,
    status_: Annotated[AgentStatus | None, Query(alias="status")] = None,
    sort: SortKey = "updated_at",
    order: Literal["asc", "desc"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """One page of the user's agents, filtered and sorted in the database."""
    page = ctx.store.list_agents(agent_query(user.user_id, q, status_, sort, order, limit, offset))
    # Serialised straight from the store's model: this is the hot path of the dashboard.
    return Response(page.model_dump_json(), media_type="application/json")


def agent_detail(ctx: Dashboard, agent_id: uuid.UUID, user_id: uuid.UUID) -> AgentOut:
    agent = ctx.store.get(agent_id, user_id=user_id)
    schedules = ctx.store.list_schedules(agent_id)
    return agent_out(agent, ctx.runs_dir, schedules[0] if schedules else None)


@router.post(
    "",
    response_model=AgentOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create an agent from an agent file",
)
def create_agent(ctx: Ctx, user: User, body: AgentCreate) -> AgentOut:
    """Save the agent file (YAML or JSON text) as a new agent of the signed-in user."""
    with about_field("loom_url"):
        loom_url = checked_loom_url(body.loom_url)
    with about_field("document"):
        definition = new_definition(body.document, loom_url)
    agent = ctx.store.create(definition, user_id=user.user_id, author=user.author)
    return agent_detail(ctx, agent.id, user.user_id)


@router.get("/{agent_id}", response_model=AgentOut, responses=error_responses(404), summary="One agent")
def get_agent(ctx: Ctx, user: User, agent_id: uuid.UUID) -> AgentOut:
    """The agent with its chunks in order: status, attempts, errors and links to their evidence."""
    return agent_detail(ctx, agent_id, user.user_id)


@router.patch(
    "/{agent_id}", response_model=AgentOut, responses=error_responses(404, 409), summary="Rename or describe"
)
def update_agent(ctx: Ctx, user: User, agent_id: uuid.UUID, body: AgentUpdate) -> AgentOut:
    """Change the name and/or description: a new version (409 when someone saved since ``version``)."""
    if body.name is None and body.description is None:
        raise ApiError(422, "invalid", "nothing to change: give name and/or description", field="name")
    agent = owned_agent(ctx, agent_id, user)
    with about_field("name" if body.name is not None else "description"):
        edited = edit_metadata(agent, name=body.name, description=body.description)
    if edited.definition() != agent.definition():  # the form saved unchanged makes no "no change" version
        ctx.store.save(edited, expected_version=body.version, author=user.author)
    return agent_detail(ctx, agent_id, user.user_id)


@router.delete(
    "/{agent_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(404, 409, 503),
    summary="Delete",
)
def delete_agent(ctx: Ctx, user: User, agent_id: uuid.UUID) -> Response:
    """Delete the agent with its chunks, versions, runs, schedule and export records, and its
    Prefect deployment; 409 ``agent_in_use`` while one of its runs is running or paused; 503
    ``prefect_unavailable`` when Prefect does not answer, and nothing is deleted."""
    from deployments.operations import delete_agent as delete_with_deployment
    from flows.prefect_ui import require_prefect_api

    owned_agent(ctx, agent_id, user)  # a 404 for no such agent, whether Prefect answers or not
    require_prefect_api(cached=False)  # before deleting: its deployment is removed after the agent
    delete_with_deployment(ctx.store, agent_id, user_id=user.user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{agent_id}/duplicate",
    response_model=AgentOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(404),
    summary="Duplicate",
)
def duplicate_agent(ctx: Ctx, user: User, agent_id: uuid.UUID) -> AgentOut:
    """An independent copy named "… (copy)"."""
    copy = ctx.store.duplicate(agent_id, user_id=user.user_id, author=user.author)
    return agent_detail(ctx, copy.id, user.user_id)


@router.get(
    "/{agent_id}/document",
    responses={
        **error_responses(404, 422),
        200: {"content": {"application/yaml": {}, "application/json": {}}},
    },
    response_class=Response,
    summary="Download the agent file",
)
def download_agent(
    ctx: Ctx,
    user: User,
    agent_id: uuid.UUID,
    format_: Annotated[Literal["yaml", "json"], Query(alias="format")] = "yaml",
) -> Response:
    """The byte-stable agent file (what ``agentctl export`` writes), as a download."""
    from export.files import exported_document

    agent = owned_agent(ctx, agent_id, user)
    filename = f"{agent_slug(agent.name)}.{format_}"
    text = exported_document(agent.definition(), format_, filename)
    media = "application/yaml" if format_ == "yaml" else "application/json"
    return Response(
        text.encode("utf-8"),
        media_type=f"{media}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
