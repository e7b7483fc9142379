"""Noticing a cancellation asked of Prefect for a run that no Prefect runner executes.

Under ``agentctl serve`` or a worker, Prefect's runner ends the run's process when someone cancels
it (the UI, ``prefect flow-run cancel``, the API). ``agentctl run`` and the dashboard execute their
runs themselves: Prefect only recorded Cancelling, and the run went on — a chunk after the cancel
added a record, the run ended Completed in our store while Prefect said Cancelling, and a paused run
waited out its whole pause timeout. The run now looks at its own state every couple of seconds, off
the browser's path, and stops before its next chunk or at the pause it waits in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from contextvars import Token
from types import TracebackType

from flows._prefect import run_client
from tasks.runtime import RUN_CANCELLED

__all__ = ["CancelWatch"]

logger = logging.getLogger("agentctl.flow")

CHECK_EVERY_SECONDS = 2.0


class CancelWatch:
    """``requested`` is set once Prefect has the run as Cancelling or Cancelled."""

    def __init__(
        self, flow_run_id: uuid.UUID, requested: asyncio.Event, every: float = CHECK_EVERY_SECONDS
    ) -> None:
        self.flow_run_id = flow_run_id
        self.every = every
        self.requested = requested
        self._task: asyncio.Task[None] | None = None
        self._token: Token[asyncio.Event | None] | None = None

    @staticmethod
    def needed() -> bool:
        """False under a Prefect runner (it starts the run's process with the run's id), which
        ends the process itself on a cancel."""
        return not os.environ.get("PREFECT__FLOW_RUN_ID")

    async def __aenter__(self) -> CancelWatch:
        if self.needed():
            self._token = RUN_CANCELLED.set(self.requested)  # the chunks' retry condition reads it
            self._task = asyncio.get_running_loop().create_task(self._watch(), name="agentctl-cancel-watch")
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._token is not None:
            RUN_CANCELLED.reset(self._token)

    async def settled(self) -> bool:
        """Whether the run was cancelled, looking once more now: a cancel that came during the last
        chunk left the run Cancelling in Prefect for good (it refuses any other end)."""
        if self.requested.is_set():
            return True
        if self._task is None:
            return False
        if await self._cancelling():
            self.requested.set()
        return self.requested.is_set()

    async def _cancelling(self) -> bool:
        from prefect.client.schemas.objects import StateType

        try:
            async with run_client() as client:
                state = (await client.read_flow_run(self.flow_run_id)).state
        except Exception as e:  # noqa: BLE001 - a missed look is retried; the run must not fail for it
            logger.debug("could not read the run's state from Prefect: %s", e)
            return False
        return state is not None and state.type in (StateType.CANCELLING, StateType.CANCELLED)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            if await self._cancelling():
                logger.warning("the run was cancelled in Prefect: it stops before its next chunk")
                self.requested.set()
                return
