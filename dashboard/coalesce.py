"""``Coalesced``: many concurrent callers of one idempotent coroutine share its runs.

Every caller still gets a run that *started after it called* (so a run killed a moment ago is seen),
but N callers arriving together cost at most two runs, not N: one in flight, and one queued that
all later arrivals share.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["Coalesced"]

T = TypeVar("T")


class Coalesced(Generic[T]):
    def __init__(self, run: Callable[[], Awaitable[T]]) -> None:
        self._run = run
        self._current: asyncio.Future[T] | None = None
        self._queued: asyncio.Future[T] | None = None

    async def __call__(self) -> T:
        if self._queued is not None:
            return await asyncio.shield(self._queued)
        current = self._current
        if current is None or current.done():
            return await asyncio.shield(self._start())
        self._queued = asyncio.ensure_future(self._after(current))
        return await asyncio.shield(self._queued)

    def _start(self) -> asyncio.Future[T]:
        self._current = asyncio.ensure_future(self._run())
        return self._current

    async def _after(self, current: asyncio.Future[T]) -> T:
        with contextlib.suppress(Exception):  # its own callers got its error
            await current
        self._queued = None  # callers from now on queue behind the run starting here
        return await self._start()
