"""Flaky targets: pages whose element renders late or moves while clicked, and webhook receivers that
answer 500, 503 or 429 with Retry-After, or do not answer in time.

The real flow runs (Prefect's test harness, real Chromium) against a real local site; the chunk's
``retries`` and the agent's ``retry_delay_seconds`` are what the agent file says, and the tests
measure what the engine did: attempts, the waits between requests, ``error_details`` and the
``Idempotency-Key`` of every request.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from agents_store.backends import open_store
from agents_store.documents import parse_definition
from agents_store.models import Agent, ChunkStatus
from agents_store.settings import get_settings
from agents_store.store import AgentStore, RunStatus
from tests.factories import LOOM
from tests.reliability._faults import FaultSite

RunFlow = Callable[..., Any]


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AgentStore]:
    """The store the flow writes to (opened from AGENTCTL_DATABASE_URL, as in production)."""
    db_url = f"sqlite:///{tmp_path / 'engine.db'}"
    monkeypatch.setenv("AGENTCTL_DATABASE_URL", db_url)
    monkeypatch.setenv("AGENTCTL_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    opened = open_store(db_url)
    yield opened
    opened.close()


@pytest.fixture
def run_flow(prefect_harness: None) -> RunFlow:
    from flows.run_agent import run_agent

    def run(agent: Agent, **kwargs: Any) -> Any:
        return asyncio.run(run_agent(str(agent.id), return_state=True, **kwargs))  # type: ignore[call-overload]

    return run


def make_agent(store: AgentStore, chunks: list[dict[str, Any]], **settings: Any) -> Agent:
    doc = {
        "name": "Flaky target",
        "loom_url": LOOM,
        "settings": {"retries": 0, "retry_delay_seconds": 0, "action_timeout_ms": 3000, **settings},
        "chunks": chunks,
    }
    return store.create(parse_definition(doc))


def _seconds_between(details: dict[str, Any]) -> list[float]:
    times = [datetime.fromisoformat(a["at"]) for a in details["attempt_errors"]]
    return [(b - a).total_seconds() for a, b in itertools.pairwise(times)]


# --------------------------------------------------------------------------- pages


@pytest.mark.browser
@pytest.mark.slow
def test_elements_that_render_late_within_the_timeout_are_waited_for(
    store: AgentStore, run_flow: RunFlow, url: str, chromium: str
) -> None:
    """Inserted late, shown late, enabled late: each within the timeout, each clicked on the first try."""
    chunks = [
        {
            "name": f"Late {how}",
            "actions": [
                {"type": "goto", "url": f"{url}/late?after_ms=700&how={how}"},
                {"type": "click", "selector": "#late", "timeout_ms": 4000},
                {"type": "expect_text", "selector": "#log", "text": "late clicked", "timeout_ms": 1000},
            ],
        }
        for how in ("insert", "reveal", "enable")
    ]
    agent = make_agent(store, chunks)
    state = run_flow(agent)
    assert state.is_completed(), state.message
    saved = store.get(agent.id).chunks
    assert [c.status for c in saved] == [ChunkStatus.COMPLETED] * 3
    assert [c.attempts for c in saved] == [1, 1, 1]


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize(
    ("how", "error_type", "message"),
    [
        ("insert", "ElementNotFound", "no element matches '#late' (waited 600 ms)"),
        ("reveal", "ActionTimeout", "click on '#late' did not complete in 600 ms"),
        ("enable", "ActionTimeout", "click on '#late' did not complete in 600 ms"),
    ],
)
def test_an_element_later_than_the_timeout_fails_each_attempt_with_a_clear_message(
    store: AgentStore,
    run_flow: RunFlow,
    url: str,
    fault_site: FaultSite,
    chromium: str,
    how: str,
    error_type: str,
    message: str,
) -> None:
    """Not there in time is ElementNotFound; there but hidden or disabled is ActionTimeout, saying why.

    One retry, 0.5 s apart as the agent's settings say; both attempts are in ``error_details``.
    """
    agent = make_agent(
        store,
        [
            {
                "name": "Too late",
                "retries": 1,
                "actions": [
                    {"type": "goto", "url": f"{url}/late?after_ms=8000&how={how}"},
                    {"type": "click", "selector": "#late", "timeout_ms": 600},
                ],
            }
        ],
        retry_delay_seconds=0.5,
    )
    state = run_flow(agent)
    assert state.is_failed()
    [chunk] = store.get(agent.id).chunks
    assert chunk.status == ChunkStatus.FAILED
    assert chunk.attempts == 2
    details = chunk.error_details
    assert details is not None
    assert details["type"] == error_type
    assert message in details["message"]
    why = {"insert": None, "reveal": "element is not visible", "enable": "element is not enabled"}[how]
    if why:
        assert why in details["message"], details["message"]
    assert details["action_index"] == 1
    assert details["selector_tried"] == ["#late"]
    assert [(a["attempt"], a["type"]) for a in details["attempt_errors"]] == [
        (1, error_type),
        (2, error_type),
    ]
    assert all(message in a["message"] for a in details["attempt_errors"])
    # attempt 2 started 0.5 s after attempt 1 failed, and took its own 600 ms to fail
    assert _seconds_between(details)[0] >= 0.5 + 0.6
    run = store.list_runs(agent.id)[0]
    assert run.status == RunStatus.FAILED
    assert error_type in (run.error or "") or message in (run.error or "")


@pytest.mark.browser
@pytest.mark.slow
def test_an_element_that_moves_while_being_clicked(
    store: AgentStore, run_flow: RunFlow, url: str, chromium: str
) -> None:
    """A button sliding away from under the pointer is clicked where it stops (not the decoy that
    takes its first place); one that never stops fails with "not stable" in the message."""
    settles = make_agent(
        store,
        [
            {
                "name": "Click the moving button",
                "actions": [
                    {"type": "goto", "url": f"{url}/moving?stop_ms=800"},
                    {"type": "click", "selector": "#target", "timeout_ms": 5000},
                    {"type": "expect_text", "selector": "#log", "text": "target", "exact": True},
                ],
            }
        ],
    )
    state = run_flow(settles)
    assert state.is_completed(), state.message

    never = make_agent(
        store,
        [
            {
                "name": "Click the restless button",
                "actions": [
                    {"type": "goto", "url": f"{url}/moving?stop_ms=-1"},
                    {"type": "click", "selector": "#target", "timeout_ms": 2500},
                ],
            }
        ],
    )
    state = run_flow(never)
    assert state.is_failed()
    details = store.get(never.id).chunks[0].error_details
    assert details is not None
    assert details["type"] == "ActionTimeout"
    assert "click on '#target' did not complete in 2500 ms" in details["message"]
    assert "element is not stable" in details["message"], details["message"]


# --------------------------------------------------------------------------- webhook receivers


def test_a_receiver_answering_500_is_retried_as_the_chunk_says_with_one_key(
    store: AgentStore, run_flow: RunFlow, url: str, fault_site: FaultSite
) -> None:
    """500 twice, then 200: the chunk's two retries, 0.4 s apart, all with the same Idempotency-Key."""
    agent = make_agent(
        store,
        [
            {
                "name": "Tell the hook",
                "retries": 2,
                "actions": [{"type": "http", "url": f"{url}/hook/five-hundred?fail=2&status=500"}],
            }
        ],
        retry_delay_seconds=0.4,
    )
    state = run_flow(agent)
    assert state.is_completed(), state.message
    [chunk] = store.get(agent.id).chunks
    assert chunk.status == ChunkStatus.COMPLETED
    assert chunk.attempts == 3
    assert chunk.error_details is None
    got = fault_site.hook("five-hundred")
    assert [r.answered for r in got] == [500, 500, 200]
    assert len({r.key for r in got}) == 1
    assert got[0].key is not None
    gaps = [b.at - a.at for a, b in itertools.pairwise(got)]
    assert all(gap >= 0.4 for gap in gaps), gaps


def test_a_receiver_that_keeps_failing_leaves_every_attempt_in_error_details(
    store: AgentStore, run_flow: RunFlow, url: str, fault_site: FaultSite
) -> None:
    agent = make_agent(
        store,
        [
            {"name": "Fine", "actions": [{"type": "http", "url": f"{url}/hook/fine"}]},
            {
                "name": "Broken hook",
                "retries": 1,
                "actions": [{"type": "http", "url": f"{url}/hook/down?fail=99&status=500&token=abc"}],
            },
            {"name": "Never", "actions": [{"type": "http", "url": f"{url}/hook/never"}]},
        ],
        retry_delay_seconds=0.2,
    )
    state = run_flow(agent)
    assert state.is_failed()
    chunks = store.get(agent.id).chunks
    assert [c.status for c in chunks] == [ChunkStatus.COMPLETED, ChunkStatus.FAILED, ChunkStatus.NOT_STARTED]
    details = chunks[1].error_details
    assert details is not None
    assert details["type"] == "HttpActionFailed"
    expected = f"POST {url}/hook/down answered 500, expected 2xx"
    assert details["message"].startswith(expected)
    assert "token=abc" not in details["message"]  # the query string (often a token) is not shown
    assert details["details"] == {"status": 500}
    assert details["attempts"] == 2
    assert [(a["attempt"], a["type"]) for a in details["attempt_errors"]] == [
        (1, "HttpActionFailed"),
        (2, "HttpActionFailed"),
    ]
    assert all(a["message"].startswith(expected) for a in details["attempt_errors"])
    assert len(fault_site.hook("down")) == 2
    assert len({r.key for r in fault_site.hook("down")}) == 1
    assert fault_site.hook("never") == []


@pytest.mark.parametrize(("status", "retry_after"), [(503, 1.0), (429, 2.0)])
def test_retry_after_is_waited_out_as_the_receiver_asked(
    store: AgentStore, run_flow: RunFlow, url: str, fault_site: FaultSite, status: int, retry_after: float
) -> None:
    """The wait is measured between the two requests the receiver got; it is the action's own
    retry (the chunk's first attempt completes), with the same Idempotency-Key."""
    agent = make_agent(
        store,
        [
            {
                "name": "Busy hook",
                "actions": [
                    {
                        "type": "http",
                        "url": f"{url}/hook/busy?fail=1&status={status}&retry_after={retry_after:g}",
                    }
                ],
            }
        ],
    )
    state = run_flow(agent)
    assert state.is_completed(), state.message
    [chunk] = store.get(agent.id).chunks
    assert chunk.attempts == 1
    first, second = fault_site.hook("busy")
    assert (first.answered, second.answered) == (status, 200)
    waited = second.at - first.at
    assert retry_after <= waited < retry_after + 2.0, waited  # slack for a loaded machine
    assert first.key == second.key


def test_a_receiver_that_answers_too_late_times_the_action_out_on_every_attempt(
    store: AgentStore, run_flow: RunFlow, url: str, fault_site: FaultSite
) -> None:
    """The receiver sleeps 5 s; the action waits 0.5 s: ActionTimeout, retried once, same key."""
    agent = make_agent(
        store,
        [
            {
                "name": "Slow hook",
                "retries": 1,
                "actions": [{"type": "http", "url": f"{url}/hook/slow?fail=99&sleep=5", "timeout_ms": 500}],
            }
        ],
        retry_delay_seconds=0.2,
    )
    state = run_flow(agent)
    assert state.is_failed()
    [chunk] = store.get(agent.id).chunks
    details = chunk.error_details
    assert details is not None
    assert details["type"] == "ActionTimeout"
    assert details["message"] == f"POST {url}/hook/slow: no answer within 0.5 s"
    assert [a["type"] for a in details["attempt_errors"]] == ["ActionTimeout", "ActionTimeout"]
    # the attempts did not wait for the receiver: 0.5 s each, 0.2 s apart (slack for the engine)
    assert 0.5 + 0.2 <= _seconds_between(details)[0] < 4.0
    got = fault_site.hook("slow")
    assert len(got) == 2
    assert got[0].key == got[1].key


def test_an_idempotency_key_is_never_reused_for_another_action(
    store: AgentStore, run_flow: RunFlow, url: str, fault_site: FaultSite
) -> None:
    """Two runs of an agent whose hooks fail in every way: each (run, chunk, action) has one key,
    whatever retried it (Retry-After, the chunk's retries, a timeout), and no two share a key."""
    agent = make_agent(
        store,
        [
            {
                "name": "One",
                "retries": 2,
                "actions": [
                    {"type": "http", "url": f"{url}/hook/one-a?fail=1&status=503&retry_after=0.1"},
                    {"type": "http", "url": f"{url}/hook/one-b?fail=1&status=500"},
                ],
            },
            {
                "name": "Two",
                "retries": 1,
                "actions": [
                    {"type": "http", "url": f"{url}/hook/two-a?fail=1&sleep=2", "timeout_ms": 300},
                    {"type": "http", "url": f"{url}/hook/two-b"},
                ],
            },
        ],
    )
    keys: dict[tuple[int, str], set[str | None]] = {}
    for run in (1, 2):
        fault_site.hits.clear()  # the hooks fail again in the second run
        before = len(fault_site.received)
        state = run_flow(agent)
        assert state.is_completed(), state.message
        for r in fault_site.received[before:]:
            keys.setdefault((run, r.name), set()).add(r.key)
    counts = {name: len(fault_site.hook(name)) for name in ("one-a", "one-b", "two-a", "two-b")}
    # per run: one-a 503 then 200, and again on the chunk's retry; one-b 500 then 200; two-a timeout then 200
    assert counts == {"one-a": 6, "one-b": 4, "two-a": 4, "two-b": 2}, counts
    assert all(len(k) == 1 and None not in k for k in keys.values()), keys
    flat = [next(iter(k)) for k in keys.values()]
    assert len(flat) == 8
    assert len(set(flat)) == 8, "a key was reused for another action, chunk or run"
