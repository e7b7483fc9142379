"""agentctl run / runs / logs / demo through the real entry point, the real engine and Chromium."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from tests.cli.conftest import CliRunner
from tests.factories import LOOM

ROOT = Path(__file__).parents[2]

pytestmark = pytest.mark.browser


def _agent_file(tmp_path: Path, base_url: str, **settings: object) -> Path:
    doc = {
        "name": "CLI run",
        "loom_url": LOOM,
        "params": {"page": "cli"},
        "settings": {"retries": 0, "retry_delay_seconds": 0, "action_timeout_ms": 2000, **settings},
        "chunks": [
            {"name": "Open", "actions": [{"type": "goto", "url": f"{base_url}/page/{{{{ params.page }}}}"}]},
            {"name": "Click", "actions": [{"type": "click", "selector": "#real"}]},
            {
                "name": "Check",
                "actions": [{"type": "expect_visible", "selector": "#clicked", "timeout_ms": 500}],
            },
        ],
    }
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_run_selected_chunks_then_runs_and_logs(
    agentctl: CliRunner, tmp_path: Path, prefect_harness: None, chromium: str, base_url: str
) -> None:
    agent_id = agentctl("import", str(_agent_file(tmp_path, base_url))).out.strip()
    result = agentctl("run", agent_id[:8], "--chunk", "1", "--chunk", "2", "--param", "page=picked")
    assert result.code == 0, result.err
    assert "flow run " in result.out
    shown = json.loads(agentctl("show", agent_id, "--json").out)
    assert [c["status"] for c in shown["chunks"]] == ["Completed", "Completed", "Not Started"]
    runs = json.loads(agentctl("runs", agent_id, "--json").out)
    assert len(runs) == 1
    assert runs[0]["status"] == "Completed"
    assert runs[0]["agent_version"] == 1
    assert runs[0]["chunks"] == [1, 2]
    assert runs[0]["params"] == {"page": "picked"}
    table = agentctl("runs")
    assert "CLI run" in table.out
    assert "Completed" in table.out
    deadline = time.monotonic() + 15
    last_chunk = "INFO    [02 · Click] prefect.task_runs: Finished in state Completed()"
    last_line = "INFO    prefect.flow_runs: Finished in state Completed()"
    while True:  # log lines reach Prefect's API in batches, a moment after the run (task runs later)
        logs = agentctl("logs", runs[0]["flow_run_id"][:8])
        if (last_chunk in logs.out and last_line in logs.out) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert logs.code == 0
    assert "INFO    [01 · Open] prefect.task_runs: Finished in state Completed()" in logs.out
    assert last_chunk in logs.out  # which chunk each of Prefect's task lines is about
    assert last_line in logs.out
    quiet = agentctl("logs", runs[0]["flow_run_id"][:8], "--level", "ERROR")  # a run that logged no error
    assert (quiet.code, quiet.out) == (0, "")
    assert f"no log lines at ERROR or above for run {runs[0]['flow_run_id']}" in quiet.err


def test_the_live_table_follows_each_chunk_as_it_runs(
    agentctl: CliRunner, tmp_path: Path, prefect_harness: None, chromium: str, base_url: str
) -> None:
    from flows.progress import ProgressEvent, listening

    agent_id = agentctl("import", str(_agent_file(tmp_path, base_url))).out.strip()
    seen: list[ProgressEvent] = []
    with listening(seen.append):  # beside the table's own listener, in this process
        result = agentctl("run", agent_id, "--chunk", "1", "--chunk", "2")
    assert result.code == 0, result.err
    assert [(e.order, e.status) for e in seen if e.kind == "chunk"] == [
        (1, "Running"),
        (1, "Completed"),
        (2, "Running"),
        (2, "Completed"),
    ]
    assert [e.status for e in seen if e.kind == "run"] == ["Completed"]
    table = [line.split() for line in result.err.splitlines()]
    assert ["1", "Open", "Completed", "1"] in table, result.err
    assert ["2", "Click", "Completed", "1"] in table, result.err
    assert not any(row[:2] == ["3", "Check"] for row in table), "only the chosen chunks are listed"


def test_a_failed_run_exits_non_zero_and_later_chunks_stay_not_started(
    agentctl: CliRunner, tmp_path: Path, prefect_harness: None, chromium: str, base_url: str
) -> None:
    agent_id = agentctl("import", str(_agent_file(tmp_path, base_url))).out.strip()
    result = agentctl("run", agent_id, "--chunk", "1", "--chunk", "3")
    assert result.code == 1
    assert 'chunk 3 "Check" failed' in result.err
    assert "Traceback" not in result.err, "a chunk's failure is told by the table, not a traceback"
    lines = result.err.splitlines()
    assert any(line.split()[:3] == ["3", "Check", "Failed"] for line in lines if line.strip()), result.err
    # The run's own error, not Prefect's wrapping of it ("Flow run encountered an exception: …")
    last = 'agentctl: run failed: chunk 3 "Check" failed: '
    assert any(line.startswith(last) for line in lines), result.err
    assert "Finished in state" not in result.err  # Prefect's closing line drew into the live table
    assert "encountered an exception" not in result.err
    shown = json.loads(agentctl("show", agent_id, "--json").out)
    assert [c["status"] for c in shown["chunks"]] == ["Completed", "Not Started", "Failed"]
    # '#clicked' appears only after chunk 2's click: not there at all (it said "it is hidden").
    assert shown["chunks"][2]["error_details"]["type"] == "ElementNotFound"
    shown_text = agentctl("show", agent_id).out
    assert "ElementNotFound" in shown_text
    # Under the table, the whole error and where to look next
    assert 'chunk 3 "Check" failed after 1 attempt\n' in shown_text
    assert "  ElementNotFound: no element matches '#clicked' (waited 500 ms)\n" in shown_text
    action = shown["chunks"][2]["error_details"]["action"]
    assert action == {"type": "expect_visible", "selector": "#clicked", "timeout_ms": 500}
    assert f"  action 1: {json.dumps(action)}\n" in shown_text
    assert f"  screenshot: {shown['chunks'][2]['error_details']['screenshot']}\n" in shown_text
    run_id = shown["chunks"][2]["error_details"]["flow_run_id"]
    assert f"  run: {run_id} (agentctl logs {run_id})\n" in shown_text


def test_a_failed_chunk_of_an_agent_with_secrets_prints_no_traceback_either(
    agentctl: CliRunner,
    tmp_path: Path,
    prefect_harness: None,
    chromium: str,
    base_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Masking the run's logs turns a record's exception into text; the terminal still leaves out
    Prefect's traceback of the chunk's failure, as for an agent without secrets."""
    monkeypatch.setenv("AGENTCTL_SECRET_CLI_TOKEN", "tok-3f9a1c77")
    doc = {
        "name": "Types a secret",
        "loom_url": LOOM,
        "settings": {"retries": 0, "retry_delay_seconds": 0, "action_timeout_ms": 500},
        "chunks": [
            {
                "name": "Type",
                "actions": [
                    {"type": "goto", "url": f"{base_url}/page/secret"},
                    {"type": "fill", "selector": "#nowhere", "value": "{{ secrets.CLI_TOKEN }}"},
                ],
            }
        ],
    }
    path = tmp_path / "secret.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    agent_id = agentctl("import", str(path)).out.strip()
    result = agentctl("run", agent_id)
    assert result.code == 1
    assert "Traceback" not in result.err, result.err
    assert result.err.strip().splitlines()[-1].startswith('agentctl: run failed: chunk 1 "Type" failed: ')
    assert "tok-3f9a1c77" not in result.err + result.out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--chunk", "9"), "error: --chunk: the agent has no chunk 9 (it has 1..3)"),
        (("--from-chunk", "7"), "error: --from-chunk: the agent has no chunk 7 (it has 1..3)"),
        (("--param", "nope=1"), "error: --param: nope is not a param of this agent (its params: page)"),
        (("--param", "broken"), "error: --param: 'broken' is not NAME=VALUE"),
        (("--param", "page=a", "--param", "page=b"), "error: --param: page is given twice"),
        (("--mode", "turbo"), "error: --mode: 'turbo' is not one of automatic, verification, debugging"),
        (("--chunk", "2", "--from-chunk", "1"), "--chunk and --from-chunk: give one or the other, not both"),
        # --chunk N takes --session-from as --from-chunk N does (it was refused: "give --from-chunk too").
        (
            ("--chunk", "3", "--session-from", "nope"),
            "error: --session-from: no run of this agent matches 'nope'",
        ),
        (
            ("--chunk", "1", "--session-from", "nope"),
            "--session-from: a run from chunk 1 starts with no saved",
        ),
    ],
)
def test_bad_run_options_fail_fast_without_starting_prefect(
    agentctl: CliRunner, tmp_path: Path, base_url: str, args: tuple[str, ...], expected: str
) -> None:
    agent_id = agentctl("import", str(_agent_file(tmp_path, base_url))).out.strip()
    result = agentctl("run", agent_id, *args)
    assert result.code == 1
    assert expected in result.err
    assert "no earlier run" not in result.err  # no session is looked for a chunk that is not there
    assert json.loads(agentctl("runs", "--json").out) == []


def test_a_missing_secret_is_refused_in_one_line_before_a_flow_run_starts(
    agentctl: CliRunner, tmp_path: Path, base_url: str, prefect_harness: None
) -> None:
    doc = {
        "name": "Needs a secret",
        "loom_url": LOOM,
        "chunks": [
            {
                "name": "Type it",
                "actions": [{"type": "fill", "selector": "#a", "value": "{{ secrets.NOWHERE_SET }}"}],
            }
        ],
    }
    path = tmp_path / "secret.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    agent_id = agentctl("import", str(path)).out.strip()
    result = agentctl("run", agent_id)
    assert result.code == 1
    assert result.err.strip().splitlines()[-1] == (
        'agentctl: error: chunk 1 "Type it", action 1 (fill): {{ secrets.NOWHERE_SET }} is not set '
        "(set AGENTCTL_SECRET_NOWHERE_SET or a Prefect Secret block named 'nowhere-set')"
    )
    assert "flow run" not in result.out
    assert json.loads(agentctl("runs", "--json").out) == []


def test_headed_without_a_display_is_refused_before_the_run_starts(
    agentctl: CliRunner, tmp_path: Path, base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    agent_id = agentctl("import", str(_agent_file(tmp_path, base_url))).out.strip()
    result = agentctl("run", agent_id, "--headed")
    assert result.code == 1
    assert "a headed browser needs a display and none is set" in result.err
    assert "xvfb-run" in result.err
    assert json.loads(agentctl("runs", "--json").out) == []


def test_demo_runs_the_demo_agent_against_the_demo_app(
    agentctl: CliRunner, prefect_harness: None, chromium: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli.demo.command import PASSWORD_ENV

    monkeypatch.delenv(PASSWORD_ENV, raising=False)  # the demo sets it; it goes again after the test
    result = agentctl("demo")
    assert result.code == 0, result.err
    assert "Coffee beans 42.50" in result.out
    assert "'total': '42.50'" in result.out
    agents = json.loads(agentctl("list", "--json").out)
    assert [a["name"] for a in agents] == ["Record a sale and tell Zapier"]
    assert agents[0]["status"] == "Completed"
    again = agentctl("demo")
    assert again.code == 0
    assert len(json.loads(agentctl("list", "--json").out)) == 1  # the demo agent is reused, not duplicated
    assert len(json.loads(agentctl("runs", "--json").out)) == 2

    # The README's examples include the same agent: imported, its name is no longer unique.
    assert agentctl("import", str(ROOT / "examples" / "demo-records.yaml")).code == 0
    third = agentctl("demo")
    assert third.code == 0, third.err
    runs = json.loads(agentctl("runs", "--json").out)
    assert len(runs) == 3
    assert len({r["agent_id"] for r in runs}) == 1  # still the agent the demo made


def test_logs_follow_prints_lines_as_the_run_goes_and_ends_with_it(
    agentctl: CliRunner, tmp_path: Path, prefect_harness: None, chromium: str, base_url: str
) -> None:
    import asyncio
    import threading

    from agents_store.backends import open_store
    from agents_store.settings import get_settings
    from flows.run_agent import run_agent

    doc = {
        "name": "Followed",
        "loom_url": LOOM,
        "settings": {"retries": 0, "retry_delay_seconds": 0},
        "chunks": [
            {"name": "Open", "actions": [{"type": "goto", "url": f"{base_url}/page/follow"}]},
            {"name": "Think", "actions": [{"type": "sleep", "seconds": 4}]},
            {"name": "Click", "actions": [{"type": "click", "selector": "#real"}]},
        ],
    }
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    agent_id = agentctl("import", str(path)).out.strip()
    store = open_store(get_settings().resolved_database_url())
    run = threading.Thread(target=lambda: asyncio.run(run_agent(agent_id, return_state=True)))
    run.start()
    try:
        deadline = time.monotonic() + 60
        while not store.list_runs():
            assert time.monotonic() < deadline, "the run did not start"
            time.sleep(0.1)
        flow_run_id = str(store.list_runs()[0].flow_run_id)
        assert run.is_alive()  # following a run in progress, not reading a finished one
        followed = agentctl("logs", flow_run_id[:8], "--follow")
        assert not run.is_alive(), "logs --follow returned before the run ended"
    finally:
        run.join(60)
        store.close()
    assert followed.code == 0, followed.err
    lines = followed.out.splitlines()
    assert lines[-1].endswith("INFO    prefect.flow_runs: Finished in state Completed()")
    chunk_lines = [
        line.split(" prefect.task_runs: ")[0].split("INFO    ")[-1] for line in lines if "task_runs" in line
    ]
    assert chunk_lines == ["[01 · Open]", "[02 · Think]", "[03 · Click]"]  # each named, in order, once
    assert len(lines) == len(set(lines))
