from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agents_store.backends import open_store
from agents_store.documents import parse_definition
from agents_store.models import Agent
from agents_store.settings import get_settings
from agents_store.store import AgentStore
from tests.factories import LOOM
from tests.sites import LocalSite


def _engine_store(url: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AgentStore]:
    """The store the flow writes to (the flow opens it from AGENTCTL_DATABASE_URL, as in production)."""
    monkeypatch.setenv("AGENTCTL_DATABASE_URL", url)
    monkeypatch.setenv("AGENTCTL_HOME", str(home))
    get_settings.cache_clear()
    store = open_store(url)
    yield store
    store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine_store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AgentStore]:
    """The engine's store, on SQLite and on PostgreSQL."""
    url = (
        f"sqlite:///{tmp_path / 'engine.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    yield from _engine_store(url, tmp_path / "home", monkeypatch)


@pytest.fixture
def sqlite_engine_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AgentStore]:
    yield from _engine_store(f"sqlite:///{tmp_path / 'engine.db'}", tmp_path / "home", monkeypatch)


@pytest.fixture
def make_agent() -> Callable[..., Agent]:
    def make(store: AgentStore, chunks: list[dict[str, Any]], **extra: Any) -> Agent:
        doc = {"name": extra.pop("name", "Engine test"), "loom_url": LOOM, "chunks": chunks, **extra}
        doc.setdefault("settings", {"retries": 0, "retry_delay_seconds": 0, "action_timeout_ms": 3000})
        return store.create(parse_definition(doc))

    return make


@pytest.fixture
def run_flow(prefect_harness: None, chromium: str) -> Callable[..., Any]:
    """Run the real flow (under the session's Prefect harness); returns its final state."""
    from flows.run_agent import run_agent

    def run(agent: Agent, **kwargs: Any) -> Any:
        return asyncio.run(run_agent(str(agent.id), return_state=True, **kwargs))  # type: ignore[call-overload]

    return run


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch, site: LocalSite) -> str:
    monkeypatch.setenv("AGENTCTL_SECRET_DEMO_PASSWORD", site.demo.password)
    return site.demo.password
