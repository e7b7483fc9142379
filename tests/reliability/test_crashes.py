"""Crashes survived: the process running an agent killed with SIGKILL mid-chunk (``agentctl run``
against a Prefect server, and a flow run started by a ``prefect worker``), and the store's database
restarted mid-run.

After a kill nothing is left ``Running``: the next agentctl command settles the run (Crashed in
Prefect and in the store, the chunk Failed with the reason), and ``--from-chunk N`` finishes the
agent with the browser session the dead run saved after chunk N-1 — the site's pages need the
session cookie chunk 1 got, so a resume without it fails (``tests/cli/test_approvals_and_crashes.py``
has the plain kill-and-reconcile case; these go on to the resume).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agents_store.backends import open_store
from agents_store.models import ChunkStatus
from agents_store.store import AgentStore, RunRecord, RunStatus
from tests.helpers import AGENTCTL, agentctl, prefect_state, process_env, wait_for
from tests.reliability._faults import FaultSite, PrivatePostgres, import_agent, private_postgres, write_agent

pytestmark = [pytest.mark.slow]

PREFECT = str(Path(sys.executable).parent / "prefect")


@pytest.fixture
def cli_env(tmp_path: Path, prefect_server: str) -> dict[str, str]:
    return process_env(tmp_path, prefect_server)


def signed_in_agent(url: str) -> list[dict[str, Any]]:
    """Chunk 1 signs in (a session cookie); chunks 2 and 3 need it. Chunk 2 waits for ``#ready``,
    which the site holds back while ``hold_members`` is set: the chunk to kill the run in."""
    return [
        {
            "name": "Sign in",
            "actions": [
                {"type": "goto", "url": f"{url}/login?user=ann"},
                {"type": "expect_text", "selector": "#who", "text": "ann"},
            ],
        },
        {
            "name": "Members",
            "actions": [
                {"type": "goto", "url": f"{url}/members"},
                {"type": "expect_text", "selector": "#who", "text": "ann", "timeout_ms": 1500},
                {"type": "wait_for", "selector": "#ready", "timeout_ms": 90_000},
            ],
        },
        {
            "name": "Still members",
            "actions": [
                {"type": "goto", "url": f"{url}/members"},
                {"type": "expect_visible", "selector": "#ready"},
            ],
        },
    ]


def _statuses(store: AgentStore, agent_id: str) -> list[ChunkStatus]:
    return [c.status for c in store.get(uuid.UUID(agent_id)).chunks]


def _killable_run(store: AgentStore, home: Path, agent_id: str, site: FaultSite) -> RunRecord:
    """Wait until chunk 2 hangs on the members page, signed in, with the session after chunk 1 saved."""

    def ready() -> RunRecord | None:
        if _statuses(store, agent_id)[1] != ChunkStatus.RUNNING or site.hits["members"] < 1:
            return None
        runs = store.list_runs(uuid.UUID(agent_id))
        if not runs:
            return None
        session = home / "runs" / str(runs[0].flow_run_id) / "session-after-01.json"
        return runs[0] if session.is_file() else None

    record: RunRecord = wait_for("chunk 2 to hang, signed in", ready, timeout=180)
    return record


def _assert_settled_as_crashed(
    env: dict[str, str], store: AgentStore, agent_id: str, record: RunRecord, reason: str
) -> None:
    """What the next command leaves: Crashed in Prefect and the store, chunk 2 Failed with why."""
    listed = json.loads(agentctl(env, "runs", "--json").stdout)
    mine = next(r for r in listed if r["flow_run_id"] == str(record.flow_run_id))
    assert mine["status"] == "Crashed"
    assert mine["finished_at"] is not None
    assert _statuses(store, agent_id) == [ChunkStatus.COMPLETED, ChunkStatus.FAILED, ChunkStatus.NOT_STARTED]
    details = store.get(uuid.UUID(agent_id)).chunks[1].error_details
    assert details is not None
    assert details["type"] == "Crashed"
    assert details["flow_run_id"] == str(record.flow_run_id)
    assert details["message"] == mine["error"]
    assert reason in details["message"], details
    assert store.stuck_chunks() == []
    prefect_run = httpx.get(f"{env['PREFECT_API_URL']}/flow_runs/{record.flow_run_id}", timeout=10).json()
    assert prefect_run["state"]["type"] == "CRASHED"


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_agentctl_run_killed_mid_chunk_resumes_from_the_chunk_with_the_saved_session(
    cli_env: dict[str, str], tmp_path: Path, chromium: str, url: str, fault_site: FaultSite
) -> None:
    agent_id = import_agent(cli_env, write_agent(tmp_path, signed_in_agent(url)))
    store = open_store(cli_env["AGENTCTL_DATABASE_URL"])
    home = Path(cli_env["AGENTCTL_HOME"])
    fault_site.hold_members = True
    run = subprocess.Popen(
        [AGENTCTL, "run", agent_id], env=cli_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        record = _killable_run(store, home, agent_id, fault_site)
        assert record.pid == run.pid
        os.kill(run.pid, signal.SIGKILL)
        assert run.wait(10) == -signal.SIGKILL
    finally:
        run.kill()
    assert _statuses(store, agent_id)[1] == ChunkStatus.RUNNING  # nobody settled it yet
    saved = json.loads((home / "runs" / str(record.flow_run_id) / "session-after-01.json").read_text())
    assert saved["url"] == f"{url}/home"  # where chunk 1 ended, not where chunk 2 went
    assert [c["name"] for c in saved["storage_state"]["cookies"]] == ["sid"]
    _assert_settled_as_crashed(cli_env, store, agent_id, record, f"pid {run.pid} on ")
    fault_site.hold_members = False

    resumed = agentctl(
        cli_env, "run", agent_id, "--from-chunk", "2", "--session-from", str(record.flow_run_id)[:8]
    )
    assert resumed.returncode == 0, resumed.stderr
    assert _statuses(store, agent_id) == [ChunkStatus.COMPLETED] * 3
    assert len(fault_site.sessions) == 1, "the resume signed in again"
    assert fault_site.hits["members"] == 3  # the killed visit, then chunks 2 and 3 of the resume
    latest = store.list_runs(uuid.UUID(agent_id))[0]
    assert latest.status == RunStatus.COMPLETED
    assert latest.chunks == [2, 3]
    assert {"kind": "session", "from_run": str(record.flow_run_id), "after_chunk": 1} in latest.notes
    store.close()


@pytest.mark.browser
@pytest.mark.timeout(360)
def test_a_worker_flow_run_killed_mid_chunk_is_settled_and_a_worker_resumes_it(
    cli_env: dict[str, str], tmp_path: Path, chromium: str, url: str, fault_site: FaultSite
) -> None:
    """The agent deployed on a process work pool; ``prefect worker`` starts the flow run in a process
    of its own, which is killed with SIGKILL mid-chunk. The worker lives on; the run ends Crashed,
    and a run of the deployment with ``from_chunk`` (on the same worker) finishes it signed in."""
    agent_id = import_agent(cli_env, write_agent(tmp_path, signed_in_agent(url)))
    store = open_store(cli_env["AGENTCTL_DATABASE_URL"])
    home = Path(cli_env["AGENTCTL_HOME"])
    pool = f"faults-{uuid.uuid4().hex[:8]}"
    deployed = agentctl(cli_env, "deploy", agent_id, "--pool", pool)
    assert deployed.returncode == 0, deployed.stderr
    api = cli_env["PREFECT_API_URL"]
    [deployment] = httpx.post(
        f"{api}/deployments/filter",
        json={"deployments": {"tags": {"all_": [f"agent:{agent_id}"]}}},
        timeout=10,
    ).json()
    fault_site.hold_members = True
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [PREFECT, "worker", "start", "--pool", pool, "--name", "faults", "--limit", "1"],
        env=cli_env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        triggered = agentctl(cli_env, "trigger", agent_id)
        assert triggered.returncode == 0, triggered.stderr
        try:
            record = _killable_run(store, home, agent_id, fault_site)
        except AssertionError:
            raise AssertionError(log.read_text()[-4000:]) from None
        assert record.pid not in (None, worker.pid)
        assert record.triggered_by == f"deployment:{deployment['id']}"
        os.kill(record.pid, signal.SIGKILL)  # type: ignore[arg-type]

        # the worker sees its flow run process die and reports the crash to Prefect by itself
        wait_for(
            "the worker to report the crash",
            lambda: prefect_state(api, record.flow_run_id) == "CRASHED",
            60,
        )
        assert worker.poll() is None, "the worker went down with its flow run"
        # ... and runs the flow's on_crashed hook, which settles the store without any agentctl command
        wait_for(
            "the worker's crash hook to settle the store",
            lambda: store.get_run(record.flow_run_id).status == RunStatus.CRASHED,
            timeout=60,
        )
        _assert_settled_as_crashed(cli_env, store, agent_id, record, "SIGKILL")

        fault_site.hold_members = False
        resumed = httpx.post(
            f"{api}/deployments/{deployment['id']}/create_flow_run",
            json={"parameters": {"from_chunk": 2, "session_from": str(record.flow_run_id)}},
            timeout=10,
        ).json()
        assert "id" in resumed, resumed
        wait_for(
            "the resumed run to finish",
            lambda: prefect_state(api, resumed["id"]) in ("COMPLETED", "FAILED", "CRASHED"),
            timeout=120,
            every=0.5,
        )
        assert prefect_state(api, resumed["id"]) == "COMPLETED", log.read_text()[-3000:]
    finally:
        worker.terminate()
        worker.wait(30)
    assert _statuses(store, agent_id) == [ChunkStatus.COMPLETED] * 3
    assert len(fault_site.sessions) == 1, "the resume signed in again"
    latest = store.get_run(uuid.UUID(resumed["id"]))
    assert latest.status == RunStatus.COMPLETED
    assert latest.chunks == [2, 3]
    assert {"kind": "session", "from_run": str(record.flow_run_id), "after_chunk": 1} in latest.notes
    store.close()


# --------------------------------------------------------------------------- the store's database restarted


@pytest.fixture(scope="module")
def restartable_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server of this module's own (initdb in a temp folder, a free port)."""
    with private_postgres() as server:
        yield server


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelno, record.getMessage()))


@pytest.mark.postgres
@pytest.mark.timeout(240)
@pytest.mark.parametrize("how", ["fast", "immediate"])
def test_a_store_database_restarted_mid_run_loses_no_status_write(
    restartable_postgres: PrivatePostgres,
    prefect_harness: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    fault_site: FaultSite,
    how: str,
) -> None:
    """``pg_ctl stop -m fast|immediate`` when chunk 2 calls its hook, ``pg_ctl start`` 2.5 s later:
    the chunks go on meanwhile, their status writes wait in the run's write queue and are retried
    until the database is back, in order, and every chunk and the run record end as they truly did."""
    from agents_store.documents import parse_definition
    from agents_store.settings import get_settings
    from flows.run_agent import run_agent
    from tests.factories import LOOM

    pg = restartable_postgres
    monkeypatch.setenv("AGENTCTL_DATABASE_URL", pg.url)
    monkeypatch.setenv("AGENTCTL_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    store = open_store(pg.url)
    chunks = [
        {
            "name": f"Step {n}",
            "actions": [{"type": "http", "url": f"{url}/hook/pg-{n}"}, {"type": "sleep", "seconds": 0.5}],
        }
        for n in range(1, 7)
    ]
    agent = store.create(
        parse_definition(
            {"name": f"Restart {how}", "loom_url": LOOM, "chunks": chunks, "settings": {"retries": 0}}
        )
    )
    outage: dict[str, float] = {}

    def restart_when_chunk_2_calls() -> None:
        wait_for("chunk 2 to call its hook", lambda: fault_site.hook("pg-2"), timeout=60, every=0.02)
        pg.stop(how)
        outage["down"] = time.monotonic()
        time.sleep(2.5)
        outage["up"] = time.monotonic()
        pg.start()

    restarter = threading.Thread(target=restart_when_chunk_2_calls, daemon=True)
    lines = _Lines()
    state_logger = logging.getLogger("agentctl.state")
    state_logger.addHandler(lines)
    restarter.start()
    try:
        state = asyncio.run(run_agent(str(agent.id), return_state=True))  # type: ignore[call-overload]
    finally:
        restarter.join(60)
        state_logger.removeHandler(lines)
    assert state.is_completed(), state.message
    during = [r.name for r in fault_site.received if outage["down"] <= r.at <= outage["up"]]
    assert len(during) >= 2, f"chunks ran while the database was down: {during}"
    warnings = [m for level, m in lines.lines if level == logging.WARNING and "store unavailable" in m]
    assert warnings, "no write met the outage"
    assert not [m for level, m in lines.lines if level >= logging.ERROR], lines.lines

    saved = store.get(agent.id)
    assert [c.status for c in saved.chunks] == [ChunkStatus.COMPLETED] * 6
    assert [c.attempts for c in saved.chunks] == [1] * 6
    assert all(c.error_details is None for c in saved.chunks)
    flow_run_id = state.state_details.flow_run_id
    assert all(c.last_run_id == flow_run_id for c in saved.chunks)
    record = store.get_run(flow_run_id)
    assert record.status == RunStatus.COMPLETED
    assert record.finished_at is not None
    assert record.error is None
    store.close()


def _processes_with_env(name: str, value: str) -> list[int]:
    """Processes whose environment has ``name=value`` (a Prefect server left behind, say)."""
    found = []
    needle = f"{name}={value}".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.browser
@pytest.mark.timeout(600)
def test_agentctl_run_killed_in_embedded_mode_is_settled_and_resumed(
    tmp_path: Path, chromium: str, url: str, fault_site: FaultSite
) -> None:
    """No PREFECT_API_URL: the run's Prefect is a temporary server agentctl starts. Killed with
    SIGKILL mid-chunk, the next command (its own temporary server on the same Prefect database)
    settles the run as Crashed there and in the store, and the resume finishes it signed in."""
    env = process_env(tmp_path, "")
    env.pop("PREFECT_API_URL")
    agent_id = import_agent(env, write_agent(tmp_path, signed_in_agent(url)))
    store = open_store(env["AGENTCTL_DATABASE_URL"])
    home = Path(env["AGENTCTL_HOME"])
    fault_site.hold_members = True
    out = tmp_path / "run.log"
    run = subprocess.Popen(
        [AGENTCTL, "run", agent_id], env=env, stdout=out.open("w"), stderr=subprocess.STDOUT
    )
    try:
        try:
            record = _killable_run(store, home, agent_id, fault_site)
        except AssertionError:
            raise AssertionError(out.read_text()[-3000:]) from None
        os.kill(run.pid, signal.SIGKILL)
        assert run.wait(10) == -signal.SIGKILL
    finally:
        run.kill()

    def children_left() -> dict[int, str]:
        found = _processes_with_env("PREFECT_HOME", env["PREFECT_HOME"])
        return {pid: _cmdline(pid) for pid in found if pid != run.pid and Path(f"/proc/{pid}").exists()}

    def browser_left() -> bool:
        return any("chromium" in c or "playwright" in c for c in children_left().values())

    # the browser goes with its Playwright driver, which sees its parent's pipe close
    with contextlib.suppress(AssertionError):
        wait_for("the browser and its driver to go", lambda: not browser_left(), 20)
    orphans = children_left()
    for pid in orphans:  # clean up after the kill: whatever the killed run started and could not stop
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    listed = json.loads(agentctl(env, "runs", "--json").stdout)
    assert listed[0]["status"] == "Crashed"
    assert f"pid {run.pid} on " in listed[0]["error"]
    assert _statuses(store, agent_id) == [ChunkStatus.COMPLETED, ChunkStatus.FAILED, ChunkStatus.NOT_STARTED]
    assert store.stuck_chunks() == []
    fault_site.hold_members = False
    resumed = agentctl(env, "run", agent_id, "--from-chunk", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert "embedded mode" in resumed.stderr  # agentctl's note, not Prefect's own lines after the table
    assert "temporary server on" not in resumed.stderr
    assert _statuses(store, agent_id) == [ChunkStatus.COMPLETED] * 3
    assert len(fault_site.sessions) == 1, "the resume signed in again"
    logs = agentctl(env, "logs", str(record.flow_run_id))  # Prefect's database kept the killed run
    assert logs.returncode == 0, logs.stderr
    # Known gap (reported): Prefect's temporary server of a SIGKILLed run outlives it; nothing else does
    assert [c for c in orphans.values() if "prefect.server" not in c] == [], orphans
    store.close()


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:160]
    except OSError:
        return "?"
