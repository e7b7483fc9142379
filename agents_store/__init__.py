"""Agents, their chunks, versions and runs: the models and the store (no Prefect, no Playwright)."""

from agents_store.backends import open_store
from agents_store.documents import dump_definition, load_definition
from agents_store.errors import (
    AgentctlError,
    AgentNotFound,
    AmbiguousId,
    InvalidAgent,
    StoreError,
    StoreUnavailable,
    VersionConflict,
)
from agents_store.models import Agent, AgentDefinition, Chunk, ChunkDefinition, ChunkStatus
from agents_store.settings import Settings, get_settings
from agents_store.store import AgentQuery, AgentStore

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
