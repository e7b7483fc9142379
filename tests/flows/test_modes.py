"""Verification and debugging mode: pauses answered through Prefect's API, its REST endpoint and
timeouts; traces, screenshots and step decisions; runs from the middle with a saved session."""

from __future__ import annotations

import asyncio
import threading
import zipfile
from collections.abc import Callable
from typing import Any

import pytest

from agents_store.models import Agent, ChunkStatus
from agents_store.settings import get_settings
from agents_store.store import AgentStore, RunRecord, RunStatus
from tests.factories import demo_sign_in
from tests.helpers import prefect_state, resume_as_prefect_ui, wait_for
from tests.sites import LocalSite

pytestmark = pytest.mark.browser

MakeAgent = Callable[..., Agent]


class FlowThread:
    """The real flow running in a thread, so the test can answer its pauses meanwhile."""

    def __init__(self, agent: Agent, **kwargs: Any) -> None:
        from flows.run_agent import run_agent

        self.state: Any = None
        self.error: BaseException | None = None

        def target() -> None:
            try:
                self.state = asyncio.run(run_agent(str(agent.id), return_state=True, **kwargs))  # type: ignore[call-overload]
            except BaseException as e:  # noqa: BLE001 - handed to the test by result()
                self.error = e

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def result(self, timeout: float = 60) -> Any:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the flow did not finish"
        if self.error:
            raise self.error
        return self.state


def resume(run_id: Any, decision: dict[str, Any]) -> None:
    from flows.decisions import send_decision

    asyncio.run(send_decision(run_id, decision))


def paused_at(
    store: AgentStore, agent: Agent, order: int, kind: str | None = None, nth: int = 1
) -> Callable[[], RunRecord | None]:
    """A check for ``wait_for``: the agent's run, once it waits at chunk ``order`` — for ``kind``
    when given (``approval``, or ``step``: the ``nth`` step pause of that chunk)."""

    def check() -> RunRecord | None:
        runs = store.list_runs(agent.id, status=RunStatus.PAUSED)
        awaiting = runs[0].awaiting if runs else None
        if not awaiting or awaiting["order"] != order or kind not in (None, awaiting["kind"]):
            return None
        return runs[0] if kind != "step" or awaiting["key"].endswith(f"-{nth}") else None

    return check


def page_chunks(base_url: str, n: int) -> list[dict[str, Any]]:
    return [
        {
            "name": f"Page {i}",
            "actions": [
                {"type": "goto", "url": f"{base_url}/page/p{i}"},
                {"type": "click", "selector": "#real"},
                {"type": "expect_visible", "selector": "#clicked"},
            ],
        }
        for i in range(1, n + 1)
    ]


def test_verification_approve_skip_rest_and_abort(
    engine_store: AgentStore,
    make_agent: MakeAgent,
    prefect_harness: None,
    chromium: str,
    base_url: str,
    site: LocalSite,
) -> None:
    chunks = page_chunks(base_url, 4)
    chunks[0]["status"] = "Needs Review"
    agent = make_agent(engine_store, chunks)
    flow = FlowThread(agent, mode="verification")

    first = wait_for("the pause before chunk 1", paused_at(engine_store, agent, 1))
    assert engine_store.get(agent.id).chunks[0].status == ChunkStatus.AWAITING_APPROVAL
    assert first.awaiting is not None
    assert first.awaiting["kind"] == "approval"
    assert first.awaiting["key"] == f"approve-{agent.chunks[0].id}"
    assert "**goto**" in first.awaiting["description"]
    assert f"{base_url}/page/p1" in first.awaiting["description"]
    resume(first.flow_run_id, {"decision": "approve", "note": "checked it"})

    wait_for("the pause before chunk 2", paused_at(engine_store, agent, 2))
    resume(first.flow_run_id, {"decision": "skip", "note": "not today"})

    wait_for("the pause before chunk 3", paused_at(engine_store, agent, 3))
    from prefect.settings import get_current_settings

    api = get_current_settings().api.url
    assert api is not None
    answer = resume_as_prefect_ui(api, first.flow_run_id, {"decision": "approve", "note": "via REST"})
    assert answer.status_code in (200, 201), answer.text
    assert answer.json()["status"] == "ACCEPT", answer.text

    wait_for("the pause before chunk 4", paused_at(engine_store, agent, 4))
    resume(first.flow_run_id, {"decision": "abort", "note": "enough"})
    state = flow.result()

    assert state.is_cancelled()
    assert [c.status for c in engine_store.get(agent.id).chunks] == [
        ChunkStatus.COMPLETED,  # approved: it ran, and is reviewed now
        ChunkStatus.SKIPPED,
        ChunkStatus.COMPLETED,
        ChunkStatus.NOT_STARTED,
    ]
    assert site.hits["p1"] == 1
    assert site.hits["p2"] == 0
    record = engine_store.get_run(first.flow_run_id)
    assert record.status == RunStatus.ABORTED
    assert record.awaiting is None
    decisions = [(n["order"], n["decision"], n["note"]) for n in record.notes if n["kind"] == "approval"]
    assert decisions == [
        (1, "approve", "checked it"),
        (2, "skip", "not today"),
        (3, "approve", "via REST"),
        (4, "abort", "enough"),
    ]
    assert record.notes[0]["reviewed"] is True


def test_an_unanswered_pause_times_out(
    sqlite_engine_store: AgentStore,
    make_agent: MakeAgent,
    prefect_harness: None,
    chromium: str,
    base_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AGENTCTL_PAUSE_TIMEOUT_SECONDS", "2")
    get_settings.cache_clear()
    agent = make_agent(sqlite_engine_store, page_chunks(base_url, 2))
    state = FlowThread(agent, mode="verification").result()
    assert state.is_failed()
    assert 'nobody answered the approval pause of chunk 1 "Page 1" within 2 s' in state.message
    assert [c.status for c in sqlite_engine_store.get(agent.id).chunks] == [ChunkStatus.NOT_STARTED] * 2
    run = sqlite_engine_store.list_runs(agent.id)[0]
    assert run.status == RunStatus.FAILED
    assert run.awaiting is None


def test_debugging_traces_screenshots_and_step_decisions(
    sqlite_engine_store: AgentStore,
    make_agent: MakeAgent,
    prefect_harness: None,
    chromium: str,
    base_url: str,
    site: LocalSite,
) -> None:
    chunks = page_chunks(base_url, 3)
    chunks[1]["actions"] = [
        {"type": "goto", "url": f"{base_url}/page/flaky?fail=1"},
        {"type": "expect_visible", "selector": "#ok", "timeout_ms": 400},
    ]
    agent = make_agent(sqlite_engine_store, chunks)
    flow = FlowThread(agent, mode="debugging")

    def stepped(order: int, nth: int) -> Callable[[], RunRecord | None]:
        return paused_at(sqlite_engine_store, agent, order, "step", nth)

    run = wait_for("the step after chunk 1", stepped(1, 1))
    assert run.awaiting is not None
    assert run.awaiting["kind"] == "step"
    # The chunk that just ran, by what became of it (it read "completed — next: 01", as if 01 were next)
    assert run.awaiting["description"].startswith(f"### Chunk completed: {run.awaiting['chunk']}")
    resume(run.flow_run_id, {"decision": "continue", "note": ""})
    failed = wait_for("the step after the failed chunk 2", stepped(2, 1))
    assert failed.awaiting is not None
    assert "**Error:**" in failed.awaiting["description"]
    assert sqlite_engine_store.get(agent.id).chunks[1].status == ChunkStatus.FAILED
    resume(run.flow_run_id, {"decision": "retry", "note": "page was slow"})
    wait_for("the step after the retried chunk 2", stepped(2, 2))
    assert sqlite_engine_store.get(agent.id).chunks[1].status == ChunkStatus.COMPLETED
    resume(run.flow_run_id, {"decision": "run_to_end", "note": ""})
    state = flow.result()

    assert state.is_completed(), state.message
    assert [c.status for c in sqlite_engine_store.get(agent.id).chunks] == [ChunkStatus.COMPLETED] * 3
    assert site.hits["flaky"] == 2
    files = sorted(p.name for p in (get_settings().runs_dir() / str(run.flow_run_id)).iterdir())
    for name in (
        "chunk-01-trace-1.zip",
        "chunk-02-trace-1.zip",
        "chunk-02-trace-2.zip",
        "chunk-03-trace-1.zip",
    ):
        assert name in files, files
    for name in (
        "chunk-01-action-01-attempt-1.png",
        "chunk-01-action-03-attempt-1.png",
        "chunk-01-end-attempt-1.png",
        "chunk-03-end-attempt-1.png",
        # Retried by a person: the first attempt's screenshots are kept beside the second's.
        "chunk-02-action-01-attempt-1.png",
        "chunk-02-action-01-attempt-2.png",
        "chunk-02-end-attempt-1.png",
        "chunk-02-end-attempt-2.png",
    ):
        assert name in files, files
    with zipfile.ZipFile(get_settings().runs_dir() / str(run.flow_run_id) / "chunk-01-trace-1.zip") as trace:
        names = trace.namelist()
        assert any(n.endswith(".trace") for n in names), names
        assert b'"title":"01 \\u00b7 Page 1"' in trace.read("trace.trace") or b"Page 1" in trace.read(
            "trace.trace"
        )
    steps = [(n["order"], n["decision"]) for n in sqlite_engine_store.get_run(run.flow_run_id).notes]
    assert steps == [(1, "continue"), (2, "retry"), (2, "run_to_end")]

    # The verbose log: each action as it runs and what it took (it had two DEBUG lines a run).
    import logging

    from flows.run_logs import read_run_logs

    def debug_lines() -> list[str] | None:
        found = asyncio.run(read_run_logs(run.flow_run_id, min_level=logging.DEBUG))
        lines = [line.message for line in found if line.level == logging.DEBUG]
        return lines if any("chunk 3" in line for line in lines) else None

    lines = wait_for("the debugging run's DEBUG lines in Prefect", debug_lines, timeout=15)
    assert f'chunk 1 "Page 1", action 1: goto url="{base_url}/page/p1"' in lines
    assert any(
        line.startswith('chunk 1 "Page 1", action 2 done in ') and line.endswith("ms, matched '#real'")
        for line in lines
    ), lines


def test_debugging_mode_asks_approval_before_a_chunk_that_needs_review(
    sqlite_engine_store: AgentStore,
    make_agent: MakeAgent,
    prefect_harness: None,
    chromium: str,
    base_url: str,
    site: LocalSite,
) -> None:
    """Debugging mode pauses after each chunk: a chunk marked Needs Review ran before anyone had
    looked at its actions. It now waits for an approval first (a retry is not asked again)."""
    chunks = page_chunks(base_url, 2)
    chunks[1]["status"] = "Needs Review"
    agent = make_agent(sqlite_engine_store, chunks)
    flow = FlowThread(agent, mode="debugging")

    def paused(kind: str, order: int, nth: int = 1) -> Callable[[], RunRecord | None]:
        return paused_at(sqlite_engine_store, agent, order, kind, nth)

    run = wait_for("the step after chunk 1", paused("step", 1))
    resume(run.flow_run_id, {"decision": "continue", "note": ""})
    wait_for("the approval of chunk 2, before it runs", paused("approval", 2))
    assert site.hits["p2"] == 0
    resume(run.flow_run_id, {"decision": "approve", "note": "read it"})
    wait_for("the step after chunk 2", paused("step", 2))
    resume(run.flow_run_id, {"decision": "retry", "note": ""})
    wait_for("the step after chunk 2 again", paused("step", 2, 2))
    resume(run.flow_run_id, {"decision": "continue", "note": ""})
    state = flow.result()

    assert state.is_completed(), state.message
    assert site.hits["p2"] == 2
    # Approved: reviewed, as in verification mode.
    assert [c.status for c in sqlite_engine_store.get(agent.id).chunks] == [ChunkStatus.COMPLETED] * 2
    notes = [
        (n["kind"], n["order"], n["decision"]) for n in sqlite_engine_store.get_run(run.flow_run_id).notes
    ]
    assert notes == [
        ("step", 1, "continue"),
        ("approval", 2, "approve"),
        ("step", 2, "retry"),
        ("step", 2, "continue"),
    ]


def test_a_trace_of_a_chunk_that_types_a_secret_does_not_hold_it(
    sqlite_engine_store: AgentStore,
    make_agent: MakeAgent,
    prefect_harness: None,
    chromium: str,
    base_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = 'Trace-Secret-99&<quote"here>'
    monkeypatch.setenv("AGENTCTL_SECRET_TRACE_SECRET", secret)
    agent = make_agent(
        sqlite_engine_store,
        [
            {
                "name": "Type the secret",
                "actions": [
                    {"type": "goto", "url": f"{base_url}/page/trace"},
                    {"type": "fill", "selector": "#field", "value": "{{ secrets.TRACE_SECRET }}"},
                    {"type": "type", "selector": "#field", "text": "{{ secrets.TRACE_SECRET }}"},
                    {
                        "type": "expect_text",
                        "selector": "#title",
                        "text": "{{ secrets.TRACE_SECRET }}",
                        "timeout_ms": 300,
                    },
                ],
            }
        ],
    )
    flow = FlowThread(agent, mode="debugging")
    run = wait_for("the step after the failed chunk", paused_at(sqlite_engine_store, agent, 1))
    resume(run.flow_run_id, {"decision": "abort", "note": f"typed {secret}"})
    state = flow.result()
    assert state.is_cancelled()
    run_dir = get_settings().runs_dir() / str(run.flow_run_id)
    traces = list(run_dir.glob("*.zip"))
    assert traces
    forms = [secret.encode(), secret.replace('"', '\\"').encode(), b"Trace-Secret-99"]
    for trace in traces:
        with zipfile.ZipFile(trace) as archive:
            assert archive.testzip() is None
            for member in archive.namelist():
                data = archive.read(member)
                for form in forms:
                    assert form not in data, f"{trace.name}:{member} holds the secret"
    for path in run_dir.iterdir():
        if path.suffix != ".zip":
            assert b"Trace-Secret-99" not in path.read_bytes(), path.name
    notes = sqlite_engine_store.get_run(run.flow_run_id).notes
    assert notes[-1]["note"] == "typed ***"


def test_from_chunk_starts_with_the_session_of_the_earlier_run(
    sqlite_engine_store: AgentStore,
    make_agent: MakeAgent,
    run_flow: Callable[..., Any],
    base_url: str,
    site: LocalSite,
    secret_env: str,
) -> None:
    agent = make_agent(
        sqlite_engine_store,
        [
            {
                "name": "Sign in",
                "actions": [*demo_sign_in(base_url), {"type": "extract", "selector": "h1", "var": "heading"}],
            },
            {
                "name": "Add a record",
                "actions": [
                    {"type": "goto", "url": f"{base_url}/records"},
                    {"type": "fill", "selector": "#title", "value": "Entry", "timeout_ms": 900},
                    {"type": "fill", "selector": "#amount", "value": "1.00"},
                    {"type": "click", "selector": "#add-record"},
                ],
            },
            {
                "name": "Broken",
                "actions": [
                    {
                        "type": "expect_text",
                        "selector": "h1",
                        "text": "{{ vars.heading }} again",
                        "timeout_ms": 300,
                    }
                ],
            },
        ],
    )
    first = run_flow(agent)
    assert first.is_failed()
    first_id = first.state_details.flow_run_id
    first_dir = get_settings().runs_dir() / str(first_id)
    assert (first_dir / "session-after-01.json").stat().st_mode & 0o777 == 0o600
    assert (first_dir / "session-after-02.json").is_file()
    assert not (first_dir / "session-after-03.json").exists()  # a failed chunk's: nowhere to resume from

    # Chunk 2 alone starts signed in, as chunk 1 left the browser (it started on a blank page, and
    # the records page sent it to sign in).
    alone = run_flow(agent, chunks=[2])
    assert alone.is_completed(), alone.message
    assert sqlite_engine_store.get(agent.id).chunks[1].status == ChunkStatus.COMPLETED

    resumed = run_flow(agent, from_chunk=2)
    assert resumed.is_failed()  # chunk 3 is still broken
    chunks = sqlite_engine_store.get(agent.id).chunks
    assert chunks[1].status == ChunkStatus.COMPLETED
    assert chunks[2].status == ChunkStatus.FAILED
    assert [r["title"] for r in site.demo.records] == ["Entry", "Entry", "Entry"]
    failed = chunks[2].error_details
    assert failed is not None
    assert failed["action"]["text"] == "Records again"  # the var saved by chunk 1 of the first run
    record = sqlite_engine_store.get_run(resumed.state_details.flow_run_id)
    assert record.notes[0] == {"kind": "session", "from_run": str(first_id), "after_chunk": 1}
    assert record.chunks == [2, 3]

    explicit = run_flow(agent, from_chunk=2, session_from=str(first_id)[:8])
    assert sqlite_engine_store.get(agent.id).chunks[1].status == ChunkStatus.COMPLETED
    assert explicit.is_failed()


def test_a_webhook_only_agent_resumes_with_the_vars_of_its_last_run(
    sqlite_engine_store: AgentStore,
    make_agent: MakeAgent,
    run_flow: Callable[..., Any],
    base_url: str,
    site: LocalSite,
) -> None:
    """Chunks of ``http`` actions only opened no browser, so no session was saved after them: a
    resume found none ("no earlier run kept a session") and refused, its var unknown."""
    import json

    hook = f"{base_url}/receive/webhooks"
    agent = make_agent(
        sqlite_engine_store,
        [
            {
                "name": "Create",
                "actions": [{"type": "http", "url": hook, "json": {"step": 1}, "var": "made"}],
            },
            {
                "name": "Use it",
                "actions": [{"type": "http", "url": hook, "json": {"after": "{{ vars.made.json.n }}"}}],
            },
        ],
    )
    first = run_flow(agent)
    assert first.is_completed(), first.message
    saved = get_settings().runs_dir() / str(first.state_details.flow_run_id) / "session-after-01.json"
    assert json.loads(saved.read_text())["storage_state"] is None

    resumed = run_flow(agent, from_chunk=2)

    assert resumed.is_completed(), resumed.message
    assert json.loads(site.requests[-1]["body"]) == {"after": 1}  # chunk 1's answer, from the session


def test_a_resume_never_sends_on_a_var_that_held_a_secret(
    sqlite_engine_store: AgentStore,
    make_agent: MakeAgent,
    run_flow: Callable[..., Any],
    base_url: str,
    site: LocalSite,
    secret_env: str,
) -> None:
    """A webhook's answer echoing a secret was saved in the session masked, and ``--from-chunk``
    restored it: the next call sent ``***`` on as the value, and the run said Completed."""
    import json

    hook = f"{base_url}/receive/relay"
    agent = make_agent(
        sqlite_engine_store,
        [
            {
                "name": "Send the token",
                "actions": [
                    {"type": "goto", "url": f"{base_url}/records"},
                    {
                        "type": "http",
                        "url": hook,
                        "json": {"token": "{{ secrets.DEMO_PASSWORD }}"},
                        "var": "sent",
                    },
                    {"type": "http", "url": hook, "json": {"plain": "words"}, "var": "plain"},
                ],
            },
            {
                "name": "Relay the answer",
                "actions": [{"type": "http", "url": hook, "json": {"again": "{{ vars.sent.json.echo }}"}}],
            },
            {
                "name": "Relay the plain one",
                "actions": [{"type": "http", "url": hook, "json": {"again": "{{ vars.plain.json.echo }}"}}],
            },
        ],
    )
    first = run_flow(agent)
    assert first.is_completed(), first.message
    saved = json.loads(
        (
            get_settings().runs_dir() / str(first.state_details.flow_run_id) / "session-after-01.json"
        ).read_text()
    )
    assert sorted(saved["vars"]) == ["plain"]
    assert saved["withheld_vars"] == ["sent"]
    sent_before = len(site.requests)

    resumed = run_flow(agent, from_chunk=2)
    assert resumed.is_failed()
    assert "{{ vars.sent }} held a secret" in resumed.message
    assert "run from chunk 1, which saves it" in resumed.message
    assert len(site.requests) == sent_before  # nothing was sent
    # A resume that does not need it still runs, with the vars the session kept.
    alone = run_flow(agent, chunks=[3])
    assert alone.is_completed(), alone.message
    assert json.loads(site.requests[-1]["body"]) == {"again": '{"plain":"words"}'}
    assert all("***" not in r["body"] for r in site.requests)


def test_needs_review_blocks_automatic_mode_unless_forced(
    sqlite_engine_store: AgentStore, make_agent: MakeAgent, run_flow: Callable[..., Any], base_url: str
) -> None:
    from flows.errors import RunRefused
    from flows.plan import compile_agent

    chunks = page_chunks(base_url, 3)
    chunks[1]["status"] = "Needs Review"
    chunks[2]["status"] = "Needs Review"
    agent = make_agent(sqlite_engine_store, chunks)
    with pytest.raises(RunRefused, match='chunks 2 "Page 2", 3 "Page 3" need review'):
        compile_agent(agent)
    refused = run_flow(agent)
    assert refused.is_failed()
    assert "need review" in refused.message
    # Recorded, as a schedule's or trigger's run refused with no one watching must be (it was not).
    [record] = sqlite_engine_store.list_runs(agent.id)
    assert record.flow_run_id == refused.state_details.flow_run_id
    assert record.status == RunStatus.FAILED
    assert "need review" in (record.error or "")
    assert compile_agent(agent, "automatic", force=True).orders == [1, 2, 3]
    forced = run_flow(agent, force=True)
    assert forced.is_completed(), forced.message
    # Running them did not review them: the next automatic run is refused again.
    statuses = [c.status for c in sqlite_engine_store.get(agent.id).chunks]
    assert statuses == [ChunkStatus.COMPLETED, ChunkStatus.NEEDS_REVIEW, ChunkStatus.NEEDS_REVIEW]
    # Each was noted before it started, so that a run killed inside one puts the mark back too.
    [forced_record] = [r for r in sqlite_engine_store.list_runs(agent.id) if r.status == RunStatus.COMPLETED]
    assert [(n["kind"], n["order"]) for n in forced_record.notes] == [("unreviewed", 2), ("unreviewed", 3)]
    with pytest.raises(RunRefused, match="need review"):
        compile_agent(sqlite_engine_store.get(agent.id))


def test_the_plan_knows_which_chunks_need_review() -> None:
    import uuid

    from agents_store.documents import parse_definition
    from flows.plan import compile_agent
    from tests.factories import agent_doc

    doc = agent_doc(chunks=2)
    doc["chunks"][1]["status"] = "Needs Review"
    agent = Agent.from_definition(parse_definition(doc), user_id=uuid.uuid4())
    plan = compile_agent(agent, "verification")
    assert [s.needs_review for s in plan.steps] == [False, True]


def test_the_plan_marks_the_actions_that_hold_templates() -> None:
    """Only those are rendered before they run; a step not made by the plan renders every action."""
    import uuid

    from agents_store.documents import parse_definition
    from flows.plan import compile_agent
    from tasks.steps import ChunkStep
    from tests.factories import agent_doc, chunk_doc

    doc = agent_doc(chunks=0, params={"base": "http://127.0.0.1:9"})
    doc["chunks"] = [
        chunk_doc(
            "Mixed",
            [
                {"type": "goto", "url": "{{ params.base }}/form"},
                {"type": "click", "selector": "#literal"},
                {"type": "extract", "selector": "#total", "var": "total"},
                {
                    "type": "http",
                    "method": "POST",
                    "url": "http://127.0.0.1:9/hook",
                    "json": {"t": "{{ vars.total }}"},
                },
            ],
        ),
        chunk_doc("Literal", [{"type": "click", "selector": "#done"}]),
    ]
    agent = Agent.from_definition(parse_definition(doc), user_id=uuid.uuid4())
    steps = compile_agent(agent).steps
    assert [s.templated_actions for s in steps] == [[0, 3], []]
    assert [steps[0].is_templated(i) for i in range(4)] == [True, False, False, True]
    by_hand = ChunkStep.model_validate(steps[1].model_dump() | {"templated_actions": None})
    assert by_hand.is_templated(0)


def test_two_people_answering_one_pause_approve_one_chunk_not_two(
    sqlite_engine_store: AgentStore,
    make_agent: MakeAgent,
    prefect_harness: None,
    chromium: str,
    base_url: str,
    site: LocalSite,
) -> None:
    """Two approvals of chunk 1 a moment apart (two tabs, or the dashboard and the CLI): both were
    accepted, and the second ran chunk 2, which nobody had seen. A decision is for the pause its
    sender saw: the later one is refused, and the run waits before chunk 2."""
    from flows.decisions import send_decision
    from flows.errors import RunNotPaused

    agent = make_agent(sqlite_engine_store, page_chunks(base_url, 3))
    flow = FlowThread(agent, mode="verification")
    first = wait_for("the pause before chunk 1", paused_at(sqlite_engine_store, agent, 1))
    assert first.awaiting is not None
    key = first.awaiting["key"]

    async def two_answers() -> list[BaseException | None]:
        async def answer(note: str, delay: float) -> None:
            await asyncio.sleep(delay)
            await send_decision(first.flow_run_id, {"decision": "approve", "note": note}, pause_key=key)

        return await asyncio.gather(answer("A", 0), answer("B", 0.1), return_exceptions=True)

    outcomes = asyncio.run(two_answers())
    assert outcomes[0] is None
    assert isinstance(outcomes[1], RunNotPaused), outcomes[1]
    second = wait_for("the pause before chunk 2", paused_at(sqlite_engine_store, agent, 2))
    assert [c.status for c in sqlite_engine_store.get(agent.id).chunks] == [
        ChunkStatus.COMPLETED,
        ChunkStatus.AWAITING_APPROVAL,
        ChunkStatus.NOT_STARTED,
    ]
    assert [n["note"] for n in sqlite_engine_store.get_run(second.flow_run_id).notes] == ["A"]
    assert "p2" not in site.hits
    resume(second.flow_run_id, {"decision": "abort", "note": "done"})
    flow.result()


def test_a_resume_without_a_saved_session_warns_and_session_from_needs_a_resume(
    sqlite_engine_store: AgentStore, make_agent: MakeAgent, base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Both were silent: ``--from-chunk 3`` of an agent no run had reached said why chunk 3 found
    no page only in Prefect's logs, and ``--session-from`` with a run from chunk 1 was ignored, a
    mistyped run id too."""
    from agents_store.errors import ConfigError
    from flows.plan import Selection
    from flows.preflight import prepare_run

    agent = make_agent(sqlite_engine_store, page_chunks(base_url, 3))
    runs_dir = get_settings().runs_dir()
    with caplog.at_level("WARNING", logger="agentctl.session"):
        prepared = prepare_run(
            sqlite_engine_store, str(agent.id), "automatic", Selection(from_chunk=3), None, runs_dir=runs_dir
        )
    assert prepared.session is None
    assert "no earlier run of this agent kept a session after chunk 2; starting without one" in caplog.text
    for selection in (Selection(), Selection(from_chunk=1), Selection(chunks=[1, 3])):
        with pytest.raises(
            ConfigError, match="--session-from: a run from chunk 1 starts with no saved session"
        ):
            prepare_run(
                sqlite_engine_store,
                str(agent.id),
                "automatic",
                selection,
                None,
                runs_dir=runs_dir,
                session_from="nope",
            )


def test_an_earlier_run_aborted_after_a_later_one_leaves_the_later_ones_statuses(
    sqlite_engine_store: AgentStore,
    make_agent: MakeAgent,
    run_flow: Callable[..., Any],
    base_url: str,
    site: LocalSite,
) -> None:
    """A verification run waited at chunk 1 while an automatic run of the same agent completed
    every chunk; aborting the first then put chunk 1 back to Not Started. The later run holds the
    chunks: the earlier one's writes no longer land, its own record keeps how it ended."""
    agent = make_agent(sqlite_engine_store, page_chunks(base_url, 2))
    earlier = FlowThread(agent, mode="verification")
    paused = wait_for("the pause before chunk 1", paused_at(sqlite_engine_store, agent, 1))

    assert run_flow(agent).is_completed()
    assert [c.status for c in sqlite_engine_store.get(agent.id).chunks] == [ChunkStatus.COMPLETED] * 2

    resume(paused.flow_run_id, {"decision": "abort", "note": "the other run did it"})
    assert earlier.result().is_cancelled()
    chunks = sqlite_engine_store.get(agent.id).chunks
    assert [c.status for c in chunks] == [ChunkStatus.COMPLETED] * 2
    assert {c.last_run_id for c in chunks} != {paused.flow_run_id}
    assert sqlite_engine_store.get_run(paused.flow_run_id).status == RunStatus.ABORTED


def _cancel_in_prefect(flow_run_id: Any) -> None:
    """What ``prefect flow-run cancel`` and the UI's Cancel do: the run goes Cancelling."""
    from prefect import get_client
    from prefect.states import Cancelling

    async def cancel() -> None:
        async with get_client() as client:
            await client.set_flow_run_state(flow_run_id, Cancelling())

    asyncio.run(cancel())


def test_a_run_cancelled_in_prefect_stops_before_its_next_chunk_or_at_its_pause(
    sqlite_engine_store: AgentStore, make_agent: MakeAgent, prefect_harness: None, chromium: str
) -> None:
    """``agentctl run`` (no Prefect runner) ignored a cancel: the chunk after it ran and the store
    said Completed while Prefect said Cancelling; a paused run waited out its pause timeout."""
    agent = make_agent(
        sqlite_engine_store,
        [
            {"name": "Slow", "actions": [{"type": "sleep", "seconds": 4}]},
            {"name": "After", "actions": [{"type": "sleep", "seconds": 0}]},
        ],
    )
    going = FlowThread(agent)

    def running() -> RunRecord | None:
        runs = sqlite_engine_store.list_runs(agent.id)
        chunk = sqlite_engine_store.get(agent.id).chunks[0]
        return runs[0] if runs and chunk.status == ChunkStatus.RUNNING else None

    run = wait_for("chunk 1 to run", running)
    _cancel_in_prefect(run.flow_run_id)
    assert going.result(timeout=30).is_cancelled()
    assert [c.status for c in sqlite_engine_store.get(agent.id).chunks] == [
        ChunkStatus.COMPLETED,
        ChunkStatus.NOT_STARTED,
    ]
    record = sqlite_engine_store.get_run(run.flow_run_id)
    assert record.status == RunStatus.CANCELLED
    assert record.error == 'cancelled in Prefect before chunk 2 "After"'

    paused = FlowThread(agent, mode="verification")
    waiting = wait_for("the pause before chunk 1", paused_at(sqlite_engine_store, agent, 1))
    _cancel_in_prefect(waiting.flow_run_id)
    assert paused.result(timeout=30).is_cancelled()
    record = sqlite_engine_store.get_run(waiting.flow_run_id)
    assert (record.status, record.awaiting) == (RunStatus.CANCELLED, None)
    assert sqlite_engine_store.get(agent.id).chunks[0].status == ChunkStatus.NOT_STARTED


def test_a_cancel_during_the_last_chunk_or_its_retries_ends_the_run_cancelled(
    sqlite_engine_store: AgentStore, make_agent: MakeAgent, prefect_harness: None, base_url: str
) -> None:
    """Cancelled while its last chunk ran, the run ended Completed in the store and Cancelling in
    Prefect for good (Prefect refuses any other end); cancelled while a chunk failed, the chunk
    went through all its retries first."""
    from prefect.settings import get_current_settings

    api = str(get_current_settings().api.url)

    last = make_agent(sqlite_engine_store, [{"name": "Slow", "actions": [{"type": "sleep", "seconds": 4}]}])
    going = FlowThread(last)
    run = wait_for("the chunk to run", lambda: next(iter(sqlite_engine_store.list_runs(last.id)), None))
    _cancel_in_prefect(run.flow_run_id)
    assert going.result(timeout=30).is_cancelled()
    record = sqlite_engine_store.get_run(run.flow_run_id)
    assert (record.status, record.error) == (
        RunStatus.CANCELLED,
        "cancelled in Prefect; its last chunk had run (it completed)",
    )
    assert prefect_state(api, run.flow_run_id) == "CANCELLED"

    failing = make_agent(
        sqlite_engine_store,
        [
            {
                "name": "Fails",
                "retries": 3,
                "actions": [
                    {"type": "goto", "url": f"{base_url}/page/f?fail=9"},
                    {"type": "expect_visible", "selector": "#ok", "timeout_ms": 300},
                ],
            }
        ],
        name="Retries",
        settings={"retries": 0, "retry_delay_seconds": 3, "action_timeout_ms": 3000},
    )
    going = FlowThread(failing)

    def failed_once() -> RunRecord | None:
        runs = sqlite_engine_store.list_runs(failing.id)
        return runs[0] if runs and sqlite_engine_store.get(failing.id).chunks[0].error_details else None

    run = wait_for("the first attempt to fail", failed_once)
    _cancel_in_prefect(run.flow_run_id)
    assert going.result(timeout=30).is_cancelled()
    chunk = sqlite_engine_store.get(failing.id).chunks[0]
    assert chunk.status == ChunkStatus.FAILED
    assert chunk.attempts <= 2  # not 4
    assert sqlite_engine_store.get_run(run.flow_run_id).status == RunStatus.CANCELLED
    assert prefect_state(api, run.flow_run_id) == "CANCELLED"
