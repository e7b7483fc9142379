"""How agents look on the terminal and in ``--json`` output (the JSON shapes are documented)."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rich.text import Text

from cli._listing import Column, Listing

if TYPE_CHECKING:
    from agents_store.models import Agent, AgentSummary, Chunk
    from agents_store.store import AgentStore

__all__ = [
    "agent_json",
    "chunk_table",
    "failure_lines",
    "print_json",
    "run_refs",
    "summary_json",
]

STATUS_STYLE = {
    "Completed": "green",
    "Failed": "red",
    "Running": "cyan",
    "Awaiting Approval": "yellow",
    "Needs Review": "magenta",
    "Skipped": "dim",
}


def run_refs(store: AgentStore, run_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The shortest prefix (8 characters at least) of each run id that no other recorded run shares:
    what a table prints, so that ``approve``/``logs``/``step`` take it back as it is.

    Prefect's scheduler makes its runs' ids from the time (the same first 8 to 12 characters for
    runs planned together): 8 characters named several runs.
    """
    known = sorted({str(r.flow_run_id) for r in store.list_runs(limit=1000)} | {str(i) for i in run_ids})
    refs: dict[uuid.UUID, str] = {}
    for run_id in run_ids:
        text = str(run_id)
        at = known.index(text)
        neighbours = [known[i] for i in (at - 1, at + 1) if 0 <= i < len(known)]
        shared = max((_shared_start(text, other) for other in neighbours), default=0)
        refs[run_id] = text[: max(8, shared + 1)]
    return refs


def _shared_start(a: str, b: str) -> int:
    """How many characters ``a`` and ``b`` share from their start."""
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def print_json(data: Any) -> None:
    """Machine-readable output: exactly the JSON and a newline on stdout, no styling."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def summary_json(summary: AgentSummary) -> dict[str, Any]:
    """One element of ``agentctl list --json``."""
    return {
        "id": str(summary.id),
        "name": summary.name,
        "description": summary.description,
        "status": str(summary.status),
        "version": summary.version,
        "created_at": summary.created_at.isoformat(),
        "updated_at": summary.updated_at.isoformat(),
        "chunk_count": summary.chunk_count,
        "last_run_at": summary.last_run_at.isoformat() if summary.last_run_at else None,
    }


def agent_json(agent: Agent) -> dict[str, Any]:
    """``agentctl show --json``: the agent with its chunks in order."""
    return {
        "id": str(agent.id),
        "user_id": str(agent.user_id),
        "name": agent.name,
        "description": agent.description,
        "loom_url": agent.loom_url,
        "github_repo_url": agent.github_repo_url,
        "params": dict(agent.params),
        "settings": agent.settings.model_dump(mode="json"),
        "status": str(agent.status),
        "version": agent.version,
        "created_at": agent.created_at.isoformat() if agent.created_at else None,
        "updated_at": agent.updated_at.isoformat() if agent.updated_at else None,
        "chunks": [_chunk_json(c) for c in agent.chunks],
    }


def _chunk_json(chunk: Chunk) -> dict[str, Any]:
    return {
        "id": str(chunk.id),
        "order": chunk.order,
        "name": chunk.name,
        "start_time": chunk.start_time,
        "end_time": chunk.end_time,
        "status": str(chunk.status),
        "retries": chunk.retries,
        "attempts": chunk.attempts,
        "error_details": chunk.error_details,
        "learned_actions": [
            a.model_dump(mode="json", by_alias=True, exclude_none=True) for a in chunk.actions
        ],
        "last_run_id": str(chunk.last_run_id) if chunk.last_run_id else None,
        "updated_at": chunk.updated_at.isoformat() if chunk.updated_at else None,
    }


def failure_lines(chunk: Chunk) -> list[str]:
    """What ``agentctl show`` prints under the table for a failed chunk: the whole error (the table
    cuts it) and where to look next — the page, the screenshot, the run's logs. Masked already."""
    details = chunk.error_details or {}
    if chunk.status != "Failed" or not details:
        return []
    attempts = details.get("attempts")
    tries = f" after {attempts} attempt{'s' if attempts != 1 else ''}" if attempts else ""
    head = f"{chunk.label} failed{tries}"
    lines = [head, f"  {details.get('type', 'Error')}: {details.get('message', '')}"]
    if details.get("action_index") is not None and details.get("action"):
        action = json.dumps(details["action"], ensure_ascii=False)
        lines.append(f"  action {details['action_index'] + 1}: {action}")
    if details.get("selector_tried"):
        lines.append(f"  selectors tried: {', '.join(map(str, details['selector_tried']))}")
    for label, key in (("page", "page_url"), ("screenshot", "screenshot")):
        if details.get(key):
            lines.append(f"  {label}: {details[key]}")
    if details.get("flow_run_id"):
        lines.append(f"  run: {details['flow_run_id']} (agentctl logs {details['flow_run_id']})")
    return lines


CHUNK_COLUMNS = (
    Column("#"),
    Column("CHUNK", floor=12),
    Column("VIDEO"),
    Column("ACTIONS"),
    Column("STATUS"),
    Column("TRIES"),
    Column("ERROR", floor=12),
)


def chunk_table(agent: Agent) -> Listing:
    table = Listing(CHUNK_COLUMNS, [])
    for c in agent.chunks:
        video = f"{c.start_time or ''}–{c.end_time or ''}" if c.start_time or c.end_time else ""
        status = str(c.status)
        style = STATUS_STYLE.get(status, "")
        table.add(
            str(c.order),
            Text(c.name) if c.name else Text(f"chunk {c.order}", style="dim"),  # as a run's table names it
            video,
            str(len(c.actions)),
            Text(status, style=style),
            str(c.attempts) if c.attempts else "",
            Text(c.failure_summary()),
        )
    return table
