"""The store a flow run writes to, opened once per process (a worker runs many flow runs)."""

from __future__ import annotations

import threading

from agents_store.backends import open_store
from agents_store.settings import get_settings
from agents_store.store import AgentStore

__all__ = ["flow_store"]

_stores: dict[str, AgentStore] = {}
_lock = threading.Lock()


def flow_store(url: str | None = None) -> AgentStore:
    """The store at ``url`` (default: the settings' database URL), shared within the process."""
    url = url or get_settings().resolved_database_url()
    with _lock:
        store = _stores.get(url)
        if store is None:
            store = _stores[url] = open_store(url)
        return store
