"""What can be checked before Prefect or a browser starts: the agent exists and its plan compiles.

Kept free of Prefect imports so the CLI can refuse a bad run in a fraction of a second.
"""

from __future__ import annotations

from typing import Any

from agents_store.models import Agent
from agents_store.store import AgentStore
from flows.plan import RunPlan, Selection, compile_agent

__all__ = ["prepare_run"]


def prepare_run(
    store: AgentStore,
    agent_ref: str,
    mode: str,
    selection: Selection,
    params: dict[str, Any] | None,
    force: bool = False,
) -> tuple[Agent, RunPlan]:
    """Load the agent and compile its plan.

    Raises:
        AgentNotFound, AmbiguousId: ``agent_ref`` names no agent, or several.
        ConfigError, TemplateError, RunRefused: see ``compile_agent``.
    """
    agent = store.get(store.resolve(agent_ref))
    return agent, compile_agent(agent, mode, selection, params, force=force)
