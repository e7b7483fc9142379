"""Agents, their chunks, versions and runs: the models and the store (no Prefect, no Playwright).

The public names below are loaded on first use, so that importing one submodule (``errors``, say)
does not pull in SQLAlchemy and every model: ``agentctl list`` starts faster for it.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "open_store": "agents_store.backends",
    "dump_definition": "agents_store.documents",
    "load_definition": "agents_store.documents",
    "AgentctlError": "agents_store.errors",
    "AgentNotFound": "agents_store.errors",
    "AmbiguousId": "agents_store.errors",
    "InvalidAgent": "agents_store.errors",
    "StoreError": "agents_store.errors",
    "StoreUnavailable": "agents_store.errors",
    "VersionConflict": "agents_store.errors",
    "Agent": "agents_store.models",
    "AgentDefinition": "agents_store.models",
    "Chunk": "agents_store.models",
    "ChunkDefinition": "agents_store.models",
    "ChunkStatus": "agents_store.models",
    "Settings": "agents_store.settings",
    "get_settings": "agents_store.settings",
    "AgentQuery": "agents_store.store",
    "AgentStore": "agents_store.store",
}

__all__ = [
    "Agent",
    "AgentDefinition",
    "AgentNotFound",
    "AgentQuery",
    "AgentStore",
    "AgentctlError",
    "AmbiguousId",
    "Chunk",
    "ChunkDefinition",
    "ChunkStatus",
    "InvalidAgent",
    "Settings",
    "StoreError",
    "StoreUnavailable",
    "VersionConflict",
    "dump_definition",
    "get_settings",
    "load_definition",
    "open_store",
]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'agents_store' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)
