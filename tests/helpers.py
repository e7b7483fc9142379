"""Small helpers the tests share: waiting for a condition, and agentctl as a separate process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

AGENTCTL = str(Path(sys.executable).parent / "agentctl")
FINAL_STATE_TYPES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def wait_for(what: str, check: Callable[[], Any], timeout: float = 90, every: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def prefect_state(api_url: str, flow_run_id: Any) -> str | None:
    """The flow run's state type (``PAUSED``, ``CRASHED``, …) as Prefect's API has it."""
    import httpx

    answer = httpx.get(f"{api_url}/flow_runs/{flow_run_id}", timeout=10)
    state = answer.json().get("state") if answer.status_code == 200 else None
    return str(state["type"]) if state else None


def resume_as_prefect_ui(api_url: str, flow_run_id: Any, run_input: dict[str, Any]) -> httpx.Response:
    """POST Prefect's resume endpoint with ``run_input`` as the Prefect UI's Resume button does, and
    return the answer.

    The UI shows that button once Prefect has the run Paused — our store says "paused" a moment
    earlier — and Prefect saves the input's schema a moment after that: until then the answer is
    REJECT "schema not found". A busy SQLite server may answer 503, which Prefect's own client retries.
    """
    import httpx

    wait_for("Prefect to show the run paused", lambda: prefect_state(api_url, flow_run_id) == "PAUSED")
    for _ in range(20):
        answer = httpx.post(
            f"{api_url}/flow_runs/{flow_run_id}/resume", json={"run_input": run_input}, timeout=10
        )
        refused_before_schema = (
            answer.status_code in (200, 201)
            and answer.json()["status"] == "REJECT"
            and "schema not found" in str(answer.json().get("details")).lower()
        )
        if answer.status_code != 503 and not refused_before_schema:
            break
        time.sleep(0.5)
    return answer


def wait_for_task_runs(api_url: str, flow_run_id: str, count: int, timeout: float = 30) -> list[Any]:
    """The flow run's task runs, once Prefect's API has ``count`` of them, each in a final state.

    Prefect's server records task runs from the run's events in batches, up to a second after the
    run has ended (``deployments.server_settings``): read at once, they may be missing or Running.
    """
    import httpx

    def recorded() -> list[Any] | None:
        with httpx.Client(base_url=api_url, timeout=30) as http:
            answer = http.post("/task_runs/filter", json={"flow_runs": {"id": {"any_": [flow_run_id]}}})
        answer.raise_for_status()
        runs: list[Any] = answer.json()
        final = [r for r in runs if r["state_type"] in FINAL_STATE_TYPES]
        return runs if len(runs) == len(final) >= count else None

    result: list[Any] = wait_for(f"{count} task runs of {flow_run_id} in Prefect", recorded, timeout)
    return result


def process_env(tmp_path: Path, api_url: str, **extra: str) -> dict[str, str]:
    """The environment of an agentctl process of its own: its store and home, and a Prefect server."""
    env = {
        **os.environ,
        "PREFECT_API_URL": api_url,
        "PREFECT_HOME": str(tmp_path / "prefect-client"),
        "AGENTCTL_HOME": str(tmp_path / "home"),
        "AGENTCTL_DATABASE_URL": f"sqlite:///{tmp_path / 'agents.db'}",
        **extra,
    }
    env.pop("CI", None)
    return env


def embedded_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """``process_env`` without a Prefect server: the process runs in Prefect's embedded mode."""
    env = process_env(tmp_path, "", **extra)
    env.pop("PREFECT_API_URL")
    return env


def agentctl(
    env: dict[str, str], *args: str, timeout: float = 120, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``agentctl ARGS`` as users do, in a process of its own."""
    return subprocess.run(
        [AGENTCTL, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd
    )
