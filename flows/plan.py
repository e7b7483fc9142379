"""``compile_agent``: a saved agent, a mode, a selection and params → a ``RunPlan``. Pure: no I/O.

Everything that can be known before the browser starts is checked here — unknown chunks, unknown
params, vars used before an action saves them, chunks that still need review — so that a mistake
costs a second, not a half-done run.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field

from agents_store.errors import ConfigError
from agents_store.models import Agent, ChunkStatus, ExtractAction, HttpAction
from agents_store.templates import references
from flows.errors import RunRefused
from tasks.errors import TemplateError
from tasks.steps import ChunkStep

__all__ = ["Mode", "RunPlan", "Selection", "compile_agent"]

Mode = Literal["automatic", "verification", "debugging"]
MODES: tuple[str, ...] = get_args(Mode)


class Selection(BaseModel):
    """Which chunks run: all (default), the listed ones, or from one to the end."""

    chunks: list[int] | None = None
    from_chunk: int | None = None


class RunPlan(BaseModel):
    """What a run will do, decided before it starts."""

    agent_id: uuid.UUID
    agent_name: str
    agent_version: int
    mode: Mode
    params: dict[str, Any]
    steps: list[ChunkStep]
    secret_uses: dict[str, list[str]] = Field(default_factory=dict)
    """Secret name → where it is used (``chunk 2 "Log in", action 1``), for clear errors."""
    headless: bool = True
    force: bool = False
    """Chunks that need review run without anyone approving them first (``--force``)."""

    @property
    def orders(self) -> list[int]:
        return [s.order for s in self.steps]

    @property
    def needs_browser(self) -> bool:
        return any(s.needs_browser for s in self.steps)


def compile_agent(
    agent: Agent,
    mode: str = "automatic",
    selection: Selection | None = None,
    params: dict[str, Any] | None = None,
    *,
    force: bool = False,
    known_vars: set[str] | None = None,
    withheld_vars: frozenset[str] = frozenset(),
) -> RunPlan:
    """The plan for running ``agent``.

    Raises:
        ConfigError: an unknown mode, chunk number or param.
        TemplateError: a template names a param that does not exist, or a var no earlier action of
            this run saves; the message names chunk and action.
        RunRefused: automatic mode with a selected chunk in ``Needs Review`` (unless ``force``).

    ``known_vars`` are vars the run starts with (restored from an earlier run's session);
    ``withheld_vars`` the ones that session could not keep, since they held a secret.
    """
    if mode not in MODES:
        raise ConfigError(f"{mode!r} is not one of {', '.join(MODES)}", field="mode")
    selection = selection or Selection()
    chosen = _select(agent, selection)
    run_params = _params(agent, params or {})
    if mode == "automatic" and not force:
        unreviewed = [c for c in chosen if c.status == ChunkStatus.NEEDS_REVIEW]
        if unreviewed:
            names = ", ".join(f'{c.order} "{c.name}"' if c.name else str(c.order) for c in unreviewed)
            one = len(unreviewed) == 1
            raise RunRefused(
                f"{'chunk' if one else 'chunks'} {names} {'needs' if one else 'need'} review: run in "
                f"verification or debugging mode to approve {'it' if one else 'them'}, or force the run "
                '(--force on agentctl run or trigger; the dashboard\'s "Run chunks that need review"; '
                '"force": true in the API)'
            )
    steps: list[ChunkStep] = []
    secret_uses: dict[str, list[str]] = {}
    problems: list[str] = []
    saved_vars: set[str] = set(known_vars or ())
    vars_setters = _vars_setters(agent)
    for chunk in chosen:
        secret_actions: list[int] = []
        templated_actions: list[int] = []
        for index, action in enumerate(chunk.actions):
            where = f"{_label(chunk.order, chunk.name)}, action {index + 1} ({action.type})"
            try:
                refs = list(references(action.model_dump(by_alias=True, exclude={"type"})))
            except TemplateError as e:
                problems.append(f"{where}: {e}")
                continue
            if refs:
                templated_actions.append(index)
            for ref in refs:
                if ref.namespace == "params" and ref.name not in run_params:
                    known = ", ".join(sorted(run_params)) or "none"
                    problems.append(
                        f"{where}: {{{{ {ref} }}}} is not a param of this agent (its params: {known})"
                    )
                elif ref.namespace == "vars" and ref.name not in saved_vars:
                    problem = _missing_var(ref.name, vars_setters, chunk.order, withheld_vars)
                    problems.append(f"{where}: {problem}")
                elif ref.namespace == "secrets":
                    secret_uses.setdefault(ref.name, []).append(where)
                    if index not in secret_actions:
                        secret_actions.append(index)
            saved = _saves_var(action)
            if saved:
                saved_vars.add(saved)
        steps.append(
            ChunkStep(
                chunk_id=chunk.id,
                order=chunk.order,
                name=chunk.name,
                actions=list(chunk.actions),
                retries=chunk.retries if chunk.retries is not None else agent.settings.retries,
                retry_delay_seconds=agent.settings.retry_delay_seconds,
                action_timeout_ms=agent.settings.action_timeout_ms,
                allow_unsafe_urls=agent.settings.allow_unsafe_urls,
                needs_review=chunk.status == ChunkStatus.NEEDS_REVIEW,
                secret_actions=secret_actions,
                templated_actions=templated_actions,
            )
        )
    if problems:
        raise TemplateError("; ".join(problems))
    return RunPlan(
        agent_id=agent.id,
        agent_name=agent.name,
        agent_version=agent.version,
        mode=mode,
        params=run_params,
        steps=steps,
        secret_uses=secret_uses,
        headless=agent.settings.headless,
        force=force,
    )


def _select(agent: Agent, selection: Selection) -> list[Any]:
    orders = [c.order for c in agent.chunks]
    if selection.chunks and selection.from_chunk is not None:
        raise ConfigError("give chunks or from_chunk, not both")
    if not agent.chunks:
        raise ConfigError(f"agent {agent.name!r} has no chunks to run")
    known = f"1..{len(orders)}"
    if selection.from_chunk is not None:
        if selection.from_chunk not in orders:
            raise ConfigError(
                f"the agent has no chunk {selection.from_chunk} (it has {known})", field="from_chunk"
            )
        return [c for c in agent.chunks if c.order >= selection.from_chunk]
    if selection.chunks:
        unknown = [n for n in selection.chunks if n not in orders]
        if unknown:
            raise ConfigError(
                f"the agent has no chunk {', '.join(map(str, unknown))} (it has {known})", field="chunks"
            )
        wanted = set(selection.chunks)
        return [c for c in agent.chunks if c.order in wanted]
    return list(agent.chunks)


def _params(agent: Agent, overrides: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(overrides) - set(agent.params))
    if unknown:
        known = ", ".join(sorted(agent.params)) or "none"
        raise ConfigError(
            f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not "
            f"{'a param' if len(unknown) == 1 else 'params'} of this agent (its params: {known})",
            field="params",
        )
    return {**agent.params, **overrides}


def _saves_var(action: Any) -> str | None:
    if isinstance(action, ExtractAction):
        return action.var
    if isinstance(action, HttpAction):
        return action.var
    return None


def _vars_setters(agent: Agent) -> dict[str, int]:
    setters: dict[str, int] = {}
    for chunk in agent.chunks:
        for action in chunk.actions:
            name = _saves_var(action)
            if name and name not in setters:
                setters[name] = chunk.order
    return setters


def _missing_var(name: str, setters: dict[str, int], order: int, withheld: frozenset[str]) -> str:
    setter = setters.get(name)
    if setter is None:
        return f"{{{{ vars.{name} }}}}: no action of this agent saves a var {name!r}"
    if setter >= order:
        return f"{{{{ vars.{name} }}}} is used before chunk {setter} saves it"
    if name in withheld:
        return (
            f"{{{{ vars.{name} }}}} held a secret when the session this run starts from was saved, and "
            f"saved sessions never keep secrets: run from chunk {setter}, which saves it"
        )
    return f"{{{{ vars.{name} }}}} is saved by chunk {setter}, which this run does not include"


def _label(order: int, name: str | None) -> str:
    return f'chunk {order} "{name}"' if name else f"chunk {order}"
