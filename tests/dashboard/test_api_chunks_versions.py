"""Chunk editing (rename, re-order, actions as YAML, review) and versions (list, diff, revert)."""

from __future__ import annotations

import getpass
import uuid
from collections.abc import Callable

import httpx

from agents_store.models import Agent, ChunkStatus
from agents_store.store import AgentStore
from tests.dashboard.test_api_agents import error_of

MakeAgent = Callable[..., Agent]


async def test_rename_keeps_the_chunk_and_its_run_state(
    api: httpx.AsyncClient, local_agent: MakeAgent, store: AgentStore
) -> None:
    agent = local_agent()
    chunk = agent.chunks[1]
    store.update_chunk_status(chunk.id, ChunkStatus.COMPLETED, attempts=2)

    answer = await api.patch(
        f"/api/agents/{agent.id}/chunks/{chunk.id}", json={"version": 1, "name": "Sign in"}
    )

    assert answer.status_code == 200, answer.text
    edited = answer.json()
    assert edited["version"] == 2
    renamed = edited["chunks"][1]
    assert (renamed["id"], renamed["name"], renamed["status"], renamed["attempts"]) == (
        str(chunk.id),
        "Sign in",
        "Completed",
        2,
    )
    assert store.get(agent.id).chunks[1].name == "Sign in"
    same = {"version": 2, "name": "Sign in", "actions_yaml": renamed["actions_yaml"], "needs_review": False}
    unchanged = await api.patch(f"/api/agents/{agent.id}/chunks/{chunk.id}", json=same)
    assert unchanged.json()["version"] == 2  # the editor saved as it was: no new version


async def test_edit_actions_as_yaml_with_errors_that_name_the_place(
    api: httpx.AsyncClient, local_agent: MakeAgent, store: AgentStore
) -> None:
    agent = local_agent()
    chunk = agent.chunks[2]
    store.update_chunk_status(
        chunk.id, ChunkStatus.FAILED, attempts=3, error_details={"type": "X", "message": "y"}
    )
    url = f"/api/agents/{agent.id}/chunks/{chunk.id}"

    missing = error_of(
        await api.patch(
            url,
            json={"version": 1, "actions_yaml": "- {type: goto, url: 'https://a.test'}\n- {type: click}\n"},
        ),
        422,
    )
    assert missing["field"] == "actions_yaml"
    assert missing["message"] == 'chunk 3 "Step 3", action 2 (click): selector: field required'
    unknown = error_of(
        await api.patch(url, json={"version": 1, "actions_yaml": "- {type: tap, selector: '#a'}"}), 422
    )
    assert str(unknown["message"]).startswith("chunk 3 \"Step 3\", action 1: type: unknown action type 'tap'")
    malformed = error_of(await api.patch(url, json={"version": 1, "actions_yaml": "- {type: click"}), 422)
    assert str(malformed["message"]).startswith('chunk 3 "Step 3": actions: malformed YAML at line')
    mapping = error_of(await api.patch(url, json={"version": 1, "actions_yaml": "type: click"}), 422)
    assert "write a list, one action per line" in str(mapping["message"])
    assert store.get(agent.id).version == 1  # nothing was written

    saved = await api.patch(
        url, json={"version": 1, "actions_yaml": "- {type: click, selector: ['#pay', 'text=Pay']}\n"}
    )

    assert saved.status_code == 200, saved.text
    after = saved.json()["chunks"][2]
    assert after["actions"] == [{"type": "click", "selector": ["#pay", "text=Pay"]}]
    assert after["actions_yaml"] == "- {type: click, selector: ['#pay', text=Pay]}\n"
    assert (after["status"], after["attempts"], after["error_details"]) == ("Not Started", 0, None)


async def test_mark_needs_review_then_reviewed(api: httpx.AsyncClient, local_agent: MakeAgent) -> None:
    agent = local_agent()
    url = f"/api/agents/{agent.id}/chunks/{agent.chunks[0].id}"

    marked = (await api.patch(url, json={"version": 1, "needs_review": True})).json()
    assert marked["chunks"][0]["status"] == "Needs Review"
    assert marked["status"] == "Needs Review"
    reviewed = (await api.patch(url, json={"version": 2, "needs_review": False})).json()
    assert reviewed["chunks"][0]["status"] == "Not Started"
    assert reviewed["version"] == 3
    for text in ("yes", "true", 1):  # taken for true, while an agent file refuses a boolean as text
        refused = error_of(await api.patch(url, json={"version": 3, "needs_review": text}), 422)
        assert refused["field"] == "needs_review"


async def test_reorder_and_its_errors(api: httpx.AsyncClient, local_agent: MakeAgent) -> None:
    agent = local_agent()
    ids = [str(c.id) for c in agent.chunks]
    url = f"/api/agents/{agent.id}/chunks/order"

    answer = await api.put(url, json={"version": 1, "chunk_ids": [ids[2], ids[0], ids[1]]})

    assert answer.status_code == 200, answer.text
    assert [(c["order"], c["name"]) for c in answer.json()["chunks"]] == [
        (1, "Step 3"),
        (2, "Step 1"),
        (3, "Step 2"),
    ]
    same = await api.put(url, json={"version": 2, "chunk_ids": [ids[2], ids[0], ids[1]]})
    assert (same.status_code, same.json()["version"]) == (200, 2)  # the order it has: no new version
    assert len((await api.get(f"/api/agents/{agent.id}/versions")).json()) == 2
    bad = error_of(await api.put(url, json={"version": 2, "chunk_ids": ids[:2]}), 422)
    assert bad["field"] == "chunk_ids"
    assert (
        error_of(await api.put(url, json={"version": 1, "chunk_ids": ids}), 409)["code"] == "version_conflict"
    )


async def test_concurrent_edits_second_is_refused_not_overwritten(
    api: httpx.AsyncClient, local_agent: MakeAgent
) -> None:
    agent = local_agent()
    first, second = agent.chunks[0].id, agent.chunks[1].id
    base = f"/api/agents/{agent.id}/chunks"

    alice = await api.patch(f"{base}/{first}", json={"version": 1, "name": "Alice's name"})
    bob = await api.patch(f"{base}/{second}", json={"version": 1, "name": "Bob's name"})

    assert alice.status_code == 200
    conflict = error_of(bob, 409)
    assert conflict["code"] == "version_conflict"
    assert "reload it and apply your change again" in str(conflict["message"])
    names = [c["name"] for c in (await api.get(f"/api/agents/{agent.id}")).json()["chunks"]]
    assert names == ["Alice's name", "Step 2", "Step 3"]
    assert (
        error_of(await api.patch(f"{base}/{uuid.uuid4()}", json={"version": 2, "name": "x"}), 404)["code"]
        == "not_found"
    )


async def test_versions_diff_and_revert(api: httpx.AsyncClient, local_agent: MakeAgent) -> None:
    agent = local_agent()
    chunk = agent.chunks[0]
    await api.patch(f"/api/agents/{agent.id}/chunks/{chunk.id}", json={"version": 1, "name": "Open the app"})
    await api.patch(
        f"/api/agents/{agent.id}/chunks/{agent.chunks[1].id}",
        json={"version": 2, "actions_yaml": "- {type: click, selector: '#go'}"},
    )

    versions = (await api.get(f"/api/agents/{agent.id}/versions")).json()
    assert [(v["version"], v["summary"]) for v in versions] == [
        (3, 'actions edited in "Step 2"'),
        (2, 'chunks renamed "Open the app"'),
        (1, "created"),
    ]
    assert versions[0]["author"] == getpass.getuser()  # as the command line names it
    one = (await api.get(f"/api/agents/{agent.id}/versions/1")).json()
    assert "- name: Step 1\n" in one["yaml"]
    assert error_of(await api.get(f"/api/agents/{agent.id}/versions/9"), 404)["code"] == "not_found"

    diff = (await api.get(f"/api/agents/{agent.id}/diff", params={"from": 1, "to": 3})).json()
    kinds = {c["label"]: c["kind"] for c in diff["chunks"]}
    assert kinds == {'"Open the app"': "renamed", '"Step 2"': "edited", '"Step 3"': "unchanged"}
    edited = next(c for c in diff["chunks"] if c["kind"] == "edited")
    assert edited["added_lines"] == ["{type: click, selector: '#go'}"]
    assert "+  - {type: click, selector: '#go'}" in diff["unified"]
    assert error_of(await api.get(f"/api/agents/{agent.id}/diff", params={"from": 1}), 422)["field"] == "to"

    stale = error_of(
        await api.post(f"/api/agents/{agent.id}/revert", json={"version": 2, "to_version": 1}), 409
    )
    assert stale["code"] == "version_conflict"
    reverted = await api.post(f"/api/agents/{agent.id}/revert", json={"version": 3, "to_version": 1})
    assert reverted.status_code == 200, reverted.text
    assert reverted.json()["version"] == 4
    assert [c["name"] for c in reverted.json()["chunks"]] == ["Step 1", "Step 2", "Step 3"]
    latest = (await api.get(f"/api/agents/{agent.id}/versions")).json()[0]
    assert (latest["version"], latest["summary"]) == (
        4,
        'back to version 1: chunks renamed "Step 1"; actions edited in "Step 2"',
    )
    missing = error_of(
        await api.post(f"/api/agents/{agent.id}/revert", json={"version": 4, "to_version": 40}), 404
    )
    assert missing["code"] == "not_found"

    page = await api.get(f"/agents/{agent.id}/versions", params={"from": 1, "to": 3})
    assert page.status_code == 200
    assert "Version 1 → version 3" in page.text
    assert "(was “Step 1”)" in page.text
    assert '<span class="add">+ {type: click, selector: &#39;#go&#39;}</span>' in page.text
