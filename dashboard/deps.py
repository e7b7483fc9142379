"""What every route shares: the dashboard's parts, the signed-in user, and ownership checks.

Ownership is checked by asking the store with the user's id: another user's agent — and so its
runs and their files — is "not found", never "forbidden", so its existence does not leak.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from agents_store.errors import AgentNotFound
from agents_store.models import Agent
from agents_store.settings import Settings
from agents_store.store import AgentStore, RunRecord
from dashboard.auth import Authenticator, Principal
from dashboard.coalesce import Coalesced
from dashboard.config import AccessSettings
from dashboard.runner import LaunchedRun, RunLauncher

__all__ = ["Ctx", "Dashboard", "FoundRun", "User", "find_run", "owned_agent"]


@dataclass
class Dashboard:
    """The parts of one dashboard app (``app.state.dashboard``)."""

    store: AgentStore
    settings: Settings
    access: AccessSettings
    auth: Authenticator
    launcher: RunLauncher
    settling: Coalesced[object] | None = field(default=None, repr=False)
    """The shared ``settle_dead_runs`` (set up on first use, in the app's event loop)."""

    @property
    def runs_dir(self) -> Path:
        return self.settings.runs_dir()


async def _dashboard(request: Request) -> Dashboard:
    # async on purpose: FastAPI runs a plain ``def`` dependency in a worker thread, a hop per request.
    dashboard: Dashboard = request.app.state.dashboard
    return dashboard


async def _user(request: Request) -> Principal:
    dashboard: Dashboard = request.app.state.dashboard
    return dashboard.auth.authenticate(request)


Ctx = Annotated[Dashboard, Depends(_dashboard)]
User = Annotated[Principal, Depends(_user)]


def owned_agent(ctx: Dashboard, agent_id: uuid.UUID, user: Principal) -> Agent:
    """The user's agent.

    Raises:
        AgentNotFound: no such agent, or another user's.
    """
    return ctx.store.get(agent_id, user_id=user.user_id)


@dataclass
class FoundRun:
    """A run of one of the user's agents: its record (once written) and/or this process's launch."""

    agent: Agent
    record: RunRecord | None
    launched: LaunchedRun | None


def find_run(ctx: Dashboard, flow_run_id: uuid.UUID, user: Principal) -> FoundRun:
    """The run, if it belongs to one of the user's agents.

    Raises:
        AgentNotFound: no such run, or a run of another user's agent.
    """
    try:
        record: RunRecord | None = ctx.store.get_run(flow_run_id)
    except AgentNotFound:
        record = None
    launched = ctx.launcher.get(flow_run_id)
    agent_id = record.agent_id if record else launched.agent_id if launched else None
    try:
        if agent_id is None:
            raise AgentNotFound(f"no run {flow_run_id}")
        agent = owned_agent(ctx, agent_id, user)
    except AgentNotFound as e:
        raise AgentNotFound(f"no run {flow_run_id}") from e
    return FoundRun(agent, record, launched)
