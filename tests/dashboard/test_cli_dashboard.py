"""``agentctl dashboard``: served for real by the command, refused on the network without a sign-in,
and kept out of the other commands' imports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.dashboard.conftest import TOKEN

AGENTCTL = [sys.executable, "-c", "from cli.main import main; main()"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    port = _free_port()
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
