"""agentctl as separate processes against a real ``prefect server start``: pending / approve / step
answering a verification run, and a run killed with SIGKILL mid-chunk, settled by reconcile."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from agents_store.backends import open_store
from agents_store.models import ChunkStatus
from agents_store.store import RunStatus
from tests.factories import LOOM
from tests.helpers import AGENTCTL, agentctl, embedded_env, process_env, wait_for

pytestmark = pytest.mark.browser


@pytest.fixture
def cli_env(tmp_path: Path, prefect_server: str) -> dict[str, str]:
    return process_env(tmp_path, prefect_server)


def import_agent(env: dict[str, str], tmp_path: Path, chunks: list[dict[str, Any]]) -> str:
    doc = {
        "name": "Process test",
        "loom_url": LOOM,
        "settings": {"retries": 0, "retry_delay_seconds": 0, "action_timeout_ms": 3000},
        "chunks": chunks,
    }
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    result = agentctl(env, "import", str(path))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def start_verification_run(env: dict[str, str], agent_id: str) -> subprocess.Popen[str]:
    """``agentctl run AGENT --mode verification`` in a process of its own, its output kept."""
    return subprocess.Popen(
        [AGENTCTL, "run", agent_id, "--mode", "verification"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_pending_and_approve_answer_a_verification_run(
    cli_env: dict[str, str], tmp_path: Path, chromium: str, base_url: str
) -> None:
    chunks = [
        {"name": f"Page {i}", "actions": [{"type": "goto", "url": f"{base_url}/page/v{i}"}]}
        for i in (1, 2, 3)
    ]
    chunks[2]["status"] = "Needs Review"  # aborted at, it stays unreviewed
    agent_id = import_agent(cli_env, tmp_path, chunks)
    run = start_verification_run(cli_env, agent_id)
    try:

        def pending_at(order: int) -> dict[str, Any] | None:
            listed = json.loads(agentctl(cli_env, "pending", "--json").stdout or "[]")
            return next((p for p in listed if p["order"] == order), None)

        first = wait_for("chunk 1 to wait for approval", lambda: pending_at(1))
        assert first["agent_name"] == "Process test"
        assert first["kind"] == "approval"
        assert "**goto**" in first["description"]
        table = agentctl(cli_env, "pending")
        # Piped: one line per run, every cell whole, the actions without markdown marks
        [row] = [line for line in table.stdout.splitlines() if line.startswith(first["flow_run_id"][:8])]
        assert "01 · Page 1" in row
        assert "approval" in row
        assert "1. goto url=" in row
        assert "**" not in row
        run_ref = first["flow_run_id"][:8]

        wrong = agentctl(cli_env, "step", run_ref)
        assert wrong.returncode == 1
        assert "waits for an approval: use agentctl approve" in wrong.stderr

        approved = agentctl(cli_env, "approve", run_ref, "--note", "looks right")
        assert approved.returncode == 0, approved.stderr
        assert "approve: 01 · Page 1" in approved.stdout
        assert f"{cli_env['PREFECT_API_URL'].removesuffix('/api')}/runs/flow-run/" in approved.stdout

        wait_for("chunk 2 to wait for approval", lambda: pending_at(2))
        assert agentctl(cli_env, "approve", run_ref, "--skip").returncode == 0
        wait_for("chunk 3 to wait for approval", lambda: pending_at(3))
        assert agentctl(cli_env, "approve", run_ref, "--abort", "--note", "stop").returncode == 0
        _, err = run.communicate(timeout=60)
    finally:
        run.kill()
    assert run.returncode == 1
    assert "aborted by a person at chunk 3" in err
    shown = json.loads(agentctl(cli_env, "show", agent_id, "--json").stdout)
    assert [c["status"] for c in shown["chunks"]] == ["Completed", "Skipped", "Needs Review"]
    runs = json.loads(agentctl(cli_env, "runs", "--json").stdout)
    assert runs[0]["status"] == "Aborted"
    assert [n["decision"] for n in runs[0]["notes"]] == ["approve", "skip", "abort"]
    assert json.loads(agentctl(cli_env, "pending", "--json").stdout) == []
    again = agentctl(cli_env, "approve", run_ref)
    assert again.returncode == 1
    assert "not waiting for a decision" in again.stderr

    # Completed, with a chunk skipped: not every chunk ran, and the exit status says so.
    run = start_verification_run(cli_env, agent_id)
    try:
        for order, answer in ((1, ()), (2, ("--skip",)), (3, ())):
            pending = wait_for(f"chunk {order} to wait for approval", lambda order=order: pending_at(order))
            assert agentctl(cli_env, "approve", pending["flow_run_id"], *answer).returncode == 0
        _, err = run.communicate(timeout=60)
    finally:
        run.kill()
    assert run.returncode == 1, err
    assert "run completed, but skipped chunk 02 · Page 2: not every chunk ran" in err


@pytest.mark.slow  # three temporary Prefect servers one after another: about a minute
def test_pending_and_approve_in_embedded_mode_say_why_they_wait(
    tmp_path: Path, chromium: str, base_url: str
) -> None:
    """No PREFECT_API_URL: ``pending`` and ``approve`` each start a temporary Prefect server (the run
    waits in Prefect's database). They printed Prefect's own "Starting/Stopping temporary server"
    lines, after the table; agentctl's one note says it instead."""
    env = embedded_env(tmp_path)
    agent_id = import_agent(env, tmp_path, [{"name": "Page", "actions": [{"type": "goto", "url": base_url}]}])
    run = start_verification_run(env, agent_id)
    try:
        store = open_store(env["AGENTCTL_DATABASE_URL"])
        [waiting] = wait_for(
            "the run to wait for approval",
            lambda: [r for r in store.list_runs(status=RunStatus.PAUSED, limit=5) if r.awaiting],
            timeout=90,
        )
        store.close()
        table = agentctl(env, "pending")
        assert table.returncode == 0, table.stderr
        assert "01 · Page" in table.stdout
        approved = agentctl(env, "approve", str(waiting.flow_run_id)[:8])
        assert approved.returncode == 0, approved.stderr
        _, err = run.communicate(timeout=90)
    finally:
        run.kill()
    assert run.returncode == 0, err
    for said in (table, approved):
        assert "embedded mode" in said.stderr
        assert "temporary server on" not in said.stderr + said.stdout  # Prefect's own lines


def test_a_run_killed_with_sigkill_is_settled_by_reconcile(
    cli_env: dict[str, str], tmp_path: Path, chromium: str, base_url: str
) -> None:
    chunks = [
        {"name": "Open", "actions": [{"type": "goto", "url": f"{base_url}/page/kill"}]},
        {"name": "Hang", "actions": [{"type": "wait_for", "selector": "#never", "timeout_ms": 120_000}]},
        {"name": "After", "actions": [{"type": "click", "selector": "#real"}]},
    ]
    agent_id = import_agent(cli_env, tmp_path, chunks)
    store = open_store(cli_env["AGENTCTL_DATABASE_URL"])
    run = subprocess.Popen(
        [AGENTCTL, "run", agent_id], env=cli_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(
            "chunk 2 to run",
            lambda: store.get(store.resolve(agent_id)).chunks[1].status == ChunkStatus.RUNNING,
        )
        record = store.list_runs()[0]
        assert record.pid == run.pid
        os.kill(run.pid, signal.SIGKILL)
        run.wait(10)
    finally:
        run.kill()
    assert store.get(store.resolve(agent_id)).chunks[1].status == ChunkStatus.RUNNING  # nobody settled it yet

    listed = json.loads(agentctl(cli_env, "runs", "--json").stdout)
    assert listed[0]["status"] == "Crashed"
    assert f"pid {run.pid}" in listed[0]["error"]
    agent = store.get(store.resolve(agent_id))
    assert [c.status for c in agent.chunks] == [
        ChunkStatus.COMPLETED,
        ChunkStatus.FAILED,
        ChunkStatus.NOT_STARTED,
    ]
    details = agent.chunks[1].error_details
    assert details is not None
    assert details["type"] == "Crashed"
    assert "is gone" in details["message"]
    assert store.stuck_chunks() == []
    prefect_run = httpx.get(f"{cli_env['PREFECT_API_URL']}/flow_runs/{record.flow_run_id}", timeout=10).json()
    assert prefect_run["state"]["type"] == "CRASHED"
    assert store.get_run(record.flow_run_id).status == RunStatus.CRASHED
    store.close()


def test_demo_keep_serves_its_app_until_sigterm_with_stdin_closed(
    tmp_path: Path, prefect_server: str, chromium: str
) -> None:
    """``demo --keep`` from a script (stdin not a terminal) waited on a prompt that read
    end-of-file at once: it said "demo app still at …" and exited, taking the app with it."""
    from deployments.server import free_port

    env = process_env(tmp_path, prefect_server)
    port = free_port()
    log = tmp_path / "demo.log"
    demo = subprocess.Popen(
        [AGENTCTL, "demo", "--keep", "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    try:
        wait_for("the demo to finish its run", lambda: "demo app still at" in log.read_text(), timeout=120)
        time.sleep(1.5)
        assert demo.poll() is None, log.read_text()
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(30) == 0, log.read_text()
    finally:
        demo.kill()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=5)


def _in_session(session: int) -> list[str]:
    """The processes still alive in ``session`` (what a terminal would have to clean up)."""
    listing = subprocess.run(["ps", "-eo", "sid=,pid=,args="], capture_output=True, text=True, check=True)
    return [line for line in listing.stdout.splitlines() if line.split()[0] == str(session)]


@pytest.mark.parametrize("when", ["starting", "running"])
def test_ctrl_c_in_a_terminal_stops_an_embedded_mode_run_at_once(
    tmp_path: Path, chromium: str, base_url: str, when: str
) -> None:
    """Ctrl+C reaches the terminal's whole process group, Prefect's temporary server included.
    While the server started, the command waited out its 90 s start timeout and ended in a
    traceback (exit 1); while a chunk ran, it waited 140 s on the run's last reports to the
    stopped server, then a traceback. Sent to the group, as a terminal does."""
    env = embedded_env(tmp_path)
    agent_id = import_agent(
        env,
        tmp_path,
        [
            {"name": "Open", "actions": [{"type": "goto", "url": f"{base_url}/page/ctrl-c"}]},
            {"name": "Long", "actions": [{"type": "sleep", "seconds": 60}]},
            {"name": "After", "actions": [{"type": "sleep", "seconds": 0}]},
        ],
    )
    store = open_store(env["AGENTCTL_DATABASE_URL"])
    run = subprocess.Popen(
        [AGENTCTL, "run", agent_id],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        if when == "starting":
            wait_for("the temporary server to start", lambda: len(_in_session(run.pid)) > 1, every=0.1)
        else:
            wait_for(
                "the chunk to run",
                lambda: store.get(store.resolve(agent_id)).chunks[1].status == ChunkStatus.RUNNING,
                timeout=120,
            )
        os.killpg(run.pid, signal.SIGINT)
        asked = time.monotonic()
        _, err = run.communicate(timeout=120)
        took = time.monotonic() - asked
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 130, err
    assert took < 20, (took, err)
    assert "Traceback" not in err
    assert "Error logging to API" not in err
    wait_for("the temporary server to stop", lambda: not _in_session(run.pid), timeout=15)
    if when == "running":
        [record] = store.list_runs()
        assert record.status == RunStatus.CRASHED
        statuses = [c.status for c in store.get(store.resolve(agent_id)).chunks]
        assert statuses == [ChunkStatus.COMPLETED, ChunkStatus.FAILED, ChunkStatus.NOT_STARTED]
        assert f"agentctl: interrupted: run {record.flow_run_id} ended Crashed" in err.splitlines()
    else:
        assert err.splitlines()[-1].startswith("agentctl: interrupted"), err
    store.close()


@pytest.mark.parametrize(
    ("stop", "line"),
    [
        (signal.SIGTERM, "agentctl: stopped by SIGTERM (the run in progress ends Crashed)"),
        (signal.SIGINT, "agentctl: interrupted: run {run} ended Crashed"),
    ],
    ids=["sigterm", "ctrl-c"],
)
def test_a_run_stopped_by_a_signal_says_so_in_one_line_and_its_table_shows_the_crash(
    cli_env: dict[str, str], tmp_path: Path, stop: signal.Signals, line: str
) -> None:
    """``timeout 8 agentctl run …`` (SIGTERM, as systemd and cancelled CI jobs send) printed about
    twenty frames of traceback ending in Prefect's TerminationSignal. Ctrl+C exited 130 saying
    nothing, Prefect's "Crash detected!" lines in the table; both left its last frame saying the
    chunk was Running (the store had it Failed), the stop's line glued to its last row."""
    agent_id = import_agent(
        cli_env,
        tmp_path,
        [
            {"name": "Long", "actions": [{"type": "sleep", "seconds": 60}]},
            {"name": "After", "actions": [{"type": "sleep", "seconds": 0}]},
        ],
    )
    store = open_store(cli_env["AGENTCTL_DATABASE_URL"])
    run = subprocess.Popen(
        [AGENTCTL, "run", agent_id], env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(
            "the chunk to run",
            lambda: store.get(store.resolve(agent_id)).chunks[0].status == ChunkStatus.RUNNING,
        )
        run.send_signal(stop)
        _, err = run.communicate(timeout=60)
    finally:
        run.kill()
    assert run.returncode == 128 + stop, err
    assert "Traceback" not in err
    assert "Crash detected" not in err
    [record] = store.list_runs()
    assert record.status == RunStatus.CRASHED
    long, after = store.get(store.resolve(agent_id)).chunks
    assert (long.status, after.status) == (ChunkStatus.FAILED, ChunkStatus.NOT_STARTED)
    table = (row.split() for row in err.splitlines())
    rows = {cells[1]: cells[2] for cells in table if cells[:1] in (["1"], ["2"])}
    assert rows == {"Long": "Failed", "After": "Not"}, err  # "Not Started", split
    assert line.format(run=record.flow_run_id) in err.splitlines(), err
    store.close()
