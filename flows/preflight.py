"""What can be checked before Prefect or a browser starts: the agent exists, its plan compiles, and
the session a run from the middle starts with is there.

Kept free of Prefect imports so the CLI can refuse a bad run in a fraction of a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents_store.errors import ConfigError
from agents_store.models import Agent, HttpAction
from agents_store.store import AgentStore
from agents_store.templates import references
from flows.errors import RunRefused
from flows.plan import RunPlan, Selection, compile_agent
from flows.session import SavedSession, find_session
from tasks.errors import TemplateError
from tasks.secrets import HostBinding, env_secret_hosts, url_host
from tasks.templating import TemplateContext, render

__all__ = ["Prepared", "check_secret_hosts", "http_secrets", "prepare_run"]


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
    """Load the agent, find the session to start from, and compile the plan.

    A run that starts after chunk 1 (``--from-chunk 3``, or ``--chunk 3`` alone) starts with the
    session chunk 2 left: a chunk's actions assume the page and the sign-in of the chunks before it.

    Raises:
        AgentNotFound, AmbiguousId: ``agent_ref`` names no agent, or several.
        ConfigError: ``session_from`` names a run without that session; see also ``compile_agent``.
        TemplateError, RunRefused: see ``compile_agent``.
        RunRefused: an ``http`` action would send a secret to a host its ``_HOSTS`` binding (from
            the environment; the flow checks Prefect blocks too) does not list.
    """
    agent = store.get(store.resolve(agent_ref))
    session = None
    first = selection.from_chunk if selection.from_chunk is not None else min(selection.chunks or [1])
    if session_from is not None and first == 1:
        raise ConfigError(
            "--session-from: a run from chunk 1 starts with no saved session; give it with "
            "--from-chunk N or --chunk N (N > 1)"
        )
    exists = any(c.order == first for c in agent.chunks)  # else compile_agent says so, unwarned
    if runs_dir is not None and first > 1 and exists:
        session = find_session(store, runs_dir, agent.id, first - 1, session_from)
    known_vars = set(session.vars) if session else None
    withheld = session.withheld_vars if session else frozenset()
    plan = compile_agent(
        agent, mode, selection, params, force=force, known_vars=known_vars, withheld_vars=withheld
    )
    check_secret_hosts(plan, env_secret_hosts(plan.secret_uses))
    return Prepared(agent, plan, session)


_PLACEHOLDER = "agentctl-secret-placeholder"


def http_secrets(plan: RunPlan) -> set[str]:
    """The names of the secrets some ``http`` action of the plan uses."""
    names: set[str] = set()
    for step in plan.steps:
        for action in step.actions:
            if isinstance(action, HttpAction):
                data = action.model_dump(by_alias=True, exclude={"type"})
                names |= {r.name for r in references(data) if r.namespace == "secrets"}
    return names


def check_secret_hosts(plan: RunPlan, bindings: dict[str, HostBinding]) -> None:
    """Refuse the run when an ``http`` action with a static URL (params only, no vars) sends a bound
    secret to a host its binding does not list. URLs built from vars are checked when sent
    (``tasks.run_chunk``).

    Raises:
        RunRefused: naming chunk, action, secret and host (never the secret's value).
    """
    if not bindings:
        return
    problems: list[str] = []
    for step in plan.steps:
        for index, action in enumerate(step.actions):
            if not isinstance(action, HttpAction):
                continue
            data = action.model_dump(by_alias=True, exclude={"type"})
            used = sorted({r.name for r in references(data) if r.namespace == "secrets"} & set(bindings))
            if not used:
                continue
            hidden = TemplateContext(
                params=plan.params, vars={}, secrets={name: _PLACEHOLDER for name in plan.secret_uses}
            )
            try:
                url = str(render(action.url, hidden))
            except TemplateError:
                continue  # built from vars: known only when sent
            if _PLACEHOLDER in (url_host(url) or ""):
                continue  # the host itself comes from a secret: checked when sent
            for name in used:
                if not bindings[name].allows(url):
                    problems.append(f"{step.label}, action {index + 1} (http): {bindings[name].refusal(url)}")
    if problems:
        raise RunRefused("; ".join(problems))
