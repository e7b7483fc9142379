"""Concurrent edits (issue 11, item 4): writers that really run at once, saving the same agent at the
same version. Exactly one wins, the other gets ``VersionConflict`` (409 through the dashboard), and the
saved agent is all the winner's document: no lost chunk, no chunks of both.

Threads in one process are in the store contract (``tests/agents_store/contract.py``,
``test_concurrent_writers_exactly_one_wins``, on every backend); here the writers are separate
processes, each with its own connection, and HTTP clients against a real uvicorn server.
"""

from __future__ import annotations

import multiprocessing
import threading
import uuid
from typing import Any

import httpx
import pytest
import yaml

from agents_store.backends import open_store
from agents_store.documents import dump_definition, parse_definition
from agents_store.errors import VersionConflict
from agents_store.settings import get_settings
from agents_store.store import AgentStore
from cli.background_server import serve_in_background
from dashboard import create_app
from dashboard.config import AccessSettings
from tests.factories import agent_doc
from tests.reliability._attacks import sql_store, store_url

__all__ = ["sql_store"]

TOKEN = "concurrent-edits-token-0123456789"


def _writer_doc(writer: str, round_: int) -> dict[str, Any]:
    """Writer ``a`` saves 3 chunks, ``b`` 6; every chunk and action names its writer."""
    doc = agent_doc(f"Race {round_} by {writer}", chunks=3 if writer == "a" else 6)
    for chunk in doc["chunks"]:
        chunk["name"] = f"{writer}: {chunk['name']}"
        chunk["actions"] = [{"type": "click", "selector": f"#{writer}-{round_}"}]
    return doc


def _process_writer(url: str, agent_id: str, writer: str, round_: int, barrier: Any, results: Any) -> None:
    """One writer process: its own store connection, then save when both are ready."""
    store = open_store(url)
    try:
        current = store.get(uuid.UUID(agent_id))
        edited = current.with_definition(parse_definition(_writer_doc(writer, round_)))
        barrier.wait(timeout=60)
        try:
            store.save(edited, author=writer)
            results.put((writer, "won", None))
        except VersionConflict as e:
            results.put((writer, "conflict", str(e)))
    except Exception as e:  # noqa: BLE001 - reported to the test, which fails with it
        results.put((writer, "error", repr(e)))
    finally:
        store.close()


@pytest.mark.slow
def test_two_processes_saving_one_version_exactly_one_wins(sql_store: AgentStore) -> None:
    """Two rounds of two spawned processes racing to save version n of the same agent."""
    agent = sql_store.create(parse_definition(agent_doc("Race", chunks=4)))
    url = store_url(sql_store)
    ctx = multiprocessing.get_context("spawn")
    for round_ in range(2):
        version = sql_store.get(agent.id).version
        barrier = ctx.Barrier(2)
        results = ctx.Queue()
        procs = [
            ctx.Process(target=_process_writer, args=(url, str(agent.id), w, round_, barrier, results))
            for w in ("a", "b")
        ]
        for p in procs:
            p.start()
        outcomes = {}
        for _ in procs:
            writer, outcome, detail = results.get(timeout=90)
            outcomes[writer] = (outcome, detail)
        for p in procs:
            p.join(30)
        assert sorted(o for o, _ in outcomes.values()) == ["conflict", "won"], outcomes
        [winner] = [w for w, (o, _) in outcomes.items() if o == "won"]
        [message] = [d for o, d in outcomes.values() if o == "conflict"]
        assert f"you edited version {version}, it is now at version {version + 1}" in message
        final = sql_store.get(agent.id)
        assert final.version == version + 1
        assert dump_definition(final.definition()) == dump_definition(
            parse_definition(_writer_doc(winner, round_))
        )
        assert {c.name.split(":")[0] for c in final.chunks if c.name} == {winner}
        assert sql_store.get_version(agent.id, version + 1).author == winner


@pytest.fixture
def dashboard_url(sql_store: AgentStore) -> Any:
    access = AccessSettings(dashboard_token=TOKEN)  # type: ignore[arg-type]
    get_settings.cache_clear()
    app = create_app(sql_store, settings=get_settings(), access=access)
    with serve_in_background(app) as url:
        yield url


def _race(url: str, requests: list[tuple[str, str, dict[str, Any]]]) -> list[httpx.Response]:
    """Send the requests at once, each from its own thread and connection."""
    barrier = threading.Barrier(len(requests))
    answers: list[httpx.Response | None] = [None] * len(requests)

    def send(i: int) -> None:
        method, path, body = requests[i]
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as c:
            c.get("/api/session")  # connect first, so the two requests leave together
            barrier.wait(30)
            answers[i] = c.request(method, path, json=body)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(a is not None for a in answers)
    return [a for a in answers if a is not None]


def _one_conflict(answers: list[httpx.Response], version: int) -> int:
    """Exactly one 200 and one 409 with the clear message; the index of the winner."""
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 409], [a.text for a in answers]
    [lost] = [a for a in answers if a.status_code == 409]
    error = lost.json()["error"]
    assert error["code"] == "version_conflict"
    assert "was changed by someone else" in error["message"]
    assert f"you edited version {version}, it is now at version {version + 1}" in error["message"]
    return next(i for i, a in enumerate(answers) if a.status_code == 200)


def test_two_chunk_edits_at_one_version_through_the_api(sql_store: AgentStore, dashboard_url: str) -> None:
    agent = sql_store.create(parse_definition(agent_doc("API race", chunks=3)))
    chunk = agent.chunks[1]
    for round_ in range(3):
        version = sql_store.get(agent.id).version
        edits = [
            ("PATCH", f"/api/agents/{agent.id}/chunks/{chunk.id}", {"version": version, "actions_yaml": y})
            for y in (
                f"- {{type: click, selector: '#mine-{round_}'}}\n",
                f"- {{type: fill, selector: '#theirs', value: '{round_}'}}\n"
                "- {type: press, selector: x, key: Enter}\n",
            )
        ]
        answers = _race(dashboard_url, edits)
        winner = _one_conflict(answers, version)
        final = sql_store.get(agent.id)
        assert final.version == version + 1
        saved = [a.model_dump(by_alias=True, exclude_defaults=True) for a in final.chunks[1].actions]
        assert saved == yaml.safe_load(edits[winner][2]["actions_yaml"])
        assert [c.id for c in final.chunks] == [c.id for c in agent.chunks]  # no chunk lost


def test_rename_and_reorder_at_one_version_through_the_api(sql_store: AgentStore, dashboard_url: str) -> None:
    agent = sql_store.create(parse_definition(agent_doc("API race 2", chunks=4)))
    ids = [str(c.id) for c in agent.chunks]
    answers = _race(
        dashboard_url,
        [
            ("PATCH", f"/api/agents/{agent.id}", {"version": 1, "name": "Renamed"}),
            ("PUT", f"/api/agents/{agent.id}/chunks/order", {"version": 1, "chunk_ids": ids[::-1]}),
        ],
    )
    winner = _one_conflict(answers, 1)
    final = sql_store.get(agent.id)
    if winner == 0:
        assert (final.name, [str(c.id) for c in final.chunks]) == ("Renamed", ids)
    else:
        assert (final.name, [str(c.id) for c in final.chunks]) == ("API race 2", ids[::-1])
    assert final.version == 2
