"""The global concurrency limit on browsers: a run holds a slot of it while its browser is open."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from flows._prefect import run_client

__all__ = ["BrowserLimit"]


class BrowserLimit:
    """The Prefect global concurrency limit named ``name``, looked up as soon as the run starts.

    Asking Prefect for a slot of a limit that does not exist waits and retries for seconds, so the
    limit is looked up first; that is a round trip to the server (20-60 ms here), made while the run
    loads its agent and starts its first chunk rather than when the browser is about to open. When
    no such limit exists, or it is inactive, nothing is limited and nothing waits.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._lookup: asyncio.Task[bool] = asyncio.get_running_loop().create_task(
            self._is_active(), name=f"agentctl-limit-{name}"
        )

    async def _is_active(self) -> bool:
        from prefect.exceptions import ObjectNotFound

        async with run_client() as client:
            try:
                limit = await client.read_global_concurrency_limit_by_name(self.name)
            except ObjectNotFound:
                return False
        return bool(limit.active)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot of the limit for the block (wait for one when all are taken).

        The slot is taken and given back by a task of its own: Prefect's ``concurrency`` must be
        left in the task that entered it, and a run opens its browser inside a chunk but closes it
        at its end, alongside other work, in another task.
        """
        if not await self._lookup:
            yield
            return
        loop = asyncio.get_running_loop()
        taken: asyncio.Future[None] = loop.create_future()
        done = asyncio.Event()
        holder = loop.create_task(self._hold(taken, done), name=f"agentctl-slot-{self.name}")
        try:
            await asyncio.wait([taken, holder], return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # cancelled while queueing for a slot
            holder.cancel()
            await asyncio.wait([holder])
            raise
        if not taken.done():
            holder.result()  # raises why no slot could be taken
        try:
            yield
        finally:
            done.set()
            await asyncio.wait([holder])
            failure = None if holder.cancelled() else holder.exception()
        if failure is not None:
            raise failure

    async def _hold(self, taken: asyncio.Future[None], done: asyncio.Event) -> None:
        from prefect.concurrency.asyncio import concurrency

        async with concurrency(self.name, occupy=1, strict=False):
            taken.set_result(None)
            await done.wait()

    async def close(self) -> None:
        """End a lookup nobody used (a run of HTTP actions only, or one that failed before)."""
        if not self._lookup.done():
            self._lookup.cancel()
            await asyncio.wait([self._lookup])
        if not self._lookup.cancelled():
            self._lookup.exception()  # read, so an unused lookup's failure is not reported as lost
