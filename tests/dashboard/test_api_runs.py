"""Runs from the API: start one (the real flow, in the app's event loop), follow it, answer its pauses,
and fetch its evidence files — with bad requests refused before anything starts."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from agents_store.models import Agent, ChunkStatus
from agents_store.settings import get_settings
from agents_store.store import AgentStore, RunRecord, RunStatus
from tests.dashboard.test_api_agents import error_of

MakeAgent = Callable[..., Agent]

pytestmark = pytest.mark.usefixtures("prefect_harness")


def quick_chunks(n: int, seconds: float = 0.1) -> list[dict[str, Any]]:
    """Chunks that need no browser: each waits a moment."""
    return [
        {"name": f"Wait {i}", "actions": [{"type": "sleep", "seconds": seconds}]} for i in range(1, n + 1)
    ]


@pytest.fixture
def quick_agent(local_agent: MakeAgent, store: AgentStore) -> Callable[..., Agent]:
    from agents_store.documents import parse_definition
    from tests.factories import LOOM

    def make(chunks: list[dict[str, Any]], **extra: Any) -> Agent:
        doc = {"name": extra.pop("name", "Quick"), "loom_url": LOOM, "chunks": chunks, **extra}
        doc.setdefault("settings", {"retries": 0, "retry_delay_seconds": 0})
        return store.create(parse_definition(doc))

    return make


async def until(what: str, check: Callable[[], Awaitable[Any]], within: float = 60) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def test_run_all_chunks_and_follow_it(
    api: httpx.AsyncClient, quick_agent: Callable[..., Agent]
) -> None:
    agent = quick_agent(quick_chunks(3, seconds=0.3))

    started = await api.post(f"/api/agents/{agent.id}/runs", json={"mode": "automatic"})

    assert started.status_code == 202, started.text
    run_id = started.json()["flow_run_id"]
    assert started.json()["url"] == f"/runs/{run_id}"
    seen: set[str] = set()

    async def finished() -> dict[str, Any] | None:
        live = (await api.get(f"/api/runs/{run_id}")).json()
        seen.update(c["status"] for c in live["chunks"])
        return live if live["run"]["finished"] else None

    live = await until("the run to finish", finished)
    assert live["run"]["status"] == "Completed"
    assert [c["status"] for c in live["chunks"]] == ["Completed"] * 3
    assert "Running" in seen  # the chunk rows changed while the run went
    runs = (await api.get(f"/api/agents/{agent.id}/runs")).json()
    assert [r["flow_run_id"] for r in runs] == [run_id]
    assert (await api.get("/api/runs")).json()[0]["flow_run_id"] == run_id

    chunks = ["01 · Wait 1", "02 · Wait 2", "03 · Wait 3"]

    async def logged() -> list[dict[str, Any]] | None:
        # Prefect records task runs (and so their names) up to a second after their log lines.
        lines = list((await api.get(f"/api/runs/{run_id}/logs")).json()["lines"])
        named = [line["task"] for line in lines if line["message"] == "Finished in state Completed()"]
        return lines if named == [*chunks, None] else None

    lines = await until("the run's log lines in Prefect, each chunk's named", logged, within=20)
    assert lines[0]["message"].startswith("Beginning flow run")
    assert lines[0]["task"] is None  # the flow run's own line
    assert {line["level"] for line in lines} == {"INFO"}
    later = (await api.get(f"/api/runs/{run_id}/logs", params={"after": len(lines)})).json()
    assert later["next"] >= len(lines)
    assert len(later["lines"]) == later["next"] - len(lines)


async def test_bad_run_requests_are_refused_before_anything_starts(
    api: httpx.AsyncClient,
    quick_agent: Callable[..., Agent],
    store: AgentStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    agent = quick_agent(quick_chunks(2), params={"who": "me"})
    url = f"/api/agents/{agent.id}/runs"

    assert error_of(await api.post(url, json={"chunks": [7]}), 422)["field"] == "chunks"
    assert error_of(await api.post(url, json={"from_chunk": 3}), 422)["field"] == "from_chunk"
    assert error_of(await api.post(url, json={"params": {"nope": "x"}}), 422)["field"] == "params"
    assert error_of(await api.post(url, json={"mode": "turbo"}), 422)["field"] == "mode"
    assert error_of(await api.post(url, json={"chunks": [0]}), 422)["field"] == "chunks.0"

    secret = quick_agent(
        [
            {
                "name": "Log in",
                "actions": [{"type": "http", "url": "http://127.0.0.1:9/{{ secrets.NOPE_TOKEN }}"}],
            }
        ]
    )
    unset = error_of(await api.post(f"/api/agents/{secret.id}/runs", json={}), 422)
    assert "AGENTCTL_SECRET_NOPE_TOKEN" in str(unset["message"])

    review = quick_agent(
        [{"name": "Unsure", "status": "Needs Review", "actions": [{"type": "sleep", "seconds": 0}]}]
    )
    refused = error_of(await api.post(f"/api/agents/{review.id}/runs", json={}), 409)
    assert refused["code"] == "run_refused"
    message = str(refused["message"])
    assert 'chunk 1 "Unsure" needs review: run in verification or debugging mode to approve it' in message
    assert store.list_runs() == []


async def test_verification_mode_waits_for_approvals(
    api: httpx.AsyncClient,
    quick_agent: Callable[..., Agent],
    store: AgentStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AGENTCTL_SECRET_HOOK_TOKEN", "s3cr3t-hook-token")
    hook = {
        "type": "http",
        "method": "GET",
        "url": "http://127.0.0.1:9/{{ params.path }}",
        "headers": {"Authorization": "Bearer {{ secrets.HOOK_TOKEN }}"},
    }
    agent = quick_agent(
        [
            {"name": "Call the hook", "actions": [hook]},
            {"name": "Wait", "actions": [{"type": "sleep", "seconds": 0}]},
        ],
        params={"path": "hook"},
    )
    run_id = (await api.post(f"/api/agents/{agent.id}/runs", json={"mode": "verification"})).json()[
        "flow_run_id"
    ]

    async def pending_at(order: int) -> dict[str, Any] | None:
        runs = (await api.get("/api/approvals")).json()
        return next((r for r in runs if r["awaiting"]["order"] == order), None)

    first = await until("the approval of chunk 1", lambda: pending_at(1))
    assert first["flow_run_id"] == run_id
    assert first["awaiting"]["decisions"] == ["approve", "skip", "abort"]
    assert first["awaiting"]["lines"] == [
        '1. http GET url="http://127.0.0.1:9/hook", headers={"Authorization": "Bearer ***"}'
    ]
    page = await api.get("/approvals")
    assert "Bearer ***" in page.text
    assert "s3cr3t" not in page.text + (await api.get("/api/approvals")).text
    assert (await api.get(f"/api/runs/{run_id}")).json()["chunks"][0]["status"] == "Awaiting Approval"
    wrong = error_of(await api.post(f"/api/runs/{run_id}/decision", json={"decision": "continue"}), 422)
    assert wrong["field"] == "decision"
    assert wrong["message"] == "decision: this run waits for an approval: approve, skip, abort"
    assert (
        error_of(await api.post(f"/api/runs/{run_id}/decision", json={"decision": "maybe"}), 422)["field"]
        == "decision"
    )

    first_key = first["awaiting"]["key"]
    skipped = await api.post(
        f"/api/runs/{run_id}/decision",
        json={"decision": "skip", "note": "no hook today", "pause_key": first_key},
    )
    assert skipped.status_code == 200, skipped.text
    assert skipped.json()["chunk"] == first["awaiting"]["chunk"]
    second = await until("the approval of chunk 2", lambda: pending_at(2))
    # A second person's page still shows chunk 1: their late answer is refused, not given to chunk 2.
    late_for_first = await api.post(
        f"/api/runs/{run_id}/decision", json={"decision": "abort", "pause_key": first_key}
    )
    refused = error_of(late_for_first, 409)
    assert refused["code"] == "answered"
    assert "someone answered it first" in str(refused["message"])
    assert (await api.get(f"/api/runs/{run_id}")).json()["run"]["awaiting"]["order"] == 2
    answer = {"decision": "approve", "pause_key": second["awaiting"]["key"]}
    assert (await api.post(f"/api/runs/{run_id}/decision", json=answer)).status_code == 200

    async def done() -> dict[str, Any] | None:
        live = (await api.get(f"/api/runs/{run_id}")).json()
        return live if live["run"]["finished"] else None

    live = await until("the run to finish", done)
    assert [c["status"] for c in live["chunks"]] == ["Skipped", "Completed"]
    assert [(n["order"], n["decision"]) for n in live["run"]["notes"]] == [(1, "skip"), (2, "approve")]
    assert (await api.get("/api/approvals")).json() == []
    late = error_of(await api.post(f"/api/runs/{run_id}/decision", json={"decision": "approve"}), 409)
    assert late["code"] == "not_paused"


async def test_a_runs_page_shows_that_run_after_a_later_run_of_the_agent(
    api: httpx.AsyncClient, quick_agent: Callable[..., Agent]
) -> None:
    """A run's page showed the agent's chunk rows as the newest run left them: a chunk skipped in a
    verification run showed Completed once a later run had completed it, and a chunk the run never
    selected showed someone else's status as this run's."""
    agent = quick_agent(quick_chunks(3, seconds=0))
    runs = f"/api/agents/{agent.id}/runs"
    first = (await api.post(runs, json={"mode": "verification", "chunks": [1, 2]})).json()["flow_run_id"]

    async def awaiting(order: int) -> dict[str, Any] | None:
        run = (await api.get(f"/api/runs/{first}")).json()["run"]
        return run["awaiting"] if run["awaiting"] and run["awaiting"]["order"] == order else None

    for order, decision in ((1, "approve"), (2, "skip")):
        key = (await until(f"the approval of chunk {order}", lambda o=order: awaiting(o)))["key"]
        answered = await api.post(
            f"/api/runs/{first}/decision", json={"decision": decision, "pause_key": key}
        )
        assert answered.status_code == 200, answered.text

    async def finished(run_id: str) -> dict[str, Any] | None:
        live = (await api.get(f"/api/runs/{run_id}")).json()
        return live if live["run"]["finished"] else None

    await until("the first run to finish", lambda: finished(first))
    later = (await api.post(runs, json={"mode": "automatic"})).json()["flow_run_id"]
    assert [c["status"] for c in (await until("the later run", lambda: finished(later)))["chunks"]] == [
        "Completed"
    ] * 3

    shown = (await api.get(f"/api/runs/{first}")).json()["chunks"]
    assert [(c["status"], c["in_run"]) for c in shown[:2]] == [("Completed", True), ("Skipped", True)]
    assert shown[2]["in_run"] is False  # its row is the later run's: none of its tries or error
    assert (shown[2]["attempts"], shown[2]["error_summary"], shown[2]["screenshot"]) == (0, None, None)
    assert {c["last_run_id"] for c in shown[:2]} == {first}
    page = (await api.get(f"/runs/{first}")).text
    assert page.count("not in this run") == 1
    assert [c["status"] for c in (await api.get(f"/api/agents/{agent.id}")).json()["chunks"]] == [
        "Completed"
    ] * 3


async def test_a_runs_page_keeps_the_chunks_an_import_replace_took_away(
    api: httpx.AsyncClient, quick_agent: Callable[..., Agent], store: AgentStore
) -> None:
    """Replaced by a one-chunk file after it ran, the agent's run showed one row, "not in this
    run", and nothing of the three chunks it completed."""
    from agents_store.documents import parse_definition
    from tests.factories import LOOM

    agent = quick_agent(quick_chunks(3, seconds=0))
    run_id = (await api.post(f"/api/agents/{agent.id}/runs", json={"mode": "automatic"})).json()[
        "flow_run_id"
    ]

    async def finished() -> dict[str, Any] | None:
        live = (await api.get(f"/api/runs/{run_id}")).json()
        return live if live["run"]["finished"] else None

    await until("the run to finish", finished)
    replacement = {"name": "Quick", "loom_url": LOOM, "chunks": [{"name": "Only one now", "actions": []}]}
    store.save(store.get(agent.id).with_definition(parse_definition(replacement)))
    shown = (await api.get(f"/api/runs/{run_id}")).json()["chunks"]
    assert [(c["name"], c["status"], c["in_run"]) for c in shown] == [
        ("Wait 1", "Completed", True),
        ("Wait 2", "Completed", True),
        ("Wait 3", "Completed", True),
        ("Only one now", "Not Started", False),
    ]
    page = (await api.get(f"/runs/{run_id}")).text
    assert "Wait 3" in page
    assert page.count("not in this run") == 1


async def test_a_chunk_edited_during_a_run_keeps_the_edit_not_the_runs_result(
    api: httpx.AsyncClient, quick_agent: Callable[..., Agent]
) -> None:
    """Edited while a verification run waited (its actions changed, or its review mark taken off),
    the chunk then showed Completed from the old actions the run still ran — or had Needs Review
    put back by the forced run. An edit takes the chunk's row from the run; the run's own record
    keeps what it did."""
    chunks = quick_chunks(3, seconds=0)
    chunks[2]["status"] = "Needs Review"
    agent = quick_agent(chunks)
    run = (await api.post(f"/api/agents/{agent.id}/runs", json={"mode": "debugging", "force": True})).json()
    run_id = run["flow_run_id"]

    async def awaiting(order: int) -> dict[str, Any] | None:
        live = (await api.get(f"/api/runs/{run_id}")).json()["run"]
        return live["awaiting"] if live["awaiting"] and live["awaiting"]["order"] == order else None

    key = (await until("the pause after chunk 1", lambda: awaiting(1)))["key"]
    version = (await api.get(f"/api/agents/{agent.id}")).json()["version"]
    url = f"/api/agents/{agent.id}/chunks"
    edited = await api.patch(
        f"{url}/{agent.chunks[1].id}",
        json={"version": version, "actions_yaml": "- {type: sleep, seconds: 1}\n"},
    )
    assert edited.status_code == 200, edited.text
    reviewed = await api.patch(
        f"{url}/{agent.chunks[2].id}", json={"version": version + 1, "needs_review": False}
    )
    assert reviewed.status_code == 200, reviewed.text
    assert (
        await api.post(f"/api/runs/{run_id}/decision", json={"decision": "run_to_end", "pause_key": key})
    ).status_code == 200

    async def finished() -> dict[str, Any] | None:
        live = (await api.get(f"/api/runs/{run_id}")).json()
        return live if live["run"]["finished"] else None

    live = await until("the run to finish", finished)
    assert live["run"]["status"] == "Completed"
    assert [c["status"] for c in live["chunks"]] == ["Completed"] * 3  # what the run did
    rows = (await api.get(f"/api/agents/{agent.id}")).json()["chunks"]
    assert [(c["status"], c["attempts"]) for c in rows] == [
        ("Completed", 1),
        ("Not Started", 0),
        ("Not Started", 0),
    ]
    assert rows[1]["actions"] == [{"type": "sleep", "seconds": 1.0}]


async def test_a_run_whose_process_died_is_settled_before_a_page_or_an_answer_believes_it(
    api: httpx.AsyncClient, quick_agent: Callable[..., Agent], store: AgentStore
) -> None:
    """The dashboard running a paused run was killed (SIGKILL) and restarted: its open run page kept
    showing Paused with buttons, and an answer was sent on to Prefect (200), which set the run
    Running with nothing to run it — until some other page happened to load."""
    from tests.factories import paused_run_record

    agent = quick_agent(quick_chunks(1))
    dead = await asyncio.create_subprocess_exec("true")
    await dead.wait()
    record = paused_run_record(agent, dead.pid)
    store.record_run(record)
    store.reset_chunks([agent.chunks[0].id], run_id=record.flow_run_id)
    store.update_chunk_status(agent.chunks[0].id, ChunkStatus.AWAITING_APPROVAL, run_id=record.flow_run_id)

    answer = await api.post(
        f"/api/runs/{record.flow_run_id}/decision", json={"decision": "approve", "pause_key": "approve-x"}
    )
    assert error_of(answer, 409)["code"] == "not_paused"
    live = (await api.get(f"/api/runs/{record.flow_run_id}")).json()
    assert (live["run"]["status"], live["run"]["awaiting"]) == ("Crashed", None)
    assert live["chunks"][0]["status"] == "Not Started"


@pytest.fixture
def run_folder(store: AgentStore, local_agent: MakeAgent) -> tuple[Agent, uuid.UUID, Path]:
    """A finished run of a failed chunk, with the files a run leaves: screenshot, trace, session."""
    agent = local_agent()
    run_id = uuid.uuid4()
    store.record_run(
        RunRecord(
            flow_run_id=run_id,
            agent_id=agent.id,
            agent_version=1,
            mode="debugging",
            status=RunStatus.FAILED,
            started_at=datetime.now(UTC),
        )
    )
    folder = get_settings().runs_dir() / str(run_id)
    folder.mkdir(parents=True)
    shot = folder / "chunk-02-failed-attempt-1.png"
    shot.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    (folder / "chunk-02-trace-1.zip").write_bytes(b"PK\x03\x04fake")
    (folder / "session-after-01.json").write_text('{"storage_state": {"cookies": ["secret"]}}')
    (folder.parent / "outside.png").write_bytes(b"\x89PNG from outside the run's folder")
    os.symlink(folder.parent / "outside.png", folder / "link.png")
    store.reset_chunks([agent.chunks[1].id], run_id=run_id)
    store.update_chunk_status(
        agent.chunks[1].id,
        ChunkStatus.FAILED,
        attempts=1,
        run_id=run_id,
        error_details={
            "type": "ElementNotFound",
            "message": "no element matches '#pay'",
            "screenshot": str(shot),
            "flow_run_id": str(run_id),
            "task_run_id": str(uuid.uuid4()),
        },
    )
    return agent, run_id, folder


async def test_a_failed_chunk_links_its_evidence(
    api: httpx.AsyncClient, run_folder: tuple[Agent, uuid.UUID, Path]
) -> None:
    agent, run_id, _ = run_folder
    chunk = (await api.get(f"/api/agents/{agent.id}")).json()["chunks"][1]

    assert chunk["error_summary"] == "ElementNotFound: no element matches '#pay'"
    assert chunk["screenshot"]["url"] == f"/api/runs/{run_id}/files/chunk-02-failed-attempt-1.png"
    assert chunk["trace"]["url"] == f"/api/runs/{run_id}/files/chunk-02-trace-1.zip"
    task_run_id = chunk["error_details"]["task_run_id"]
    assert chunk["task_run"]["url"].endswith(f"/runs/task-run/{task_run_id}")
    image = await api.get(chunk["screenshot"]["url"])
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    trace = await api.get(chunk["trace"]["url"])
    assert trace.headers["content-disposition"].startswith("attachment")


@pytest.mark.parametrize(
    "path",
    [
        "session-after-01.json",
        "..%2Foutside.png",
        "../outside.png",
        "link.png",
        "nothing.png",
        "%2Fetc%2Fpasswd",
    ],
)
async def test_files_only_evidence_only_from_the_run_folder(
    api: httpx.AsyncClient, run_folder: tuple[Agent, uuid.UUID, Path], path: str
) -> None:
    _, run_id, _ = run_folder
    answer = await api.get(f"/api/runs/{run_id}/files/{path}")
    assert answer.status_code == 404
    assert b"cookies" not in answer.content
    assert b"PNG" not in answer.content


async def test_pages_take_the_id_prefixes_and_names_the_cli_prints(
    api: httpx.AsyncClient, local_agent: MakeAgent, run_folder: tuple[Agent, uuid.UUID, Path]
) -> None:
    """``agentctl list`` and ``runs`` print 8-character ids: pasted into the dashboard's address
    they answered 422; they now redirect to the page's full address (its query kept)."""
    agent, run_id, _ = run_folder
    for asked, landed in [
        (f"/agents/{str(agent.id)[:8]}", f"/agents/{agent.id}"),
        ("/agents/Pay%20invoices", f"/agents/{agent.id}"),
        (f"/agents/{str(agent.id)[:8]}/versions?from=1", f"/agents/{agent.id}/versions?from=1"),
        (f"/runs/{str(run_id)[:8]}", f"/runs/{run_id}"),
    ]:
        moved = await api.get(asked)
        assert moved.status_code == 307, (asked, moved.text)
        assert moved.headers["location"].endswith(landed), moved.headers["location"]
        page = await api.get(landed)
        assert page.status_code == 200, (landed, page.text[:300])
    assert (await api.get(f"/agents/{agent.id}")).status_code == 200
    assert (await api.get("/agents/zzzz")).status_code == 404
    assert (await api.get("/runs/zzzz")).status_code == 404
    local_agent(name="Pay invoices")
    assert (await api.get("/agents/Pay%20invoices")).status_code == 409  # two agents of that name
