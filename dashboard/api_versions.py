"""``/api/agents/{id}/versions``: the saved versions, what changed between two, and revert."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query

from agents_store.documents import dump_definition, parse_definition
from agents_store.errors import InvalidAgent, VersionNotFound
from agents_store.store import ExportRecord
from agents_store.versions import action_lines, compare_versions, history_summaries, unified_yaml_diff
from dashboard.api_agents import agent_detail
from dashboard.deps import Ctx, Dashboard, User, owned_agent
from dashboard.errors import error_responses
from dashboard.schemas import (
    MAX_VERSION,
    AgentOut,
    ChunkChangeOut,
    DiffOut,
    ExportOut,
    MetadataChange,
    RevertIn,
    VersionOut,
    VersionSnapshotOut,
)

__all__ = ["diff_of", "export_out", "router", "versions_of"]

router = APIRouter(
    prefix="/api/agents/{agent_id}", tags=["versions"], responses=error_responses(401, 403, 404)
)


def export_out(record: ExportRecord) -> ExportOut:
    return ExportOut.model_validate(record.model_dump(exclude={"id", "agent_id"}))


def versions_of(ctx: Dashboard, agent_id: uuid.UUID) -> list[VersionOut]:
    """Every version, newest first, with a one-line summary of its change and its exports."""
    exports: dict[int, list[ExportOut]] = {}
    for record in reversed(ctx.store.list_exports(agent_id)):
        exports.setdefault(record.agent_version, []).append(export_out(record))
    history = ctx.store.list_versions(agent_id)
    summaries = history_summaries([(info.version, info.snapshot) for info in history])
    out = [
        VersionOut(
            version=info.version,
            created_at=info.created_at,
            author=info.author,
            summary=summary,
            exports=exports.get(info.version, []),
        )
        for info, summary in zip(history, summaries, strict=True)
    ]
    return out[::-1]


def diff_of(ctx: Dashboard, agent_id: uuid.UUID, old: int, new: int) -> DiffOut:
    a = ctx.store.get_version(agent_id, old)
    b = ctx.store.get_version(agent_id, new)
    change = compare_versions(a.snapshot, b.snapshot)
    chunks = []
    for c in change.chunks:
        before, after = action_lines(c.old), action_lines(c.new)
        chunks.append(
            ChunkChangeOut(
                kind=c.kind,
                label=c.label,
                old_position=c.old_position,
                new_position=c.new_position,
                moved=c.moved,
                changed_fields=c.changed_fields,
                old_name=(c.old or {}).get("name"),
                new_name=(c.new or {}).get("name"),
                removed_lines=[line for line in before if line not in after],
                added_lines=[line for line in after if line not in before],
            )
        )
    try:
        unified = unified_yaml_diff(a.snapshot, b.snapshot, f"version {old}", f"version {new}")
    except InvalidAgent:  # a snapshot from a format this program no longer reads
        unified = ""
    return DiffOut(
        from_version=old,
        to_version=new,
        summary=change.summary(),
        metadata=[MetadataChange(field=f, before=x, after=y) for f, x, y in change.metadata_changes()],
        chunks=chunks,
        unified=unified,
    )


@router.get("/versions", response_model=list[VersionOut], summary="Versions")
def list_versions(ctx: Ctx, user: User, agent_id: uuid.UUID) -> list[VersionOut]:
    """Every saved version, newest first: when, who, what changed, where it was exported."""
    owned_agent(ctx, agent_id, user)
    return versions_of(ctx, agent_id)


@router.get("/versions/{version}", response_model=VersionSnapshotOut, summary="One version's file")
def get_version(
    ctx: Ctx, user: User, agent_id: uuid.UUID, version: Annotated[int, Path(ge=1, le=MAX_VERSION)]
) -> VersionSnapshotOut:
    """The agent file as it was at ``version``."""
    owned_agent(ctx, agent_id, user)
    info = ctx.store.get_version(agent_id, version)
    try:
        text = dump_definition(parse_definition(info.snapshot))
    except InvalidAgent as e:
        raise VersionNotFound(f"version {version} cannot be read: {e}") from e
    return VersionSnapshotOut(version=info.version, created_at=info.created_at, author=info.author, yaml=text)


@router.get("/diff", response_model=DiffOut, summary="What changed between two versions")
def diff_versions(
    ctx: Ctx,
    user: User,
    agent_id: uuid.UUID,
    from_version: Annotated[int, Query(alias="from", ge=1, le=MAX_VERSION)],
    to_version: Annotated[int, Query(alias="to", ge=1, le=MAX_VERSION)],
) -> DiffOut:
    """Chunk by chunk (added, removed, renamed, edited, moved), plus a unified diff of the YAML."""
    owned_agent(ctx, agent_id, user)
    return diff_of(ctx, agent_id, from_version, to_version)


@router.post(
    "/revert", response_model=AgentOut, responses=error_responses(409, 422), summary="Revert to a version"
)
def revert(ctx: Ctx, user: User, agent_id: uuid.UUID, body: RevertIn) -> AgentOut:
    """Save a new version equal to ``to_version`` (history is kept)."""
    agent = owned_agent(ctx, agent_id, user)
    if agent.version != body.version:
        from agents_store.errors import VersionConflict

        raise VersionConflict(str(agent_id), body.version, agent.version)
    ctx.store.revert(agent_id, body.to_version, user_id=user.user_id, author=user.author)
    return agent_detail(ctx, agent_id, user.user_id)
