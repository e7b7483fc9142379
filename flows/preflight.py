"""What can be checked before Prefect or a browser starts: the agent exists, its plan compiles, and
the session a run from the middle starts with is there.

Kept free of Prefect imports so the CLI can refuse a bad run in a fraction of a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents_store.models import Agent
from agents_store.store import AgentStore
from flows.plan import RunPlan, Selection, compile_agent
from flows.session import SavedSession, find_session

__all__ = ["Prepared", "prepare_run"]


@dataclass
class Prepared:
    agent: Agent
    plan: RunPlan
    session: SavedSession | None = None


def prepare_run(
    store: AgentStore,
    agent_ref: str,
    mode: str,
    selection: Selection,
    params: dict[str, Any] | None,
    force: bool = False,
    *,
    runs_dir: Path | None = None,
    session_from: str | None = None,
) -> Prepared:
    """Load the agent, find the session to start from (``from_chunk`` > 1), and compile the plan.

    Raises:
        AgentNotFound, AmbiguousId: ``agent_ref`` names no agent, or several.
        ConfigError: ``session_from`` names a run without that session; see also ``compile_agent``.
        TemplateError, RunRefused: see ``compile_agent``.
    """
    agent = store.get(store.resolve(agent_ref))
    session = None
    if runs_dir is not None and selection.from_chunk is not None and selection.from_chunk > 1:
        session = find_session(store, runs_dir, agent.id, selection.from_chunk - 1, session_from)
    known_vars = set(session.vars) if session else None
    plan = compile_agent(agent, mode, selection, params, force=force, known_vars=known_vars)
    return Prepared(agent, plan, session)
