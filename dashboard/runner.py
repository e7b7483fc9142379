"""Runs started from the dashboard: the real ``run_agent`` flow, as a task of the dashboard's event loop.

A request is checked before anything starts (``prepare_run`` and the secrets the plan needs), so a
bad request is a 422 at once rather than a failed flow run. The flow run is created in Prefect first,
so its id is known — and returned — before the run begins; the run itself then proceeds in the
background and writes its progress to the store like any other run. Until it has written its run
record, the launcher is the only one who knows about it, and says "Starting".
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agents_store.models import Agent
from agents_store.store import AgentStore
from dashboard.schemas import RunIn
from flows._prefect import PrefectClients
from flows.host_signals import SigtermHandler, current_sigterm_handler, sigterm_handled_by
from flows.plan import Selection
from flows.preflight import prepare_run

__all__ = ["LaunchedRun", "RunLauncher"]

logger = logging.getLogger("dashboard")  # not under "agentctl": runs give that logger Prefect's API handler


@dataclass
class LaunchedRun:
    flow_run_id: uuid.UUID
    agent_id: uuid.UUID
    mode: str
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    task: asyncio.Task[Any] | None = None
    error: str | None = None
    """Why the flow ended before it wrote a run record (e.g. Prefect refused it)."""

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()


class RunLauncher:
    """Starts and keeps track of the runs this dashboard process started."""

    def __init__(self, store: AgentStore, runs_dir: Path) -> None:
        self.store = store
        self.runs_dir = runs_dir
        self._runs: dict[uuid.UUID, LaunchedRun] = {}
        self._prefect = PrefectClients()
        self._opening = asyncio.Lock()
        self.sigterm_handler: SigtermHandler = None

    def keep_sigterm_handler(self) -> None:
        """The server's SIGTERM handler stays in place while runs are live (called as it starts)."""
        self.sigterm_handler = current_sigterm_handler()

    def get(self, flow_run_id: uuid.UUID) -> LaunchedRun | None:
        return self._runs.get(flow_run_id)

    async def start(self, agent: Agent, request: RunIn) -> LaunchedRun:
        """Check the request, create the flow run, and start it in the background.

        Raises:
            ConfigError: an unknown chunk, param or mode (the message starts with the field).
            TemplateError: a template names something that will not exist, or a secret is not set.
            RunRefused: chunks need review (automatic mode without ``force``).
            PrefectUnavailable: ``PREFECT_API_URL`` names no Prefect API that answers now.
        """
        from prefect.states import Pending

        from flows.prefect_ui import require_prefect_api
        from flows.run_agent import resolve_plan_secrets, run_agent

        selection = Selection(chunks=request.chunks or None, from_chunk=request.from_chunk)
        prepared = await asyncio.to_thread(
            prepare_run,
            self.store,
            str(agent.id),
            request.mode,
            selection,
            request.params or None,
            request.force,
            runs_dir=self.runs_dir,
        )
        # Asked now, with a new client: the kept clients, once connected, retry a refused connection
        # for about a minute (the request hung 73 s, then answered 500).
        await asyncio.to_thread(require_prefect_api, cached=False)
        await resolve_plan_secrets(prepared.plan)
        parameters: dict[str, Any] = {
            "agent_id": str(agent.id),
            "mode": request.mode,
            "chunks": selection.chunks,
            "from_chunk": selection.from_chunk,
            "params": request.params or None,
            "force": request.force,
            "headless": None,
            "session_from": str(prepared.session.run_id) if prepared.session else None,
        }
        async with self._opening:  # on the first run: Prefect is not needed to browse agents
            await self._prefect.open()
        flow_run = await self._prefect.client.create_flow_run(
            run_agent, parameters=parameters, state=Pending(), tags=["dashboard"]
        )
        launched = LaunchedRun(flow_run_id=flow_run.id, agent_id=agent.id, mode=request.mode)
        self._runs[flow_run.id] = launched
        launched.task = asyncio.get_running_loop().create_task(
            self._run(launched, flow_run, parameters), name=f"agentctl-run-{flow_run.id}"
        )
        return launched

    async def _run(self, launched: LaunchedRun, flow_run: Any, parameters: dict[str, Any]) -> None:
        from prefect.flow_engine import run_flow_async

        from flows.run_agent import run_agent

        try:
            # Every run of the dashboard on the same clients; SIGTERM stays the server's (a graceful
            # shutdown, which cancels this run: ``close``).
            with self._prefect.lent(), sigterm_handled_by(self.sigterm_handler):
                state = await run_flow_async(
                    run_agent, flow_run=flow_run, parameters=parameters, return_type="state"
                )
        except Exception as e:  # the engine itself failed: keep the reason for the run's page
            launched.error = f"{type(e).__name__}: {e}"
            logger.exception("run %s of agent %s failed to run", launched.flow_run_id, launched.agent_id)
            return
        from prefect.client.schemas.objects import State

        if isinstance(state, State) and not state.is_completed():
            launched.error = state.message or state.name
        logger.info("run %s finished: %s", launched.flow_run_id, getattr(state, "name", "no state"))

    async def close(self, wait_seconds: float = 10.0) -> None:
        """Cancel the runs still going (their flow's hooks settle them) and wait for them briefly."""
        tasks = [run.task for run in self._runs.values() if run.task is not None and not run.task.done()]
        if tasks:
            logger.warning("stopping: %d run(s) in progress end as Crashed, their chunks settled", len(tasks))
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=wait_seconds)
        await self._prefect.close()
