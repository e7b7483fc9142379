"""The Prefect UI that ``agentctl server`` starts shows an agent's flow run with its chunk task runs,
in headless Chromium (a screenshot is kept under tests/artifacts/, which git ignores)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from deployments.server import free_port
from tests.factories import LOOM
from tests.helpers import AGENTCTL, agentctl, process_env, wait_for

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parents[1] / "artifacts"


@pytest.fixture
def agentctl_server(tmp_path: Path) -> Iterator[str]:
    """``agentctl server`` as a user starts it; yields the UI's base URL."""
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "server-home")}
    env.pop("PREFECT_API_URL", None)
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed after the process
    process = subprocess.Popen([AGENTCTL, "server", "--port", str(port)], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for("agentctl server", lambda: _healthy(f"{base}/api/health"), timeout=120, every=0.5)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


async def _look(url: str, expected: list[str], screenshot: Path) -> str:
    from playwright.async_api import async_playwright

    from tasks.browser.session import LAUNCH_ARGS, find_chromium

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=find_chromium(), args=LAUNCH_ARGS)
        page = await browser.new_page(viewport={"width": 1400, "height": 1000})
        await page.goto(url)
        for text in expected:
            await page.get_by_text(text).first.wait_for(timeout=60_000)
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(screenshot), full_page=True)
        body = await page.inner_text("body")
        await browser.close()
        return body


def test_the_prefect_ui_shows_an_agents_run_with_its_chunks(
    agentctl_server: str, tmp_path: Path, chromium: str, base_url: str
) -> None:
    env = process_env(tmp_path, f"{agentctl_server}/api")
    doc = {
        "name": "Seen in the UI",
        "loom_url": LOOM,
        "settings": {"retries": 0, "retry_delay_seconds": 0},
        "chunks": [
            {"name": "Open the page", "actions": [{"type": "goto", "url": f"{base_url}/page/ui"}]},
            {"name": "Press the button", "actions": [{"type": "click", "selector": "#real"}]},
        ],
    }
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    agent_id = agentctl(env, "import", str(path)).stdout.strip()
    ran = agentctl(env, "run", agent_id)
    assert ran.returncode == 0, ran.stderr
    flow_run_id = ran.stdout.split()[2]
    assert f"{agentctl_server}/runs/flow-run/{flow_run_id}" in ran.stdout

    body = asyncio.run(
        _look(
            f"{agentctl_server}/runs/flow-run/{flow_run_id}",
            ["01 · Open the page", "02 · Press the button"],
            ARTIFACTS / "prefect-ui-flow-run.png",
        )
    )
    assert "Seen in the UI · automatic" in body
    assert (ARTIFACTS / "prefect-ui-flow-run.png").stat().st_size > 10_000
