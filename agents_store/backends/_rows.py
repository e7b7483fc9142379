"""Agents and chunks as table rows, and back: shared by the SQL stores and the Supabase store.

Both talk to the same tables (``agents``, ``chunks``), one through SQLAlchemy and one through the
Supabase Data API, so the mapping between a row and the model lives here once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from agents_store.models import Agent, Chunk

__all__ = ["agent_columns", "agent_from_rows", "by_id_then_name", "chunk_columns", "stamped"]


def agent_columns(agent: Agent) -> dict[str, Any]:
    """The definition columns of the ``agents`` row (identity, version and times are the store's)."""
    return {
        "name": agent.name,
        "description": agent.description,
        "loom_url": agent.loom_url,
        "github_repo_url": agent.github_repo_url,
        "params": dict(agent.params),
        "settings": agent.settings.model_dump(mode="json"),
    }


def chunk_columns(chunk: Chunk) -> dict[str, Any]:
    """The ``chunks`` row of a chunk, without ``agent_id`` and the timestamps."""
    return {
        "id": chunk.id,
        "order": chunk.order,
        "name": chunk.name,
        "start_time": chunk.start_time,
        "end_time": chunk.end_time,
        "status": chunk.status.value,
        "retries": chunk.retries,
        "learned_actions": [a.model_dump(mode="json", by_alias=True) for a in chunk.actions],
        "error_details": chunk.error_details,
        "attempts": chunk.attempts,
        "last_run_id": chunk.last_run_id,
    }


def agent_from_rows(row: Mapping[Any, Any], chunk_rows: Sequence[Mapping[Any, Any]]) -> Agent:
    """The agent from its ``agents`` row and its ``chunks`` rows (in order)."""
    chunk_models = [
        Chunk.model_validate(
            {
                "id": c["id"],
                "order": c["order"],
                "name": c["name"],
                "start_time": c["start_time"],
                "end_time": c["end_time"],
                "status": c["status"],
                "retries": c["retries"],
                "actions": c["learned_actions"],
                "error_details": c["error_details"],
                "attempts": c["attempts"],
                "last_run_id": c["last_run_id"],
                "updated_at": c["updated_at"],
            }
        )
        for c in chunk_rows
    ]
    return Agent.model_validate(
        {
            "id": row["id"],
            "user_id": row["user_id"],
            "name": row["name"],
            "description": row["description"],
            "loom_url": row["loom_url"],
            "github_repo_url": row["github_repo_url"],
            "params": row["params"],
            "settings": row["settings"],
            "version": row["version"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "chunks": chunk_models,
        }
    )


def stamped(agent: Agent, *, version: int, created_at: datetime, updated_at: datetime) -> Agent:
    """The saved agent as ``get`` would return it, without reading it back."""
    return agent.model_copy(
        update={
            "version": version,
            "created_at": created_at,
            "updated_at": updated_at,
            "chunks": [c.model_copy(update={"updated_at": updated_at}) for c in agent.chunks],
        }
    )


def by_id_then_name(by_id: Iterable[uuid.UUID], by_name: Iterable[uuid.UUID], limit: int) -> list[uuid.UUID]:
    """The agents a ref names by id prefix and by name, each once: an agent named like another's id
    prefix ("40483a38") makes the ref ambiguous, rather than silently meaning the other agent."""
    return list(dict.fromkeys([*by_id, *by_name]))[:limit]
