"""``/api/agents/{id}/chunks``: rename, re-order, edit actions, mark for review. Each save is a version."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from dashboard.api_agents import agent_detail
from dashboard.deps import Ctx, User, owned_agent
from dashboard.edits import edit_chunk, reorder_chunks
from dashboard.errors import about_field, error_responses
from dashboard.schemas import AgentOut, ChunkEdit, ChunkReorder

__all__ = ["router"]

router = APIRouter(
    prefix="/api/agents/{agent_id}/chunks",
    tags=["chunks"],
    responses=error_responses(401, 403, 404, 409, 422),
)


@router.put("/order", response_model=AgentOut, summary="Re-order the chunks")
def reorder(ctx: Ctx, user: User, agent_id: uuid.UUID, body: ChunkReorder) -> AgentOut:
    """Put the chunks in the order of ``chunk_ids`` (every chunk's id once)."""
    agent = owned_agent(ctx, agent_id, user)
    with about_field("chunk_ids"):
        edited = reorder_chunks(agent, body.chunk_ids)
    if edited != agent:  # the order it already has makes no "no change" version
        ctx.store.save(edited, expected_version=body.version, author=user.author)
    return agent_detail(ctx, agent_id, user.user_id)


@router.patch("/{chunk_id}", response_model=AgentOut, summary="Edit a chunk")
def edit(ctx: Ctx, user: User, agent_id: uuid.UUID, chunk_id: uuid.UUID, body: ChunkEdit) -> AgentOut:
    """Rename the chunk, replace its actions (YAML), or mark it Needs Review / reviewed.

    An invalid action is a 422 whose message names the chunk, the action and the field; an edit of
    a version someone has saved over since is a 409, and nothing is written.
    """
    agent = owned_agent(ctx, agent_id, user)
    with about_field("actions_yaml" if body.actions_yaml is not None else "name"):
        edited = edit_chunk(
            agent,
            chunk_id,
            name=body.name,
            rename="name" in body.model_fields_set,
            actions_yaml=body.actions_yaml,
            needs_review=body.needs_review,
        )
    if edited != agent:  # saving the form unchanged makes no version
        ctx.store.save(edited, expected_version=body.version, author=user.author)
    return agent_detail(ctx, agent_id, user.user_id)
