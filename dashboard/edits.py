"""Edits people make in the dashboard, as pure functions: an agent in, the edited agent out.

Each edit is checked against the agent format by validating the whole edited document, so an error
reads like an import error (``chunk 3 "Log in", action 2 (click): selector: field required``). The
edited agent keeps its chunks' ids — the engine and the run history refer to them — and a chunk
keeps its run state unless its actions changed (a status earned by other actions says nothing about
the new ones). Saving, and refusing a stale edit, is the store's job.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from agents_store.documents import definition_to_dict, parse_definition, parse_document_text
from agents_store.errors import AgentNotFound, InvalidAgent
from agents_store.models import Agent, AgentDefinition, Chunk, ChunkStatus, loom_video_id

__all__ = ["checked_loom_url", "edit_chunk", "edit_metadata", "new_definition", "reorder_chunks"]


def checked_loom_url(url: str | None) -> str | None:
    """The Loom URL a person entered, trimmed; None when left blank.

    Raises:
        InvalidAgent: it is not a Loom share or embed URL.
    """
    if url is None or not url.strip():
        return None
    try:
        loom_video_id(url.strip())
    except ValueError as e:
        raise InvalidAgent(f"loom_url: {e}") from e
    return url.strip()


def new_definition(document: str, loom_url: str | None = None) -> AgentDefinition:
    """The agent file the analysis produced, for the Loom video the person entered (which replaces
    the file's own ``loom_url``).

    Raises:
        InvalidAgent: the text breaks the format (``problems`` lists each problem).
    """
    data = parse_document_text(document)
    if loom_url is not None and isinstance(data, Mapping):
        data = {**data, "loom_url": loom_url}
    return parse_definition(data)


def edit_metadata(agent: Agent, *, name: str | None = None, description: str | None = None) -> Agent:
    """A new name and/or description (``description=""`` clears it).

    Raises:
        InvalidAgent: the name is empty or too long.
    """
    doc = definition_to_dict(agent.definition())
    if name is not None:
        doc["name"] = name
    if description is not None:
        doc["description"] = description or None
    definition = parse_definition(doc)
    return agent.model_copy(update={"name": definition.name, "description": definition.description})


def _index(agent: Agent, chunk_id: uuid.UUID) -> int:
    for index, chunk in enumerate(agent.chunks):
        if chunk.id == chunk_id:
            return index
    raise AgentNotFound(f"agent {agent.id} has no chunk {chunk_id}")


def _actions(text: str, label: str) -> list[Any]:
    try:
        data = parse_document_text(text)
    except InvalidAgent as e:
        raise InvalidAgent(f"{label}: actions: {e}") from e
    if data is None:
        return []
    if not isinstance(data, list):
        raise InvalidAgent(
            f"{label}: actions: write a list, one action per line: - {{type: click, selector: …}}"
        )
    return data


def edit_chunk(
    agent: Agent,
    chunk_id: uuid.UUID,
    *,
    name: str | None = None,
    rename: bool = False,
    actions_yaml: str | None = None,
    needs_review: bool | None = None,
) -> Agent:
    """Rename a chunk (``rename=True``; a blank name removes it), replace its actions, mark it
    ``Needs Review`` (True) or reviewed (False).

    Raises:
        AgentNotFound: the agent has no such chunk.
        InvalidAgent: the actions do not parse or break the format; the message names the chunk
            and action.
    """
    index = _index(agent, chunk_id)
    old = agent.chunks[index]
    doc = definition_to_dict(agent.definition())
    chunk_doc = doc["chunks"][index]
    label = old.label
    if rename:
        chunk_doc["name"] = (name or "").strip() or None
        label = old.model_copy(update={"name": chunk_doc["name"]}).label  # errors name it as edited
    if actions_yaml is not None:
        chunk_doc["actions"] = _actions(actions_yaml, label)
    definition = parse_definition(doc).chunks[index]
    actions_changed = [a.model_dump() for a in old.actions] != [a.model_dump() for a in definition.actions]
    update: dict[str, Any] = {"name": definition.name, "actions": definition.actions}
    status = old.status
    if actions_changed:
        update.update(error_details=None, attempts=0, last_run_id=None)
        if status != ChunkStatus.NEEDS_REVIEW:
            status = ChunkStatus.NOT_STARTED
    if needs_review is True:
        status = ChunkStatus.NEEDS_REVIEW
    elif needs_review is False and status == ChunkStatus.NEEDS_REVIEW:
        status = ChunkStatus.NOT_STARTED
    if (status == ChunkStatus.NEEDS_REVIEW) != (old.status == ChunkStatus.NEEDS_REVIEW):
        # A person changed the mark: a run still going on this chunk no longer writes it (a forced
        # run put its own mark back over the review).
        update["last_run_id"] = None
    update["status"] = status
    chunks = list(agent.chunks)
    chunks[index] = old.model_copy(update=update)
    return agent.model_copy(update={"chunks": chunks})


def reorder_chunks(agent: Agent, chunk_ids: list[uuid.UUID]) -> Agent:
    """The same chunks in a new order, numbered 1..n.

    Raises:
        InvalidAgent: ``chunk_ids`` is not every chunk's id exactly once.
    """
    by_id: dict[uuid.UUID, Chunk] = {c.id: c for c in agent.chunks}
    if len(chunk_ids) != len(by_id) or set(chunk_ids) != set(by_id):
        raise InvalidAgent(
            f"chunk_ids: give each of the agent's {len(by_id)} chunk ids exactly once, in the new order"
        )
    chunks = [
        by_id[chunk_id].model_copy(update={"order": n}) for n, chunk_id in enumerate(chunk_ids, start=1)
    ]
    return agent.model_copy(update={"chunks": chunks})
