"""``/api/agents``: list, create, read, edit, duplicate, download, delete — and their errors."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest

from agents_store.documents import dump_definition, load_definition
from agents_store.models import Agent, ChunkStatus
from agents_store.store import AgentStore
from tests.dashboard.conftest import LOOM, agent_yaml

MakeAgent = Callable[..., Agent]
OTHER_LOOM = "https://www.loom.com/share/0123456789abcdef0123456789abcdef"


def error_of(answer: httpx.Response, status: int) -> dict[str, object]:
    """The one error shape, checked; returns the error object."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"}
    assert {"code", "message", "field", "problems"} <= set(body["error"])
    error: dict[str, object] = body["error"]
    return error


async def test_list_filters_sorts_and_pages(
    api: httpx.AsyncClient, local_agent: MakeAgent, store: AgentStore
) -> None:
    for name in ("Pay invoices", "archive mail", "Book travel"):
        local_agent(name)
    failing = local_agent("Chase payments")
    store.update_chunk_status(failing.chunks[0].id, ChunkStatus.FAILED)

    page = (await api.get("/api/agents", params={"sort": "name", "order": "asc"})).json()
    assert [a["name"] for a in page["items"]] == [
        "archive mail",
        "Book travel",
        "Chase payments",
        "Pay invoices",
    ]
    assert page["total"] == 4
    assert set(page["items"][0]) >= {
        "id",
        "name",
        "description",
        "status",
        "created_at",
        "updated_at",
        "last_run_at",
    }

    newest = (await api.get("/api/agents")).json()["items"]
    assert newest[0]["name"] == "Chase payments"  # updated last; default order: newest first

    found = (await api.get("/api/agents", params={"q": "PAY"})).json()
    assert sorted(a["name"] for a in found["items"]) == ["Chase payments", "Pay invoices"]
    failed = (await api.get("/api/agents", params={"status": "Failed"})).json()
    assert [a["name"] for a in failed["items"]] == ["Chase payments"]

    first = (await api.get("/api/agents", params={"sort": "name", "order": "asc", "limit": 2})).json()
    second = (
        await api.get("/api/agents", params={"sort": "name", "order": "asc", "limit": 2, "offset": 2})
    ).json()
    assert [a["name"] for a in first["items"] + second["items"]] == [a["name"] for a in page["items"]]


async def test_list_bad_query_is_a_422_naming_the_parameter(api: httpx.AsyncClient) -> None:
    assert error_of(await api.get("/api/agents", params={"limit": 0}), 422)["field"] == "limit"
    assert error_of(await api.get("/api/agents", params={"sort": "colour"}), 422)["field"] == "sort"
    assert error_of(await api.get("/api/agents", params={"status": "Happy"}), 422)["field"] == "status"
    # The list page's status is "a status or empty": one problem, without pydantic's member names.
    page = await api.get("/", params={"status": "Bogus"})
    assert page.status_code == 422
    assert "status: Input should be" in page.text
    assert "literal" not in page.text
    assert "str-enum" not in page.text


async def test_create_from_an_agent_file_with_the_loom_url_entered(api: httpx.AsyncClient) -> None:
    answer = await api.post("/api/agents", json={"loom_url": OTHER_LOOM, "document": agent_yaml("New one")})

    assert answer.status_code == 201, answer.text
    agent = answer.json()
    assert agent["name"] == "New one"
    assert agent["loom_url"] == OTHER_LOOM
    assert agent["version"] == 1
    assert [c["order"] for c in agent["chunks"]] == [1, 2, 3]
    assert agent["chunks"][0]["actions_yaml"].startswith("- {type: goto, url: ")
    assert (await api.get(f"/api/agents/{agent['id']}")).json() == agent


async def test_create_refuses_a_broken_file_naming_chunk_action_and_field(api: httpx.AsyncClient) -> None:
    document = f"""name: Broken
loom_url: {LOOM}
chunks:
- name: Open
  actions: [{{type: goto, url: 'https://example.test'}}]
- name: Log in
  actions:
  - {{type: fill, selector: '#user', value: me}}
  - {{type: click}}
"""
    error = error_of(await api.post("/api/agents", json={"document": document}), 422)
    assert error["field"] == "document"
    assert error["message"] == 'chunk 2 "Log in", action 2 (click): selector: field required'

    bad_loom = error_of(
        await api.post("/api/agents", json={"loom_url": "https://vimeo.com/1", "document": document}), 422
    )
    assert bad_loom["field"] == "loom_url"
    assert str(bad_loom["message"]).startswith("loom_url: not a Loom video URL")

    malformed = error_of(await api.post("/api/agents", json={"document": "name: [unclosed"}), 422)
    assert malformed["field"] == "document"
    assert "malformed YAML at line 1" in str(malformed["message"])

    missing = error_of(await api.post("/api/agents", json={"loom_url": LOOM}), 422)
    assert missing["field"] == "document"
    unknown = error_of(await api.post("/api/agents", json={"document": "x", "colour": "red"}), 422)
    assert unknown["field"] == "colour"
    assert (await api.get("/api/agents")).json()["total"] == 0


async def test_unknown_ids_are_404(api: httpx.AsyncClient) -> None:
    missing = uuid.uuid4()
    for method, path in (
        ("GET", f"/api/agents/{missing}"),
        ("DELETE", f"/api/agents/{missing}"),
        ("POST", f"/api/agents/{missing}/duplicate"),
        ("GET", f"/api/agents/{missing}/document"),
        ("GET", f"/api/agents/{missing}/versions"),
        ("GET", f"/api/agents/{missing}/schedule"),
        ("GET", f"/api/agents/{missing}/exports"),
        ("GET", f"/api/runs/{missing}"),
        ("GET", f"/api/runs/{missing}/logs"),
        ("GET", f"/api/runs/{missing}/files/x.png"),
    ):
        error = error_of(await api.request(method, path), 404)
        assert error["code"] == "not_found", path
    assert error_of(await api.get("/api/agents/not-a-uuid"), 422)["field"] == "agent_id"


async def test_edit_metadata_saves_a_version_and_refuses_a_stale_edit(
    api: httpx.AsyncClient, local_agent: MakeAgent
) -> None:
    agent = local_agent()
    url = f"/api/agents/{agent.id}"

    edited = await api.patch(url, json={"version": 1, "name": "Pay supplier invoices", "description": ""})

    assert edited.status_code == 200, edited.text
    assert edited.json()["name"] == "Pay supplier invoices"
    assert edited.json()["description"] is None
    assert edited.json()["version"] == 2
    again = await api.patch(url, json={"version": 2, "name": "Pay supplier invoices", "description": ""})
    assert again.json()["version"] == 2  # the form saved unchanged made a "no change" version 3
    stale = error_of(await api.patch(url, json={"version": 1, "name": "Mine"}), 409)
    assert stale["code"] == "version_conflict"
    assert "was changed by someone else: you edited version 1, it is now at version 2" in str(
        stale["message"]
    )
    assert (await api.get(url)).json()["name"] == "Pay supplier invoices"
    assert error_of(await api.patch(url, json={"version": 2, "name": "  "}), 422)["field"] == "name"
    assert error_of(await api.patch(url, json={"version": 2}), 422)["field"] == "name"
    assert error_of(await api.patch(url, json={"name": "x"}), 422)["field"] == "version"
    assert error_of(await api.patch(url, json={"version": 2, "name": "x" * 201}), 422)["field"] == "name"


async def test_duplicate_download_and_delete(
    api: httpx.AsyncClient, local_agent: MakeAgent, store: AgentStore
) -> None:
    agent = local_agent("Pay invoices")

    copy = await api.post(f"/api/agents/{agent.id}/duplicate")
    assert copy.status_code == 201
    assert copy.json()["name"] == "Pay invoices (copy)"
    assert copy.json()["id"] != str(agent.id)

    download = await api.get(f"/api/agents/{agent.id}/document")
    assert download.status_code == 200
    assert download.headers["content-disposition"] == 'attachment; filename="pay-invoices.yaml"'
    assert download.text == dump_definition(agent.definition())
    assert load_definition(download.content) == agent.definition()
    as_json = await api.get(f"/api/agents/{agent.id}/document", params={"format": "json"})
    assert as_json.headers["content-type"].startswith("application/json")
    assert as_json.json()["name"] == "Pay invoices"
    assert (
        error_of(await api.get(f"/api/agents/{agent.id}/document", params={"format": "xml"}), 422)["field"]
        == "format"
    )

    deleted = await api.delete(f"/api/agents/{agent.id}")
    assert deleted.status_code == 204
    assert error_of(await api.get(f"/api/agents/{agent.id}"), 404)["code"] == "not_found"
    assert [a.name for a in store.list_agents().items] == ["Pay invoices (copy)"]


async def test_a_download_holding_a_pasted_secret_value_is_refused(
    api: httpx.AsyncClient, local_agent: MakeAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the git exports refuse it: someone pasted the value instead of ``{{ secrets.NAME }}``."""
    monkeypatch.setenv("AGENTCTL_SECRET_PORTAL_PASSWORD", "pasted-Zk7781")
    agent = local_agent("Pasted", params={"password": "pasted-Zk7781"})
    answer = await api.get(f"/api/agents/{agent.id}/document")
    error = error_of(answer, 422)
    assert error["code"] == "export_rejected"
    assert "pasted.yaml contains the value of AGENTCTL_SECRET_PORTAL_PASSWORD" in error["message"]
    assert "Zk7781" not in answer.text


async def test_a_body_that_is_not_json_is_a_400_bad_request(
    api: httpx.AsyncClient, local_agent: Callable[..., Agent]
) -> None:
    """docs/dashboard.md promises ``bad_request`` (400) for a body that is not JSON: it was a 422
    ``invalid`` whose "field" was a character offset ("14")."""
    agent = local_agent()
    headers = {"Content-Type": "application/json"}
    for method, url, content in [
        ("PATCH", f"/api/agents/{agent.id}", '{"version": 1,'),
        ("POST", "/api/agents", "not json"),
    ]:
        answer = await api.request(method, url, content=content, headers=headers)
        body = error_of(answer, 400)
        assert body["code"] == "bad_request"
        assert body["field"] is None
        assert str(body["message"]).startswith("the request body is not valid JSON (at character ")
    assert (await api.get(f"/api/agents/{agent.id}")).json()["version"] == agent.version  # unchanged
    assert (await api.get("/api/agents")).json()["total"] == 1  # nothing new


async def test_a_list_page_past_the_end_says_so_and_links_back(
    api: httpx.AsyncClient, local_agent: MakeAgent
) -> None:
    """It said "No agents yet. Create one" above a count of the agents, with no way back."""
    local_agent()
    page = await api.get("/", params={"page": 5, "sort": "name", "order": "asc"})
    assert page.status_code == 200
    assert "Page 5 is past the end: 1 agent fills 1 page." in page.text
    assert 'href="?q=&amp;status=&amp;sort=name&amp;order=asc&amp;page=1" rel="last"' in page.text
    assert "No agents yet" not in page.text
