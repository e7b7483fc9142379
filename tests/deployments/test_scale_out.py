"""Scale-out as Prefect does it: a server on PostgreSQL, a process work pool, two workers, and the
store on PostgreSQL too. Twelve runs of three agents at once all complete, on both workers, and
every chunk status lands."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from deployments.server import running_server
from tests.conftest import PG_ADMIN_URL, require
from tests.factories import LOOM
from tests.helpers import agentctl, process_env, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.browser, pytest.mark.timeout(360)]

PREFECT = str(Path(sys.executable).parent / "prefect")


@pytest.fixture
def two_databases() -> Iterator[tuple[str, str]]:
    """Throw-away PostgreSQL databases: one for Prefect's server, one for the agents' store."""
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError:
        require(False, f"PostgreSQL at {PG_ADMIN_URL}")
        raise
    names = [f"scale_{kind}_{uuid.uuid4().hex[:8]}" for kind in ("prefect", "store")]
    for name in names:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{names[0]}", f"{base}/{names[1]}"
    finally:
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_twelve_runs_on_two_workers(
    tmp_path: Path, two_databases: tuple[str, str], chromium: str, base_url: str
) -> None:
    prefect_db, store_db = two_databases
    with running_server(tmp_path / "server", database_url=prefect_db, ui=False) as server:
        env = process_env(tmp_path, server.api_url, AGENTCTL_DATABASE_URL=store_db)
        agent_ids = []
        for n in (1, 2, 3):
            doc = {
                "name": f"Scaled {n}",
                "loom_url": LOOM,
                "settings": {"retries": 0, "retry_delay_seconds": 0},
                "chunks": [
                    {"name": "Open", "actions": [{"type": "goto", "url": f"{base_url}/page/scale-{n}"}]},
                    {"name": "Click", "actions": [{"type": "click", "selector": "#real"}]},
                ],
            }
            path = tmp_path / f"agent-{n}.yaml"
            path.write_text(yaml.safe_dump(doc), encoding="utf-8")
            agent_ids.append(agentctl(env, "import", str(path)).stdout.strip())
        deployed = agentctl(env, "deploy", "--all", "--pool", "scale")
        assert deployed.returncode == 0, deployed.stderr
        assert "created the process work pool 'scale'" in deployed.stderr

        logs = [tmp_path / f"worker-{n}.log" for n in (1, 2)]
        workers = [
            subprocess.Popen(
                [PREFECT, "worker", "start", "--pool", "scale", "--name", f"worker-{n}", "--limit", "3"],
                env=env,
                stdout=log.open("w"),
                stderr=subprocess.STDOUT,
            )
            for n, log in zip((1, 2), logs, strict=True)
        ]
        try:
            with _talking_to(server.api_url):
                flow_run_ids = asyncio.run(_create_runs(agent_ids, per_agent=4))
                assert len(flow_run_ids) == 12
                states = wait_for(
                    "all twelve runs to finish",
                    lambda: _all_final(flow_run_ids),
                    timeout=420,
                    every=2,
                )
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.wait(30)
        assert set(states.values()) == {"COMPLETED"}, states
        taken = [set(_UUID.findall(log.read_text())) & set(flow_run_ids) for log in logs]
        assert all(taken), "each worker took runs"
        assert taken[0] | taken[1] == set(flow_run_ids)
        from agents_store.backends import open_store

        store = open_store(store_db)
        runs = store.list_runs(limit=100)
        assert len(runs) == 12
        assert {r.status.value for r in runs} == {"Completed"}
        for agent_id in agent_ids:
            assert [c.status.value for c in store.get(uuid.UUID(agent_id)).chunks] == [
                "Completed",
                "Completed",
            ]
        store.close()


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _talking_to(api_url: str) -> Any:
    """This process's Prefect client pointed at the scale-out server (not the session's harness)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    return temporary_settings(updates={PREFECT_API_URL: api_url})


async def _create_runs(agent_ids: list[str], per_agent: int) -> list[str]:
    from prefect import get_client

    from deployments.agent_deployments import find_deployment

    ids: list[str] = []
    async with get_client() as client:
        for agent_id in agent_ids:
            deployment = await find_deployment(client, uuid.UUID(agent_id))
            assert deployment is not None
            for _ in range(per_agent):
                run = await client.create_flow_run_from_deployment(deployment.id)
                ids.append(str(run.id))
    return ids


def _all_final(flow_run_ids: list[str]) -> dict[str, str] | None:
    async def read() -> dict[str, str]:
        from prefect import get_client

        async with get_client() as client:
            runs = [await client.read_flow_run(uuid.UUID(i)) for i in flow_run_ids]
        return {str(r.id): r.state.type.value if r.state else "?" for r in runs}

    states = asyncio.run(read())
    final = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
    return states if all(s in final for s in states.values()) else None
