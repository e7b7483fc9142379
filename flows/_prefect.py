"""Prefect's API clients: the one a flow run already has, and clients kept across the flow runs of a
long-lived process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient
    from prefect.context import AsyncClientContext, SyncClientContext

__all__ = ["PrefectClients", "run_client"]


@asynccontextmanager
async def run_client() -> AsyncIterator[PrefectClient]:
    """The run's own client inside a flow run; a new one (closed afterwards) outside.

    Opening a new one per call costs a connection, and closing it waits for its transports.
    """
    from prefect.client.utilities import get_or_create_client

    client, inferred = get_or_create_client()
    if inferred:
        yield client
        return
    async with client:
        yield client


class PrefectClients:
    """Prefect's API clients opened once and lent to every flow run a long-lived process starts.

    Prefect's engine opens an async client for each flow run it starts (its own TLS context, a
    connection, a CSRF token) and a sync one to ask the server for its result storage, unless a
    client is already current. In the dashboard or a benchmark, which start run after run in one
    event loop, those set-ups were about 100 ms of every run's start, spent before the first chunk.

    ``async with PrefectClients():`` opens them and makes them current for the block. A process
    whose runs start in tasks of their own (which have contextvars of their own) opens them once
    with ``open()``, wraps each run in ``lent()`` and calls ``close()`` at its end.
    """

    def __init__(self) -> None:
        self._async: AsyncClientContext | None = None
        self._sync: SyncClientContext | None = None
        self._lending: AbstractContextManager[None] = nullcontext()

    @property
    def is_open(self) -> bool:
        return self._async is not None

    async def open(self) -> None:
        """Connect both clients (in embedded mode this starts Prefect's temporary server)."""
        from prefect.context import AsyncClientContext, SyncClientContext

        if self._async is not None:
            return
        kept_async = AsyncClientContext()
        await kept_async.client.__aenter__()
        try:
            kept_sync = SyncClientContext()
            kept_sync.client.__enter__()
        except BaseException:
            await kept_async.client.__aexit__(None, None, None)
            raise
        self._async, self._sync = kept_async, kept_sync

    async def close(self) -> None:
        kept_async, kept_sync = self._async, self._sync
        self._async = self._sync = None
        try:
            if kept_sync is not None:
                kept_sync.client.__exit__(None, None, None)
        finally:
            if kept_async is not None:
                await kept_async.client.__aexit__(None, None, None)

    @property
    def client(self) -> PrefectClient:
        """The kept async client (the one ``get_client()`` returns while they are lent)."""
        if self._async is None:
            raise RuntimeError("the Prefect clients are not open")
        return self._async.client

    @contextmanager
    def lent(self) -> Iterator[None]:
        """Make the kept clients the current ones for this asyncio task, until the block ends."""
        if self._async is None or self._sync is None:
            raise RuntimeError("the Prefect clients are not open")
        from prefect.context import AsyncClientContext, SyncClientContext

        async_token = AsyncClientContext.__var__.set(self._async)
        sync_token = SyncClientContext.__var__.set(self._sync)
        try:
            yield
        finally:
            SyncClientContext.__var__.reset(sync_token)
            AsyncClientContext.__var__.reset(async_token)

    async def __aenter__(self) -> PrefectClients:
        await self.open()
        self._lending = self.lent()
        self._lending.__enter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            self._lending.__exit__(*exc_info)
        finally:
            await self.close()
