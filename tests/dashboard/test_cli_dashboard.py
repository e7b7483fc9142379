"""``agentctl dashboard``: served for real by the command, refused on the network without a sign-in,
and kept out of the other commands' imports."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from deployments.server import free_port
from tests.dashboard.conftest import TOKEN

AGENTCTL = [sys.executable, "-c", "from cli.main import main; main()"]


def test_refuses_a_network_address_without_a_sign_in(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AGENTCTL_DASHBOARD", "AGENTCTL_SUPABASE"))
    }
    env["AGENTCTL_HOME"] = str(tmp_path / "home")
    result = subprocess.run(
        [*AGENTCTL, "dashboard", "--host", "0.0.0.0"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert result.stderr.startswith(
        "agentctl: error: --host 0.0.0.0: the dashboard would be open to the network"
    )
    assert "AGENTCTL_DASHBOARD_TOKEN" in result.stderr


def test_agentctl_list_does_not_import_the_web_stack() -> None:
    code = (
        "import sys; import cli.main; "
        "print(sorted(m for m in ('fastapi', 'uvicorn', 'prefect', 'dashboard') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_command_serves_the_dashboard_with_a_token(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "AGENTCTL_HOME": str(tmp_path / "home"),
        "AGENTCTL_DASHBOARD_TOKEN": TOKEN,
    }
    env.pop("AGENTCTL_DATABASE_URL", None)
    process = subprocess.Popen(
        [*AGENTCTL, "dashboard", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(f"{url}/api/agents", headers={"Authorization": f"Bearer {TOKEN}"})
                break
            except httpx.ConnectError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the dashboard did not start"
                time.sleep(0.2)
        assert answer.status_code == 200
        assert answer.json()["total"] == 0
        assert httpx.get(f"{url}/api/agents").status_code == 401
        assert httpx.get(f"{url}/").headers["location"] == "/login?next=%2F"
    finally:
        process.terminate()
        _, err = process.communicate(timeout=15)
    assert f"agentctl dashboard on http://127.0.0.1:{port}  (sign-in: token)" in err


def _children(pid: int) -> dict[int, str]:
    """The processes whose parent is ``pid``, with their command lines."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            found[int(entry.name)] = command
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@dataclass
class EmbeddedDashboard:
    process: subprocess.Popen[bytes]
    log: Path
    run_id: str


@contextmanager
def _dashboard_running_an_agent(tmp_path: Path, mode: str) -> Iterator[EmbeddedDashboard]:
    """``agentctl dashboard`` with no PREFECT_API_URL (embedded mode), its log in a file, and a run
    of a one-chunk agent started from its API; the process is sent SIGTERM on exit."""
    port = free_port()
    env = {**os.environ, "AGENTCTL_HOME": str(tmp_path / "home"), "PREFECT_HOME": str(tmp_path / "prefect")}
    for name in ("AGENTCTL_DATABASE_URL", "PREFECT_API_URL", "AGENTCTL_DASHBOARD_TOKEN"):
        env.pop(name, None)
    agent = tmp_path / "wait.yaml"
    agent.write_text(
        "schema_version: 1\nname: Wait\nloom_url: https://www.loom.com/share/4f3c2a1b0d9e8f7a6b5c4d3e2f1a0b9c\n"
        "chunks:\n- name: Wait\n  actions: [{type: sleep, seconds: 0}]\n",
        encoding="utf-8",
    )
    imported = subprocess.run(
        [*AGENTCTL, "import", str(agent)], check=False, env=env, capture_output=True, text=True
    )
    assert imported.returncode == 0, imported.stderr
    log = tmp_path / "dashboard.log"
    process = subprocess.Popen([*AGENTCTL, "dashboard", "--port", str(port)], env=env, stderr=log.open("w"))
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    csrf = client.get("/api/session").json()["csrf_token"]
                    break
                except httpx.ConnectError:
                    assert process.poll() is None, log.read_text()
                    assert time.monotonic() < deadline, "the dashboard did not start"
                    time.sleep(0.2)
            started = client.post(
                f"/api/agents/{imported.stdout.strip()}/runs",
                json={"mode": mode},
                headers={"X-CSRF-Token": csrf},
            )
            assert started.status_code in (200, 201, 202), started.text
            dashboard = EmbeddedDashboard(process, log, started.json()["flow_run_id"])
            if mode == "verification":
                deadline = time.monotonic() + 90
                while not client.get(f"/api/runs/{dashboard.run_id}").json()["run"].get("awaiting"):
                    assert time.monotonic() < deadline, log.read_text()
                    time.sleep(0.5)
        yield dashboard
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # the failure to report: leave no dashboard or server behind
            for pid in [*_children(process.pid), process.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            process.wait()
            raise


def test_sigterm_stops_the_temporary_prefect_server_of_its_runs(tmp_path: Path) -> None:
    """Stopped by SIGTERM (systemd, Docker), the dashboard left embedded mode's Prefect server
    running, orphaned, holding its port: uvicorn re-raised the signal with Python's default handler,
    which skips the exit handlers."""
    with _dashboard_running_an_agent(tmp_path, "automatic") as dashboard:
        # The run's end as Prefect has it (its final state comes after the store's record).
        server = re.search(r"Starting temporary server on (http://\S+)", dashboard.log.read_text())
        assert server, dashboard.log.read_text()
        deadline = time.monotonic() + 90
        while httpx.get(f"{server[1]}/api/flow_runs/{dashboard.run_id}").json()["state_type"] != "COMPLETED":
            assert time.monotonic() < deadline, "the run did not complete"
            time.sleep(0.3)
        children = _children(dashboard.process.pid)
        servers = [pid for pid, command in children.items() if "prefect" in command]
        assert servers, f"no temporary Prefect server under the dashboard: {children}"
    assert dashboard.process.returncode == 0, dashboard.log.read_text()
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in servers):
        assert time.monotonic() < deadline, (
            f"the temporary Prefect server outlived the dashboard: {dashboard.log.read_text()}"
        )
        time.sleep(0.2)


@pytest.mark.slow  # a temporary Prefect server of its own: about 20 s
def test_sigterm_during_a_paused_run_stops_the_dashboard_and_settles_the_run(tmp_path: Path) -> None:
    """Prefect's own SIGTERM handler, armed while a run was live, raised its TerminationSignal
    wherever the main thread was: often in an asyncio callback, which logged and swallowed it, and
    the dashboard kept running. The server's graceful shutdown keeps SIGTERM, and cancels the run."""
    with _dashboard_running_an_agent(tmp_path, "verification") as dashboard:
        pass  # paused at its chunk's approval: SIGTERM now
    said = dashboard.log.read_text()
    assert dashboard.process.returncode == 0, said
    assert "TerminationSignal" not in said
    assert "Traceback" not in said
    env = {**os.environ, "AGENTCTL_HOME": str(tmp_path / "home"), "PREFECT_HOME": str(tmp_path / "prefect")}
    for name in ("AGENTCTL_DATABASE_URL", "PREFECT_API_URL"):
        env.pop(name, None)
    runs = subprocess.run([*AGENTCTL, "runs", "--json"], check=True, env=env, capture_output=True, text=True)
    [run] = json.loads(runs.stdout)
    assert run["flow_run_id"] == dashboard.run_id
    assert run["status"] in ("Cancelled", "Crashed"), run
    shown = subprocess.run(
        [*AGENTCTL, "show", "Wait", "--json"], check=True, env=env, capture_output=True, text=True
    )
    assert [c["status"] for c in json.loads(shown.stdout)["chunks"]] == ["Not Started"]
