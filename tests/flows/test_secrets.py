"""A secret reaches where the agent sends it, and nowhere else: not the store, logs, Prefect's
database, artifacts, run files, screenshots' metadata or exports."""

from __future__ import annotations

import asyncio
import base64
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agents_store.documents import dump_definition
from agents_store.models import Agent, ChunkStatus
from agents_store.settings import get_settings
from agents_store.store import AgentStore
from tests.helpers import wait_for_task_runs
from tests.sites import LocalSite

pytestmark = pytest.mark.browser

SECRET = "Xq9-very-secret-token-7781"


def _prefect_database_files() -> list[Path]:
    from prefect.settings import get_current_settings

    url = get_current_settings().server.database.connection_url
    assert url is not None
    path = Path(url.get_secret_value().split("///", 1)[1])
    return [p for p in path.parent.iterdir() if p.name.startswith(path.name)]


def _api_url() -> str:
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    assert url is not None, "the Prefect harness sets the API URL"
    return url


def _sqlite_dump(path: Path) -> str:
    with sqlite3.connect(path) as db:
        return "\n".join(db.iterdump())


async def _prefect_records(flow_run_id: Any) -> str:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, TaskRunFilter

    async with get_client() as client:
        flow_run = await client.read_flow_run(flow_run_id)
        states = await client.read_flow_run_states(flow_run_id)
        task_runs = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
            task_run_filter=TaskRunFilter(),
        )
        artifacts = await client.read_artifacts()
        parts = [flow_run.model_dump_json(), *(s.model_dump_json() for s in states)]
        parts += [t.model_dump_json() for t in task_runs]
        parts += [a.model_dump_json() for a in artifacts]
        return "\n".join(parts)


async def _pixel(png: bytes, x: int, y: int) -> list[int]:
    """The RGBA of one pixel of a PNG, read by the browser itself (no image library needed)."""
    from playwright.async_api import async_playwright

    from tasks.browser.session import LAUNCH_ARGS, find_chromium

    data = base64.b64encode(png).decode()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=find_chromium(), args=LAUNCH_ARGS)
        page = await browser.new_page()
        rgba: list[int] = await page.evaluate(
            """async ([data, x, y]) => {
                const img = new Image(); img.src = 'data:image/png;base64,' + data; await img.decode();
                const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
                const g = c.getContext('2d'); g.drawImage(img, 0, 0);
                return Array.from(g.getImageData(x, y, 1, 1).data);
            }""",
            [data, x, y],
        )
        await browser.close()
        return rgba


def test_a_secret_appears_nowhere_but_at_its_destination(
    sqlite_engine_store: AgentStore,
    make_agent: Callable[..., Agent],
    run_flow: Callable[..., Any],
    base_url: str,
    site: LocalSite,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AGENTCTL_SECRET_API_TOKEN", SECRET)
    agent = make_agent(
        sqlite_engine_store,
        [
            {
                "name": "Type it",
                "actions": [
                    {"type": "goto", "url": f"{base_url}/page/secret"},
                    {"type": "fill", "selector": "#field", "value": "{{ secrets.API_TOKEN }}"},
                    {"type": "screenshot", "name": "typed"},
                ],
            },
            {
                "name": "Send it",
                "actions": [
                    {
                        "type": "http",
                        "url": f"{base_url}/receive/secret?token={{{{ secrets.API_TOKEN }}}}",
                        "headers": {"Authorization": "Bearer {{ secrets.API_TOKEN }}"},
                        "json": {"note": "token is {{ secrets.API_TOKEN }}"},
                    }
                ],
            },
            {
                "name": "Fail with it",
                "actions": [
                    {
                        "type": "expect_text",
                        "selector": "#field",
                        "text": "{{ secrets.API_TOKEN }} and more",
                        "timeout_ms": 300,
                    }
                ],
            },
        ],
    )
    state = run_flow(agent)
    assert state.is_failed()

    # It did reach its destination.
    [received] = site.received("secret")
    assert received["headers"]["authorization"] == f"Bearer {SECRET}"
    assert SECRET in received["body"]

    # The failure is explained, with the secret masked.
    failed = sqlite_engine_store.get(agent.id).chunks[2]
    assert failed.status == ChunkStatus.FAILED
    assert failed.error_details is not None
    assert "***" in failed.error_details["message"]
    assert failed.error_details["action"]["text"] == "*** and more"

    flow_run_id = state.state_details.flow_run_id
    places = _everywhere_a_run_writes(sqlite_engine_store, agent, flow_run_id, chunks=3, capfd=capfd)
    for where, content in places.items():
        found = SECRET.encode() in content if isinstance(content, bytes) else SECRET in content
        assert not found, f"the secret leaked into {where}"

    # The typed secret is painted over in the screenshot (Playwright's mask colour, #FF00FF).
    shot = get_settings().runs_dir() / str(flow_run_id) / "chunk-01-typed.png"
    assert asyncio.run(_pixel(shot.read_bytes(), 60, 75))[:3] == [255, 0, 255]


def _everywhere_a_run_writes(
    store: AgentStore, agent: Agent, flow_run_id: Any, *, chunks: int, capfd: pytest.CaptureFixture[str]
) -> dict[str, str | bytes]:
    """The store, Prefect's API, database and logs, the console, the export and the run's files."""
    wait_for_task_runs(_api_url(), str(flow_run_id), count=chunks)  # then Prefect's database has them all
    settings = get_settings()
    run_dir = settings.runs_dir() / str(flow_run_id)
    places: dict[str, str | bytes] = {
        "store": _sqlite_dump(Path(settings.resolved_database_url().removeprefix("sqlite:///"))),
        "prefect api": asyncio.run(_prefect_records(flow_run_id)),
        "run logs": "\n".join(
            line.message
            for line in asyncio.run(__import__("flows.run_logs").run_logs.read_run_logs(flow_run_id))
        ),
        "console": "".join(capfd.readouterr()),
        "export": dump_definition(store.get(agent.id).definition()),
    }
    for path in _prefect_database_files():
        places[f"prefect database {path.name}"] = path.read_bytes()
    for path in run_dir.rglob("*"):
        if path.is_file():
            places[f"run file {path.name}"] = path.read_bytes()
    assert any(name.endswith(".png") for name in places if name.startswith("run file"))
    return places


def test_a_secret_is_masked_in_the_forms_a_browser_and_a_server_give_it(
    sqlite_engine_store: AgentStore,
    make_agent: Callable[..., Agent],
    run_flow: Callable[..., Any],
    base_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Chromium writes a secret in a page URL its own way (``Sömmer@2024 "`` as
    ``S%C3%B6mmer@2024%20%22``: neither raw nor Python's ``quote``); a server echoes a JSON body
    with its non-ASCII kept, inside JSON again (and a third time when the answer is relayed and
    echoed back); a page shows the secret back as text. Each leaked
    into error details, session files and Prefect. The secret ends in ASCII letters no encoding
    changes: if any form of it is left anywhere, they are."""
    secret = 'Sömmer@2024 "tok"-Zk7781'
    monkeypatch.setenv("AGENTCTL_SECRET_SHOWN", secret)
    agent = make_agent(
        sqlite_engine_store,
        [
            {
                "name": "Open it",
                "actions": [
                    {"type": "goto", "url": f"{base_url}/show?token={{{{ secrets.SHOWN }}}}"},
                    {"type": "screenshot", "name": "shown"},
                ],
            },
            {
                "name": "Post it",
                "actions": [
                    {
                        "type": "http",
                        "url": f"{base_url}/receive/echo",
                        "json": {"p": "{{ secrets.SHOWN }}"},
                        "var": "posted",
                    }
                ],
            },
            {
                "name": "Relay the answer",
                "actions": [
                    {
                        "type": "http",
                        "url": f"{base_url}/receive/echo",
                        "json": {"again": "{{ vars.posted.json.echo }}"},
                        # It answers 200, quoting the body: the secret three JSON strings deep.
                        "expect_status": 201,
                    }
                ],
            },
        ],
    )
    state = run_flow(agent)
    assert state.is_failed()
    failed = sqlite_engine_store.get(agent.id).chunks[2]
    assert failed.error_details is not None
    assert "***" in failed.error_details["message"], failed.error_details
    assert failed.error_details["page_url"] == f"{base_url}/show?token=***"

    flow_run_id = state.state_details.flow_run_id
    places = _everywhere_a_run_writes(sqlite_engine_store, agent, flow_run_id, chunks=3, capfd=capfd)
    assert any(name.startswith("run file session-after-01") for name in places)
    for where, content in places.items():
        found = b"Zk7781" in content if isinstance(content, bytes) else "Zk7781" in content
        assert not found, f"the secret leaked into {where}"

    # The page shows the secret: its element is painted over in the screenshot.
    shot = get_settings().runs_dir() / str(flow_run_id) / "chunk-01-shown.png"
    assert asyncio.run(_pixel(shot.read_bytes(), 20, 20))[:3] == [255, 0, 255]
