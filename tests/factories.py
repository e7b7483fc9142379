"""Agent documents for tests, built from the format (not from the store)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from agents_store.documents import parse_definition
from agents_store.models import Agent, AgentDefinition
from agents_store.store import RunRecord, RunStatus

LOOM = "https://www.loom.com/share/4f3c2a1b0d9e8f7a6b5c4d3e2f1a0b9c"


def demo_sign_in(base_url: str) -> list[dict[str, Any]]:
    """Signing in to the demo app (tests/sites.py) with the password in ``{{ secrets.DEMO_PASSWORD }}``."""
    return [
        {"type": "goto", "url": f"{base_url}/"},
        {"type": "fill", "selector": "#username", "value": "demo"},
        {"type": "fill", "selector": "#password", "value": "{{ secrets.DEMO_PASSWORD }}"},
        {"type": "click", "selector": "#login"},
        {"type": "wait_for_url", "url": "**/records"},
    ]


def chunk_doc(name: str, actions: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "actions": actions
        if actions is not None
        else [{"type": "goto", "url": f"https://example.test/{name}"}],
        **extra,
    }


def agent_doc(name: str = "Test agent", chunks: int = 3, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema_version": 1,
        "name": name,
        "description": f"{name}: does things",
        "loom_url": LOOM,
        "chunks": [chunk_doc(f"Step {i}") for i in range(1, chunks + 1)],
    }
    doc.update(extra)
    return doc


def definition(name: str = "Test agent", chunks: int = 3, **extra: Any) -> AgentDefinition:
    return parse_definition(agent_doc(name, chunks, **extra))


def run_record(agent_id: uuid.UUID, **fields: Any) -> RunRecord:
    """A run record of ``agent_id`` as a finished automatic run of version 1 leaves it; ``fields``
    override (``flow_run_id``, ``status``, ``mode``, ``awaiting``, ``pid``…)."""
    values: dict[str, Any] = {
        "flow_run_id": uuid.uuid4(),
        "agent_id": agent_id,
        "agent_version": 1,
        "mode": "automatic",
        "status": RunStatus.COMPLETED,
        "started_at": datetime.now(UTC),
    }
    return RunRecord(**{**values, **fields})


def paused_run_record(agent: Agent, pid: int) -> RunRecord:
    """A verification run of ``agent`` waiting for the approval of its first chunk, run by ``pid``
    on this host (a live pid keeps it paused; a dead one has the dashboard settle it)."""
    import socket

    awaiting = {"kind": "approval", "order": 1, "chunk_id": str(agent.chunks[0].id), "key": "approve-x"}
    return run_record(
        agent.id,
        status=RunStatus.PAUSED,
        mode="verification",
        awaiting=awaiting,
        host=socket.gethostname(),
        pid=pid,
    )
