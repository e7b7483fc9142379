"""Load: 50 dashboard API clients for 30 s while 4 agents run, started through the dashboard's run
endpoint, in a real ``agentctl dashboard`` process against a real ``prefect server``.

No request may fail (no 5xx, no transport error), and no status write may be lost: every chunk of
every run ends with the right status in the store, and every run record is finished.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from agents_store.backends import open_store
from agents_store.documents import parse_definition
from agents_store.errors import AgentNotFound
from agents_store.models import Agent, ChunkStatus
from agents_store.store import RunStatus
from deployments.server import free_port
from tests.factories import LOOM
from tests.helpers import AGENTCTL, process_env, wait_for
from tests.sites import LocalSite

CLIENTS = 50
SECONDS = 30.0
AGENTS = 4
CHUNKS = 4


def _chunks(base_url: str, agent: int, *, fail_last: bool) -> list[dict[str, Any]]:
    chunks: list[dict[str, Any]] = [
        {
            "name": f"Page {i}",
            "actions": [
                {"type": "goto", "url": f"{base_url}/page/load-{agent}-{i}"},
                {"type": "click", "selector": "#real"},
                {"type": "expect_visible", "selector": "#clicked"},
            ],
        }
        for i in range(1, CHUNKS)
    ]
    chunks.append(
        {
            "name": "Report",
            "actions": [{"type": "http", "url": f"{base_url}/receive/load-{agent}", "json": {"agent": agent}}]
            + ([{"type": "expect_visible", "selector": "#never", "timeout_ms": 500}] if fail_last else []),
        }
    )
    return chunks


class Load:
    """Requests made, their latencies, and every failure (5xx or transport error)."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.by_route: dict[str, list[float]] = {}
        self.statuses: dict[int, int] = {}
        self.failures: list[str] = []

    async def get(self, client: httpx.AsyncClient, path: str) -> None:
        started = time.perf_counter()
        try:
            answer = await client.get(path)
        except httpx.HTTPError as e:
            self.failures.append(f"GET {path}: {type(e).__name__}: {e}")
            return
        took = time.perf_counter() - started
        self.latencies.append(took)
        route = "/".join("{id}" if len(part) == 36 else part for part in path.split("/"))
        self.by_route.setdefault(route, []).append(took)
        self.statuses[answer.status_code] = self.statuses.get(answer.status_code, 0) + 1
        if answer.status_code != 200:
            self.failures.append(f"GET {path}: {answer.status_code} {answer.text[:200]}")

    def p95(self, latencies: list[float] | None = None) -> float:
        ordered = sorted(self.latencies if latencies is None else latencies)
        return ordered[int(0.95 * (len(ordered) - 1))] if ordered else float("nan")

    def routes(self) -> str:
        """Each route's count and p95, slowest first."""
        rows = sorted(self.by_route.items(), key=lambda item: -self.p95(item[1]))
        return ", ".join(
            f"{route} {len(times)}× p95 {self.p95(times) * 1000:.0f} ms" for route, times in rows
        )


async def _drive(url: str, agents: list[Agent]) -> tuple[Load, list[str], float]:
    load = Load()
    clients = [httpx.AsyncClient(base_url=url, timeout=60) for _ in range(CLIENTS)]
    try:
        starter = clients[0]
        session = await starter.get("/api/session")
        assert session.status_code == 200, session.text
        starter.headers["X-CSRF-Token"] = session.json()["csrf_token"]
        run_ids: list[str] = []
        for agent in agents:
            started = await starter.post(f"/api/agents/{agent.id}/runs", json={"mode": "automatic"})
            assert started.status_code == 202, started.text
            run_ids.append(started.json()["flow_run_id"])
        paths = ["/api/agents", "/api/runs", "/api/approvals", "/api/session", "/"]
        for agent, run_id in zip(agents, run_ids, strict=True):
            paths += [
                f"/api/agents/{agent.id}",
                f"/api/agents/{agent.id}/runs",
                f"/api/agents/{agent.id}/versions",
                f"/api/runs/{run_id}",
                f"/agents/{agent.id}",
            ]
        deadline = time.monotonic() + SECONDS

        async def worker(n: int, client: httpx.AsyncClient) -> None:
            i = n
            while time.monotonic() < deadline:
                await load.get(client, paths[i % len(paths)])
                i += 1

        began = time.monotonic()
        await asyncio.gather(*(worker(n, c) for n, c in enumerate(clients)))
        return load, run_ids, time.monotonic() - began
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(420)
def test_fifty_dashboard_clients_while_four_agents_run(
    tmp_path: Path,
    prefect_server: str,
    chromium: str,
    base_url: str,
    site: LocalSite,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = process_env(tmp_path, prefect_server)
    store = open_store(env["AGENTCTL_DATABASE_URL"])
    agents = [
        store.create(
            parse_definition(
                {
                    "name": f"Load {n}",
                    "loom_url": LOOM,
                    "settings": {"retries": 0, "retry_delay_seconds": 0, "action_timeout_ms": 20_000},
                    "chunks": _chunks(base_url, n, fail_last=n == AGENTS),
                }
            )
        )
        for n in range(1, AGENTS + 1)
    ]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "dashboard.log").open("w")
    dashboard = subprocess.Popen(
        [AGENTCTL, "dashboard", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:

        def up() -> bool:
            assert dashboard.poll() is None, (tmp_path / "dashboard.log").read_text()
            try:
                return httpx.get(f"{url}/api/session", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for("the dashboard to answer", up, timeout=60)
        load, run_ids, took = asyncio.run(_drive(url, agents))

        def finished() -> bool:
            try:
                return all(store.get_run(uuid.UUID(r)).finished_at is not None for r in run_ids)
            except AgentNotFound:  # a run has not written its record yet
                return False

        wait_for("the four runs to finish", finished, timeout=240, every=1)
    finally:
        dashboard.terminate()
        try:
            dashboard.wait(20)
        except subprocess.TimeoutExpired:
            dashboard.kill()
        log.close()

    rate = len(load.latencies) / took
    with capsys.disabled():
        print(  # noqa: T201 - the numbers are the point of a load test
            f"\nload: {CLIENTS} clients, {len(load.latencies)} requests in {took:.1f} s = {rate:.0f} req/s, "
            f"p95 {load.p95() * 1000:.0f} ms, statuses {load.statuses}, {AGENTS} runs meanwhile\n"
            f"by route: {load.routes()}"
        )
    assert load.failures == [], load.failures[:10]
    assert len(load.latencies) > CLIENTS

    for n, (agent, run_id) in enumerate(zip(agents, run_ids, strict=True), start=1):
        record = store.get_run(uuid.UUID(run_id))
        saved = store.get(agent.id)
        expected = [ChunkStatus.COMPLETED] * CHUNKS
        if n == AGENTS:
            expected[-1] = ChunkStatus.FAILED
        assert [c.status for c in saved.chunks] == expected, (n, record)
        assert all(str(c.last_run_id) == run_id for c in saved.chunks), n
        assert record.status == (RunStatus.FAILED if n == AGENTS else RunStatus.COMPLETED), record
        assert record.finished_at is not None
        assert len(site.received(f"load-{n}")) == 1
    failed = store.get(agents[-1].id).chunks[-1].error_details
    assert failed is not None
    assert failed["type"] == "ElementNotFound"  # "#never" is not on the page at all
    store.close()


async def test_concurrent_settles_share_runs_that_start_after_each_caller() -> None:
    """The dashboard's ``settle_dead_runs`` under 50 simultaneous requests: two reconciles, not 50,
    and a request never gets the result of a reconcile that started before it arrived."""
    from dashboard.coalesce import Coalesced

    starts: list[float] = []

    async def reconcile() -> float:
        starts.append(time.monotonic())
        await asyncio.sleep(0.05)
        return starts[-1]

    settle = Coalesced(reconcile)
    first = asyncio.ensure_future(settle())
    await asyncio.sleep(0.01)
    arrived = time.monotonic()
    results = await asyncio.gather(*(settle() for _ in range(49)))
    assert await first == starts[0]
    assert len(starts) == 2
    assert all(started >= arrived for started in results)
    assert await settle() > results[0]  # once idle, the next caller starts a fresh one
