"""The global concurrency limit on browsers (``AGENTCTL_BROWSER_LIMIT``): runs queue for a browser
when every slot is taken, and nothing waits when no such limit exists."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from agents_store.models import Agent
from agents_store.settings import get_settings
from agents_store.store import AgentStore
from tests.sites import LocalSite

pytestmark = pytest.mark.browser

HOLD_SECONDS = 4.0
"""Long enough for both runs to open their browsers on a loaded 2-core machine (at 2 s, the second
run once started after the first had closed: a parallel pytest run was competing for the cores)."""


def _holding_agent(make_agent: Callable[..., Agent], store: AgentStore, base_url: str, name: str) -> Agent:
    """Opens the browser, says so, holds it a while, says it is done (to a local receiver)."""
    say = f"{base_url}/receive/limit"
    return make_agent(
        store,
        [
            {
                "name": "Hold the browser",
                "actions": [
                    {"type": "goto", "url": f"{base_url}/page/{name}"},
                    {"type": "http", "url": say, "json": {"run": name, "event": "open"}},
                    {"type": "sleep", "seconds": HOLD_SECONDS},
                    {"type": "http", "url": say, "json": {"run": name, "event": "close"}},
                ],
            }
        ],
        name=name,
    )


@pytest.fixture
def two_runs_at_once(
    sqlite_engine_store: AgentStore,
    make_agent: Callable[..., Agent],
    prefect_harness: None,
    chromium: str,
    base_url: str,
    site: LocalSite,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[int | None], list[str]]:
    """Runs two agents at once under a browser limit of ``slots`` (None: no such limit exists);
    returns the order in which they opened and finished with their browsers."""
    from prefect import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    from flows.run_agent import run_agent

    limit_name = f"browsers-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("AGENTCTL_BROWSER_LIMIT", limit_name)
    get_settings.cache_clear()
    agents = [_holding_agent(make_agent, sqlite_engine_store, base_url, name) for name in ("first", "second")]

    def run(slots: int | None) -> list[str]:
        async def both() -> list[Any]:
            if slots is not None:
                async with get_client() as client:
                    await client.create_global_concurrency_limit(
                        GlobalConcurrencyLimitCreate(name=limit_name, limit=slots)
                    )
            return await asyncio.gather(*(run_agent(str(a.id), return_state=True) for a in agents))

        states = asyncio.run(both())
        assert all(s.is_completed() for s in states), [s.message for s in states]
        bodies = [json.loads(r["body"]) for r in site.received("limit")]
        return [f"{body['run']} {body['event']}" for body in bodies]

    return run


def test_with_one_slot_the_second_run_waits_for_the_first_browser(
    two_runs_at_once: Callable[[int | None], list[str]],
) -> None:
    events = two_runs_at_once(1)
    assert len(events) == 4
    first = events[0].split()[0]
    second = "second" if first == "first" else "first"
    assert events == [f"{first} open", f"{first} close", f"{second} open", f"{second} close"]


def test_without_such_a_limit_nothing_waits(two_runs_at_once: Callable[[int | None], list[str]]) -> None:
    events = two_runs_at_once(None)
    assert sorted(events) == ["first close", "first open", "second close", "second open"]
    assert [e.split()[1] for e in events[:2]] == ["open", "open"], events
