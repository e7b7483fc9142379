"""Small helpers the tests share: waiting for a condition, and agentctl as a separate process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

AGENTCTL = str(Path(sys.executable).parent / "agentctl")


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


def agentctl(
    env: dict[str, str], *args: str, timeout: float = 120, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``agentctl ARGS`` as users do, in a process of its own."""
    return subprocess.run(
        [AGENTCTL, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd
    )
