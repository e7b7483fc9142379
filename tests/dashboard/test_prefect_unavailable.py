"""The dashboard with ``PREFECT_API_URL`` at a Prefect server that is down: every route that needs
Prefect answers 503 ``prefect_unavailable`` within seconds, with the CLI's line, and changes nothing.

A user walkthrough found a run start hanging 73 s and then answering 500, and a schedule change
answering 500 with the new cron saved in the store while Prefect still had the old one.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from agents_store.models import Agent
from agents_store.store import AgentStore, RunStatus, Schedule
from tests.dashboard.test_api_agents import error_of

MakeAgent = Callable[..., Agent]

WITHIN_SECONDS = 15.0
"""A few seconds for the check (a new client; a refused connection is not retried), with slack for CI."""


@pytest.fixture
def prefect_down(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``PREFECT_API_URL`` at a port on 127.0.0.1 that nothing listens on (before ``api``)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api"
    monkeypatch.setenv("PREFECT_API_URL", url)
    with temporary_settings({PREFECT_API_URL: url}):  # over the session's harness, if it started
        yield url


async def refused(call: Any, url: str) -> dict[str, object]:
    """The error of ``call`` (an API request), checked to be the quick 503 naming ``url``."""
    started = time.monotonic()
    answer = await call
    assert time.monotonic() - started < WITHIN_SECONDS
    error = error_of(answer, 503)
    assert error["code"] == "prefect_unavailable", error
    assert str(error["message"]).startswith(f"PREFECT_API_URL={url}: no server answers there"), error
    assert "`agentctl server`" in str(error["message"])
    return error


async def test_a_run_is_refused_with_prefect_down(
    prefect_down: str, api: httpx.AsyncClient, local_agent: MakeAgent, store: AgentStore
) -> None:
    agent = local_agent()
    await refused(api.post(f"/api/agents/{agent.id}/runs", json={"mode": "verification"}), prefect_down)
    assert store.list_runs(agent.id) == []


async def test_a_schedule_change_with_prefect_down_keeps_the_stored_schedule(
    prefect_down: str, api: httpx.AsyncClient, local_agent: MakeAgent, store: AgentStore
) -> None:
    agent = local_agent()
    store.set_schedule(Schedule(agent_id=agent.id, cron="0 9 * * *"))
    url = f"/api/agents/{agent.id}/schedule"

    await refused(api.put(url, json={"cron": "30 18 * * *"}), prefect_down)
    await refused(api.delete(url), prefect_down)

    assert [s.cron for s in store.list_schedules(agent.id)] == ["0 9 * * *"]
    assert (await api.get(url)).json()["cron"] == "0 9 * * *"


async def test_prefect_stopping_after_the_check_leaves_the_stored_schedule_as_it_was(
    prefect_down: str,
    api: httpx.AsyncClient,
    local_agent: MakeAgent,
    store: AgentStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check passed, then the deployment's update failed: the new cron had stayed in the store."""
    import flows.prefect_ui

    monkeypatch.setattr(flows.prefect_ui, "require_prefect_api", lambda **_: None)
    agent = local_agent()
    url = f"/api/agents/{agent.id}/schedule"

    await refused(api.put(url, json={"cron": "30 18 * * *"}), prefect_down)
    assert store.list_schedules(agent.id) == []

    store.set_schedule(Schedule(agent_id=agent.id, cron="0 9 * * *"))
    await refused(api.put(url, json={"cron": "30 18 * * *", "active": False}), prefect_down)
    await refused(api.delete(url), prefect_down)
    assert [(s.cron, s.active) for s in store.list_schedules(agent.id)] == [("0 9 * * *", True)]


async def test_a_delete_with_prefect_down_deletes_nothing(
    prefect_down: str, api: httpx.AsyncClient, local_agent: MakeAgent, store: AgentStore
) -> None:
    """Deleted from the store, then 500: its deployment stayed in Prefect, scheduling a missing agent."""
    agent = local_agent()
    await refused(api.delete(f"/api/agents/{agent.id}"), prefect_down)
    assert store.get(agent.id).name == agent.name
    assert error_of(await api.delete(f"/api/agents/{uuid.uuid4()}"), 404)["code"] == "not_found"


async def test_a_decision_with_prefect_down_is_refused(
    prefect_down: str, api: httpx.AsyncClient, local_agent: MakeAgent, store: AgentStore
) -> None:
    from tests.factories import paused_run_record

    agent = local_agent()
    record = paused_run_record(agent, os.getpid())  # alive (this process): not settled on the way
    store.record_run(record)

    answer = api.post(
        f"/api/runs/{record.flow_run_id}/decision", json={"decision": "approve", "pause_key": "approve-x"}
    )
    await refused(answer, prefect_down)
    assert store.get_run(record.flow_run_id).status == RunStatus.PAUSED
