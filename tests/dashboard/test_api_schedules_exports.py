"""Schedules (cron on/off) and the export to GitHub, through the GitHub REST double."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from agents_store.models import Agent
from agents_store.store import AgentStore
from tests.dashboard.test_api_agents import error_of
from tests.github_double import GitHubDouble

MakeAgent = Callable[..., Agent]


async def test_schedule_set_turn_off_and_remove(
    api: httpx.AsyncClient, local_agent: MakeAgent, store: AgentStore
) -> None:
    agent = local_agent(params={"base_url": "http://127.0.0.1"})
    url = f"/api/agents/{agent.id}/schedule"
    assert (await api.get(url)).json() is None

    answer = await api.put(
        url, json={"cron": "0 9 * * 1-5", "timezone": "Europe/Paris", "params": {"base_url": "x"}}
    )

    assert answer.status_code == 200, answer.text
    assert {k: answer.json()[k] for k in ("cron", "timezone", "mode", "active")} == {
        "cron": "0 9 * * 1-5",
        "timezone": "Europe/Paris",
        "mode": "automatic",
        "active": True,
    }
    off = await api.put(url, json={"cron": "0 9 * * 1-5", "active": False})
    assert off.json()["active"] is False
    assert store.list_schedules(agent.id)[0].active is False
    assert (await api.get(f"/api/agents/{agent.id}")).json()["schedule"]["active"] is False

    assert (await api.delete(url)).status_code == 204
    assert store.list_schedules(agent.id) == []
    assert (await api.get(url)).json() is None


async def test_schedule_refuses_what_prefect_would(api: httpx.AsyncClient, local_agent: MakeAgent) -> None:
    url = f"/api/agents/{local_agent().id}/schedule"
    cron = error_of(await api.put(url, json={"cron": "every monday"}), 422)
    assert cron["field"] == "cron"
    assert "cron" in str(cron["message"]).lower()
    zone = error_of(await api.put(url, json={"cron": "0 9 * * *", "timezone": "Mars/Olympus"}), 422)
    assert zone["field"] == "timezone"
    params = error_of(await api.put(url, json={"cron": "0 9 * * *", "params": {"nope": 1}}), 422)
    assert params["field"] == "params"
    assert error_of(await api.put(url, json={"cron": "0 9 * * *", "mode": "turbo"}), 422)["field"] == "mode"


async def test_an_automatic_schedule_of_an_agent_that_needs_review_is_refused(
    api: httpx.AsyncClient, local_agent: MakeAgent
) -> None:
    """Each firing would be refused (a chunk needs review) and fail in a worker's log: said once, now."""
    agent = local_agent()
    marked = await api.patch(
        f"/api/agents/{agent.id}/chunks/{agent.chunks[1].id}", json={"version": 1, "needs_review": True}
    )
    assert marked.status_code == 200, marked.text
    url = f"/api/agents/{agent.id}/schedule"
    refused = error_of(await api.put(url, json={"cron": "0 9 * * *"}), 409)
    assert "every scheduled automatic run would be refused" in str(refused["message"])
    assert "needs review" in str(refused["message"])
    assert (await api.get(url)).json() is None  # nothing was saved
    verified = await api.put(url, json={"cron": "0 9 * * *", "mode": "verification"})
    assert verified.status_code == 200, verified.text


@pytest.mark.usefixtures("prefect_harness")
async def test_the_agent_page_says_when_a_schedule_will_not_fire(
    api: httpx.AsyncClient, local_agent: MakeAgent
) -> None:
    """The card said a green "On" for a schedule no serve or worker runs (its runs pile up Late),
    and still after a chunk was marked Needs Review (every automatic firing is then refused)."""
    agent = local_agent()
    url = f"/api/agents/{agent.id}/schedule"
    assert (await api.put(url, json={"cron": "0 9 * * *"})).status_code == 200
    page = (await api.get(f"/agents/{agent.id}")).text
    assert "On · no runner" in page  # deployed in Prefect, which has seen no serve or worker poll
    assert "its scheduled runs will wait, Late, until one does" in page
    assert 'data-testid="schedule-review"' not in page

    marked = await api.patch(
        f"/api/agents/{agent.id}/chunks/{agent.chunks[1].id}", json={"version": 1, "needs_review": True}
    )
    assert marked.status_code == 200, marked.text
    page = (await api.get(f"/agents/{agent.id}")).text
    assert "Every scheduled run will be refused: chunk 2 needs review" in page
    assert (
        await api.put(url, json={"cron": "0 9 * * *", "active": False, "mode": "verification"})
    ).status_code == 200
    page = (await api.get(f"/agents/{agent.id}")).text
    assert 'data-testid="schedule-warning"' not in page
    assert 'data-testid="schedule-review"' not in page


@pytest.fixture
def gh(github_double: GitHubDouble, monkeypatch: pytest.MonkeyPatch) -> GitHubDouble:
    """The double as the dashboard's GitHub. Request it before ``api``: the app reads
    AGENTCTL_GITHUB_THROTTLE when it is created."""
    monkeypatch.setenv("GITHUB_API_URL", github_double.api_url)
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_octo")
    monkeypatch.setenv("AGENTCTL_GITHUB_THROTTLE", "false")
    return github_double


async def test_export_to_github_then_no_change(
    gh: GitHubDouble, api: httpx.AsyncClient, local_agent: MakeAgent
) -> None:
    gh.create_repo("octo/agents", auto_init=True)
    agent = local_agent("Pay invoices")
    url = f"/api/agents/{agent.id}/exports/github"

    first = await api.post(url, json={"repo": "octo/agents"})

    assert first.status_code == 200, first.text
    record = first.json()
    assert record["changed"] is True
    assert record["tag"] == "agent/pay-invoices/v2"
    assert record["commit_url"] == f"{gh.base_url}/octo/agents/commit/{record['commit_sha']}"
    second = (await api.post(url, json={"repo": "octo/agents"})).json()
    assert second["changed"] is False
    assert second["commit_sha"] == record["commit_sha"]
    listed = (await api.get(f"/api/agents/{agent.id}/exports")).json()
    assert [e["commit_sha"] for e in listed] == [record["commit_sha"]]  # no change: recorded once
    versions = (await api.get(f"/api/agents/{agent.id}/versions")).json()
    assert versions[0]["exports"][0]["repository"] == f"{gh.base_url}/octo/agents"


async def test_export_errors(
    gh: GitHubDouble, api: httpx.AsyncClient, local_agent: MakeAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"/api/agents/{local_agent().id}/exports/github"
    assert error_of(await api.post(url, json={"repo": "not a repo"}), 422)["field"] == "repo"
    assert (
        error_of(await api.post(url, json={"repo": "octo/agents", "path": "../up"}), 422)["field"] == "path"
    )
    missing = error_of(await api.post(url, json={"repo": "octo/nothing-here"}), 404)
    assert missing["code"] == "repository_not_found"
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_wrong")
    refused = error_of(await api.post(url, json={"repo": "octo/agents"}), 400)
    assert refused["code"] == "export_auth"
    assert "ghp_" not in str(refused["message"])
    monkeypatch.delenv("GITHUB_TOKEN")
    no_token = error_of(await api.post(url, json={"repo": "octo/agents"}), 400)
    assert "no GitHub token" in str(no_token["message"])


@pytest.mark.usefixtures("prefect_harness")
async def test_deleting_an_agent_removes_its_deployment_and_schedule(
    api: httpx.AsyncClient, local_agent: MakeAgent
) -> None:
    """The dashboard's delete removed the agent from the store only: its deployment stayed in
    Prefect and its schedule kept creating runs of an agent that no longer existed."""
    from prefect import get_client

    from deployments.agent_deployments import find_deployment

    agent = local_agent()

    async def deployment() -> object:
        async with get_client() as client:
            return await find_deployment(client, agent.id)

    scheduled = await api.put(f"/api/agents/{agent.id}/schedule", json={"cron": "*/5 * * * *"})
    assert scheduled.status_code == 200, scheduled.text
    assert await deployment() is not None

    assert (await api.delete(f"/api/agents/{agent.id}")).status_code == 204

    assert await deployment() is None
