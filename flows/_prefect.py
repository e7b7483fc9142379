"""The Prefect client a flow run already has: opening a new one per call costs a connection, and
closing it waits for its transports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient

__all__ = ["run_client"]


@asynccontextmanager
async def run_client() -> AsyncIterator[PrefectClient]:
    """The run's own client inside a flow run; a new one (closed afterwards) outside."""
    from prefect.client.utilities import get_or_create_client

    client, inferred = get_or_create_client()
    if inferred:
        yield client
        return
    async with client:
        yield client
