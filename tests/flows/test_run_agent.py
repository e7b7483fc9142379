"""The engine end to end: the real flow, real Chromium, real local pages and receivers, a real store."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agents_store.models import Agent, ChunkStatus
from agents_store.store import AgentStore, RunStatus
from deployments.server import free_port
from tests.factories import demo_sign_in
from tests.sites import LocalSite

pytestmark = pytest.mark.browser

RunFlow = Callable[..., Any]
MakeAgent = Callable[..., Agent]


def _run_log_lines(flow_run_id: Any, *, task: str | None = None) -> list[Any]:
    """The run's log lines as Prefect's API has them (what the UI and ``agentctl logs`` show), once
    the flow's closing line has arrived (logs reach the API in batches) and, given ``task``, a line
    of that chunk's task run with its name (task runs are recorded a moment after their lines)."""
    import asyncio
    import time

    from flows.run_logs import read_run_logs

    deadline = time.monotonic() + 15
    while True:
        lines = asyncio.run(read_run_logs(flow_run_id))
        closed = any(line.closes_the_run for line in lines)
        named = task is None or any(line.task_run_name == task for line in lines)
        if (closed and named) or time.monotonic() > deadline:
            return lines
        time.sleep(0.2)


def _run_log(flow_run_id: Any) -> list[str]:
    return [line.message for line in _run_log_lines(flow_run_id)]


def _statuses(store: AgentStore, agent: Agent) -> list[ChunkStatus]:
    return [c.status for c in store.get(agent.id).chunks]


def test_a_five_chunk_agent_completes(
    engine_store: AgentStore,
    make_agent: MakeAgent,
    run_flow: RunFlow,
    base_url: str,
    site: LocalSite,
    secret_env: str,
) -> None:
    agent = make_agent(
        engine_store,
        [
            {"name": "Open", "actions": [{"type": "goto", "url": "{{ params.base_url }}/"}]},
            {
                "name": "Sign in",
                "actions": [
                    {"type": "fill", "selector": "#username", "value": "demo"},
                    {"type": "fill", "selector": "#password", "value": "{{ secrets.DEMO_PASSWORD }}"},
                    {"type": "click", "selector": "#login"},
                    {"type": "wait_for_url", "url": "**/records"},
                ],
            },
            {
                "name": "Add",
                "actions": [
                    {"type": "fill", "selector": "#title", "value": "{{ params.title }}"},
                    {"type": "fill", "selector": "#amount", "value": "2.50"},
                    {"type": "select", "selector": "#category", "value": "office"},
                    {"type": "click", "selector": "#add-record"},
                ],
            },
            {
                "name": "Check",
                "actions": [
                    {
                        "type": "expect_text",
                        "selector": "#records td.title",
                        "text": "{{ params.title }}",
                        "exact": True,
                    },
                    {"type": "expect_visible", "selector": "#total"},
                ],
            },
            {"name": "Total", "actions": [{"type": "expect_text", "selector": "#total", "text": "2.50"}]},
        ],
        params={"base_url": base_url, "title": "Stamps"},
    )
    state = run_flow(agent)
    assert state.is_completed(), state.message
    assert _statuses(engine_store, agent) == [ChunkStatus.COMPLETED] * 5
    assert [c.attempts for c in engine_store.get(agent.id).chunks] == [1] * 5
    assert site.demo.records == [{"title": "Stamps", "amount": "2.50", "category": "office"}]
    runs = engine_store.list_runs(agent.id)
    assert len(runs) == 1
    assert runs[0].status == RunStatus.COMPLETED
    assert runs[0].agent_version == 1
    assert runs[0].chunks == [1, 2, 3, 4, 5]
    assert runs[0].finished_at is not None
    assert engine_store.list_agents().items[0].last_run_at is not None

    flow_run, task_runs = _prefect_view(state.state_details.flow_run_id, expect_tasks=5)
    assert flow_run.name == "Engine test · automatic"
    assert {f"agent:{agent.id}", "mode:automatic"} <= set(flow_run.tags)
    assert sorted(t.name for t in task_runs) == [
        "01 · Open",
        "02 · Sign in",
        "03 · Add",
        "04 · Check",
        "05 · Total",
    ]
    assert {t.task_key.split("-")[0] for t in task_runs} == {"run_chunk"}
    assert {t.state_name for t in task_runs} == {"Completed"}


def test_a_param_sent_as_a_json_number_is_typed_into_a_field_as_its_text(
    engine_store: AgentStore,
    make_agent: MakeAgent,
    run_flow: RunFlow,
    base_url: str,
    site: LocalSite,
    secret_env: str,
) -> None:
    """The dashboard's API, Prefect's (a deployment's parameters) and a schedule take params as
    JSON: ``{"amount": 12.5}`` reached a fill as a number, and the chunk failed every try with a
    raw pydantic error ("Input should be a valid string")."""
    agent = make_agent(
        engine_store,
        [
            {"name": "Sign in", "actions": demo_sign_in(base_url)},
            {
                "name": "Add",
                "actions": [
                    {"type": "fill", "selector": "#title", "value": "{{ params.title }}"},
                    {"type": "fill", "selector": "#amount", "value": "{{ params.amount }}"},
                    {"type": "click", "selector": "#add-record"},
                    {"type": "expect_text", "selector": "#records td.title", "text": "{{ params.title }}"},
                ],
            },
        ],
        params={"title": "Stamps", "amount": "1.00"},
    )
    state = run_flow(agent, params={"amount": 12.5, "title": True})
    assert state.is_completed(), state.message
    assert [(r["title"], r["amount"]) for r in site.demo.records] == [("true", "12.5")]


@pytest.mark.parametrize(("page", "error"), [("file", "UnsafeAction"), ("//etc/passwd", "UnusableUrl")])
def test_a_refused_action_is_not_tried_again(
    engine_store: AgentStore, make_agent: MakeAgent, run_flow: RunFlow, tmp_path: Path, page: str, error: str
) -> None:
    """A goto refused for its file: URL, or for a URL no page can open (from a param), went through
    every retry, refused alike."""
    agent = make_agent(
        engine_store,
        [{"name": "Open", "actions": [{"type": "goto", "url": "{{ params.page }}"}]}],
        params={"page": (tmp_path / "local.html").as_uri() if page == "file" else page},
        settings={"retries": 2, "retry_delay_seconds": 0, "action_timeout_ms": 3000},
    )
    state = run_flow(agent)
    assert state.is_failed()
    [chunk] = engine_store.get(agent.id).chunks
    assert (chunk.status, chunk.attempts) == (ChunkStatus.FAILED, 1)
    assert chunk.error_details is not None
    assert chunk.error_details["type"] == error
    assert chunk.error_details["attempts"] == 1


def test_a_param_inside_a_query_parameter_reaches_the_receiver_whole(
    sqlite_engine_store: AgentStore, make_agent: MakeAgent, run_flow: RunFlow, base_url: str, site: LocalSite
) -> None:
    """``?term={{ params.term }}&page=1`` with "fish & chips #1" sent term "fish " and a param
    " chips " and dropped the rest after the #, page included; the run said Completed."""
    agent = make_agent(
        sqlite_engine_store,
        [
            {
                "name": "Search",
                "actions": [
                    {"type": "http", "url": f"{base_url}/receive/q?term={{{{ params.term }}}}&page=1"}
                ],
            }
        ],
        params={"term": "fish & chips #1"},
    )
    assert run_flow(agent).is_completed()
    assert [r["query"] for r in site.received("q")] == [{"term": "fish & chips #1", "page": "1"}]


def test_a_secret_can_come_from_a_prefect_secret_block(
    sqlite_engine_store: AgentStore,
    make_agent: MakeAgent,
    run_flow: RunFlow,
    base_url: str,
    site: LocalSite,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``{{ secrets.DEMO_PASSWORD }}`` with no ``AGENTCTL_SECRET_DEMO_PASSWORD``: read from the Prefect
    Secret block ``demo-password``, and a run before that block exists says where it looked."""
    from prefect.blocks.system import Secret

    monkeypatch.delenv("AGENTCTL_SECRET_DEMO_PASSWORD", raising=False)
    agent = make_agent(
        sqlite_engine_store,
        [
            {
                "name": "Sign in",
                "actions": demo_sign_in(base_url),
            }
        ],
    )
    missing = run_flow(agent)
    assert missing.is_failed()
    assert "a Prefect Secret block named 'demo-password'" in missing.message
    Secret(value=site.demo.password).save("demo-password", overwrite=True)
    try:
        state = run_flow(agent)
    finally:
        Secret.delete("demo-password")
    assert state.is_completed(), state.message
    assert _statuses(sqlite_engine_store, agent) == [ChunkStatus.COMPLETED]


def test_retries_then_success_records_the_attempts(
    engine_store: AgentStore, make_agent: MakeAgent, run_flow: RunFlow, base_url: str, site: LocalSite
) -> None:
    agent = make_agent(
        engine_store,
        [
            {"name": "Start", "actions": [{"type": "goto", "url": f"{base_url}/page/start"}]},
            {
                "name": "Flaky",
                "retries": 2,
                "actions": [
                    {"type": "goto", "url": f"{base_url}/page/flaky?fail=2"},
                    {"type": "expect_visible", "selector": "#ok", "timeout_ms": 500},
                ],
            },
        ],
    )
    state = run_flow(agent)
    assert state.is_completed(), state.message
    flaky = engine_store.get(agent.id).chunks[1]
    assert flaky.status == ChunkStatus.COMPLETED
    assert flaky.attempts == 3
    assert flaky.error_details is None
    assert site.hits["flaky"] == 3
    # every retry first went back to where the chunk started
    assert site.hits["start"] == 3


def test_a_retry_of_a_chunk_that_started_on_the_browsers_error_page_stays_there(
    sqlite_engine_store: AgentStore, make_agent: MakeAgent, run_flow: RunFlow, base_url: str
) -> None:
    """Chunk 1 followed a link to a dead site, so chunk 2 began on ``chrome-error://chromewebdata/``;
    its retry went "back" there, failed with a raw ``net::ERR_ABORTED`` (type Error, no action),
    and that hid the chunk's own error."""
    dead_port = free_port()
    agent = make_agent(
        sqlite_engine_store,
        [
            {
                "name": "Follow",
                "actions": [
                    {"type": "goto", "url": f"{base_url}/dead-link?port={dead_port}"},
                    {"type": "click", "selector": "#dead"},
                ],
            },
            {
                "name": "Look",
                "retries": 1,
                "actions": [{"type": "click", "selector": "#real", "timeout_ms": 300}],
            },
        ],
    )
    state = run_flow(agent)
    assert state.is_failed()
    look = sqlite_engine_store.get(agent.id).chunks[1]
    assert look.status == ChunkStatus.FAILED
    assert look.error_details is not None
    assert (look.error_details["type"], look.error_details["action_index"]) == ("ElementNotFound", 0)
    assert look.attempts == 2
    assert [e["type"] for e in look.error_details["attempt_errors"]] == ["ElementNotFound"] * 2


def test_a_chunk_that_keeps_failing_stops_the_run_with_full_error_details(
    engine_store: AgentStore, make_agent: MakeAgent, run_flow: RunFlow, base_url: str
) -> None:
    agent = make_agent(
        engine_store,
        [
            {"name": "Open", "actions": [{"type": "goto", "url": f"{base_url}/page/open"}]},
            {
                "name": "Broken",
                "retries": 1,
                "actions": [
                    {"type": "click", "selector": "#real"},
                    {"type": "click", "selector": ["#gone", "text=Nothing like this"], "timeout_ms": 400},
                ],
            },
            {"name": "Never", "actions": [{"type": "click", "selector": "#real"}]},
        ],
    )
    state = run_flow(agent)
    assert state.is_failed()
    assert state.message.startswith('chunk 2 "Broken" failed: none of 2 selectors matched')
    # The flow's own lines say the outcome without a traceback through Prefect's engine; the
    # failed chunk's task run keeps the one that points at the action.
    lines = _run_log_lines(state.state_details.flow_run_id, task="02 · Broken")
    flow_lines = [line.message for line in lines if line.task_run_id is None]
    assert flow_lines[-1] == f"Finished in state Failed({state.message!r})"
    assert not any("Traceback" in line or "Encountered exception" in line for line in flow_lines)
    assert any("Traceback" in line.message for line in lines if line.task_run_name == "02 · Broken")
    chunks = engine_store.get(agent.id).chunks
    assert [c.status for c in chunks] == [ChunkStatus.COMPLETED, ChunkStatus.FAILED, ChunkStatus.NOT_STARTED]
    details = chunks[1].error_details
    assert details is not None
    for key in (
        "type",
        "message",
        "action_index",
        "action",
        "selector_tried",
        "page_url",
        "attempts",
        "screenshot",
        "flow_run_id",
        "task_run_id",
        "at",
    ):
        assert details.get(key) is not None, key
    assert details["type"] == "ElementNotFound"
    assert details["action_index"] == 1
    assert details["action"] == {
        "type": "click",
        "selector": ["#gone", "text=Nothing like this"],
        "timeout_ms": 400,
    }
    assert details["selector_tried"] == ["#gone", "text=Nothing like this"]
    assert details["page_url"].endswith("/page/open")
    assert details["attempts"] == 2
    assert chunks[1].attempts == 2
    assert [a["attempt"] for a in details["attempt_errors"]] == [1, 2]
    assert details["flow_run_id"] == str(state.state_details.flow_run_id)
    assert Path(details["screenshot"]).read_bytes().startswith(b"\x89PNG")
    run = engine_store.list_runs(agent.id)[0]
    assert run.status == RunStatus.FAILED
    assert "Broken" in (run.error or "")

    report, table = _run_artifacts(state.state_details.flow_run_id)
    assert (report.key, table.key) == (f"agent-{agent.id}-last-run", f"agent-{agent.id}-last-run-table")
    markdown = str(report.data)
    assert "| 01 · Open | Completed | 1 |" in markdown
    assert "| 02 · Broken | Failed | 2 |" in markdown
    assert "| 03 · Never | Not Started | 0 |" in markdown
    assert "none of 2 selectors matched" in markdown
    assert f"[screenshot]({Path(details['screenshot']).as_uri()})" in markdown
    run_dir = Path(details["screenshot"]).parent
    assert f"Files of this run: [{run_dir}]({run_dir.as_uri()})" in markdown
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    assert [(r["chunk"], r["status"], r["attempts"]) for r in rows] == [
        ("01 · Open", "Completed", 1),
        ("02 · Broken", "Failed", 2),
        ("03 · Never", "Not Started", 0),
    ]
    assert rows[0]["duration_s"] > 0
    assert rows[2]["duration_s"] is None
    assert "none of 2 selectors matched" in rows[1]["error"]


def _prefect_view(flow_run_id: Any, *, expect_tasks: int) -> tuple[Any, list[Any]]:
    """The flow run and its task runs as Prefect's API shows them (task runs arrive as batched
    events, a moment after the run)."""
    import asyncio
    import time

    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async def read() -> tuple[Any, list[Any]]:
        async with get_client() as client:
            flow_run = await client.read_flow_run(flow_run_id)
            task_runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            return flow_run, task_runs

    deadline = time.monotonic() + 15
    while True:
        flow_run, task_runs = asyncio.run(read())
        done = [t for t in task_runs if t.state_name == "Completed"]
        if len(done) >= expect_tasks or time.monotonic() > deadline:
            return flow_run, task_runs
        time.sleep(0.3)


def _run_artifacts(flow_run_id: Any) -> tuple[Any, Any]:
    """The run's markdown report and table artifact, read back from Prefect's API."""
    import asyncio

    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async def read() -> list[Any]:
        async with get_client() as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
            )

    by_type = {a.type: a for a in asyncio.run(read())}
    return by_type["markdown"], by_type["table"]


def test_a_headed_agent_without_a_display_fails_saying_why(
    sqlite_engine_store: AgentStore,
    make_agent: MakeAgent,
    run_flow: RunFlow,
    base_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A deployment of an agent saved with ``headless: false``, run by a worker with no screen."""
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    agent = make_agent(
        sqlite_engine_store,
        [{"name": "Open", "actions": [{"type": "goto", "url": f"{base_url}/page/open"}]}],
        settings={"retries": 0, "headless": False},
    )
    state = run_flow(agent)
    assert state.is_failed()
    chunk = sqlite_engine_store.get(agent.id).chunks[0]
    assert chunk.status == ChunkStatus.FAILED
    assert chunk.error_details is not None
    assert chunk.error_details["type"] == "BrowserUnavailable"
    assert "a headed browser needs a display and none is set" in chunk.error_details["message"]


def test_selector_fallbacks_are_used_and_recorded(
    sqlite_engine_store: AgentStore, make_agent: MakeAgent, run_flow: RunFlow, base_url: str
) -> None:
    agent = make_agent(
        sqlite_engine_store,
        [
            {
                "name": "Fallback",
                "actions": [
                    {"type": "goto", "url": f"{base_url}/page/fb"},
                    {"type": "click", "selector": ["#renamed-button", "role=button[name='Go']", "#real"]},
                    {"type": "expect_visible", "selector": "#clicked"},
                ],
            }
        ],
    )
    state = run_flow(agent)
    assert state.is_completed(), state.message
    assert _statuses(sqlite_engine_store, agent) == [ChunkStatus.COMPLETED]
    lines = _run_log(state.state_details.flow_run_id)
    assert any(
        "selector '#renamed-button' matched no element; used fallback \"role=button[name='Go']\"" in line
        for line in lines
    ), lines
    report, _ = _run_artifacts(state.state_details.flow_run_id)
    assert "fallback selectors used: `role=button[name='Go']`" in str(report.data)


def test_extract_feeds_a_later_http_action(
    sqlite_engine_store: AgentStore, make_agent: MakeAgent, run_flow: RunFlow, base_url: str, site: LocalSite
) -> None:
    agent = make_agent(
        sqlite_engine_store,
        [
            {
                "name": "Read",
                "actions": [
                    {"type": "goto", "url": f"{base_url}/page/data"},
                    {"type": "extract", "selector": "#title", "var": "heading"},
                    {"type": "extract", "selector": "#link", "attribute": "href", "var": "href"},
                ],
            },
            {
                "name": "Send",
                "actions": [
                    {
                        "type": "http",
                        "url": f"{base_url}/receive/extract",
                        "json": {"heading": "{{ vars.heading }}", "link": "{{ vars.href }}"},
                        "var": "answer",
                    },
                    {
                        "type": "http",
                        "url": f"{base_url}/receive/second",
                        "body": "n={{ vars.answer.json.n }}",
                        "headers": {"Content-Type": "text/plain"},
                    },
                ],
            },
        ],
    )
    state = run_flow(agent)
    assert state.is_completed(), state.message
    [first] = site.received("extract")
    assert json.loads(first["body"]) == {"heading": "data", "link": "/page/data-next"}
    assert site.received("second")[0]["body"] == "n=1"


def test_idempotency_key_is_stable_across_retries_and_distinct_per_action(
    sqlite_engine_store: AgentStore, make_agent: MakeAgent, run_flow: RunFlow, base_url: str, site: LocalSite
) -> None:
    agent = make_agent(
        sqlite_engine_store,
        [
            {
                "name": "Notify twice",
                "retries": 2,
                "actions": [
                    {"type": "http", "url": f"{base_url}/receive/a"},
                    {"type": "http", "url": f"{base_url}/receive/b"},
                    {"type": "goto", "url": f"{base_url}/page/idem?fail=2"},
                    {"type": "expect_visible", "selector": "#ok", "timeout_ms": 400},
                ],
            },
            {"name": "Again", "actions": [{"type": "http", "url": f"{base_url}/receive/a"}]},
        ],
    )
    state = run_flow(agent)
    assert state.is_completed(), state.message
    keys_a = [r["headers"]["idempotency-key"] for r in site.received("a")]
    keys_b = [r["headers"]["idempotency-key"] for r in site.received("b")]
    assert len(keys_a) == 4
    assert len(keys_b) == 3
    assert len(set(keys_a[:3])) == 1  # three attempts of chunk 1, one key
    assert len(set(keys_b)) == 1
    assert keys_a[0] != keys_b[0]
    assert keys_a[3] not in (keys_a[0], keys_b[0])  # another chunk's action
    state_again = run_flow(agent)
    assert state_again.is_completed()
    assert site.received("b")[-1]["headers"]["idempotency-key"] != keys_b[0]  # another run


def test_unknown_template_names_fail_before_the_run_starts(
    sqlite_engine_store: AgentStore, make_agent: MakeAgent, run_flow: RunFlow, site: LocalSite
) -> None:
    from flows.plan import compile_agent
    from tasks.errors import TemplateError

    agent = make_agent(
        sqlite_engine_store,
        [
            {"name": "One", "actions": [{"type": "goto", "url": "{{ params.nope }}"}]},
            {
                "name": "Two",
                "actions": [{"type": "fill", "selector": "#a", "value": "{{ secrets.NOT_SET_ANYWHERE }}"}],
            },
        ],
    )
    with pytest.raises(
        TemplateError, match=r'chunk 1 "One", action 1 \(goto\): \{\{ params.nope \}\} is not a param'
    ):
        compile_agent(agent)
    agent2 = make_agent(
        sqlite_engine_store,
        [
            {
                "name": "Two",
                "actions": [{"type": "fill", "selector": "#a", "value": "{{ secrets.NOT_SET_ANYWHERE }}"}],
            }
        ],
    )
    state = run_flow(agent2)
    assert state.is_failed()
    assert 'chunk 1 "Two", action 1 (fill): {{ secrets.NOT_SET_ANYWHERE }} is not set' in state.message
    assert _statuses(sqlite_engine_store, agent2) == [ChunkStatus.NOT_STARTED]
    assert site.hits == {}
    # Refused as it started (a schedule's run, say): still a run of the agent's, with the reason.
    [record] = sqlite_engine_store.list_runs(agent2.id)
    assert record.status == RunStatus.FAILED
    assert record.finished_at is not None
    assert "{{ secrets.NOT_SET_ANYWHERE }} is not set" in (record.error or "")


def test_a_run_never_waits_on_a_blocking_prefect_call_in_its_event_loop(
    sqlite_engine_store: AgentStore,
    make_agent: MakeAgent,
    run_flow: RunFlow,
    base_url: str,
    site: LocalSite,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every other run driven by the same loop (the dashboard's) would stop while one waited."""
    import threading

    import httpx

    blocking: list[str] = []
    send = httpx.Client.send

    def recording_send(client: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        if threading.current_thread() is threading.main_thread():  # the thread asyncio.run drives
            blocking.append(f"{request.method} {request.url.path}")
        return send(client, request, **kwargs)

    monkeypatch.setattr(httpx.Client, "send", recording_send)
    agent = make_agent(
        sqlite_engine_store,
        [{"name": "Notify", "actions": [{"type": "http", "url": f"{base_url}/receive/loop", "json": {}}]}],
    )
    state = run_flow(agent)
    assert state.is_completed(), state.message
    assert len(site.received("loop")) == 1
    assert blocking == []
