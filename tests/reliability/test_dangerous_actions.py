"""Dangerous actions, attacked with a real Chromium and the real engine: ``goto`` to local files,
browser internals and script URLs; ``upload`` of files outside the upload folder; and secrets sent
by ``http`` actions to hosts they are not bound to (``AGENTCTL_SECRET_<NAME>_HOSTS``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from agents_store.models import Agent, ChunkStatus, GotoAction, UploadAction
from agents_store.store import AgentStore
from tasks.browser.actions import _UNSAFE_SCHEMES, BrowserActionContext, run_browser_action
from tasks.errors import UnsafeAction
from tests.reliability._guards import *  # noqa: F403 - the engine fixtures, used by name

pytestmark = pytest.mark.browser

MakeAgent = Callable[..., Agent]
SECRET = "Hk7-bound-secret-4412"


@pytest.fixture
async def page(chromium: str, tmp_path: Path) -> AsyncIterator[Any]:
    """A real Chromium page showing a form with a file input."""
    from playwright.async_api import async_playwright

    from tasks.browser.session import LAUNCH_ARGS, find_chromium

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=find_chromium(), args=LAUNCH_ARGS)
        page = await browser.new_page()
        await page.set_content("<p id='mark'>untouched</p><input type='file' id='file'>")
        yield page
        await browser.close()


def _ctx(page: Any, tmp_path: Path, **extra: Any) -> BrowserActionContext:
    uploads = (tmp_path / "uploads").resolve()
    return BrowserActionContext(
        page=page, timeout_ms=2000, artifacts_dir=tmp_path, upload_dir=uploads, **extra
    )


# --------------------------------------------------------------------------- goto


UNSAFE_URLS = [
    *(f"{scheme}//x/" for scheme in _UNSAFE_SCHEMES),
    "file:///etc/passwd",
    "FILE:///etc/passwd",
    "  javascript:document.getElementById('mark').textContent='pwned'",
    "java\tscript:document.getElementById('mark').textContent='pwned'",
    "fi\tle:///etc/passwd",
    "\x01file:///etc/passwd",
    "data:text/html,<p>phish</p>",
    "view-source:http://127.0.0.1/",
    "blob:http://127.0.0.1/0",
    "filesystem:http://127.0.0.1/temporary/x",
    "devtools://devtools/bundled/inspector.html",
    "chrome-untrusted://x/",
]


async def test_goto_refuses_every_unsafe_scheme_and_its_disguises(page: Any, tmp_path: Path) -> None:
    start = page.url
    for url in UNSAFE_URLS:
        with pytest.raises(UnsafeAction, match=r"goto refuses [a-z-]+: URLs; set settings.allow_unsafe_urls"):
            await run_browser_action(GotoAction(type="goto", url=url), _ctx(page, tmp_path))
        assert page.url == start, f"{url!r} navigated"
    assert await page.text_content("#mark") == "untouched"


async def test_goto_opens_them_when_the_agent_allows_unsafe_urls(page: Any, tmp_path: Path) -> None:
    local = tmp_path / "local.html"
    local.write_text("<p id='mark'>a local file</p>", encoding="utf-8")
    ctx = _ctx(page, tmp_path, allow_unsafe_urls=True)
    await run_browser_action(GotoAction(type="goto", url=local.as_uri()), ctx)
    assert await page.text_content("#mark") == "a local file"
    await run_browser_action(GotoAction(type="goto", url="data:text/html,<p id='mark'>data</p>"), ctx)
    assert await page.text_content("#mark") == "data"


@pytest.mark.slow
def test_a_run_refuses_a_file_url_unless_its_settings_allow_it(
    sqlite_engine_store: AgentStore, make_agent: MakeAgent, run_flow: Callable[..., Any], tmp_path: Path
) -> None:
    local = tmp_path / "local.html"
    local.write_text("<p id='mark'>a local file</p>", encoding="utf-8")
    chunks = [
        {
            "name": "Open a local file",
            "actions": [
                {"type": "goto", "url": local.as_uri()},
                {"type": "expect_text", "selector": "#mark", "text": "a local file"},
            ],
        }
    ]
    refused = make_agent(sqlite_engine_store, chunks, name="Refused")
    assert run_flow(refused).is_failed()
    chunk = sqlite_engine_store.get(refused.id).chunks[0]
    assert chunk.status == ChunkStatus.FAILED
    assert chunk.error_details is not None
    assert chunk.error_details["type"] == "UnsafeAction"
    assert chunk.error_details["message"].startswith("goto refuses file: URLs")
    assert chunk.error_details["action_index"] == 0

    settings = {"retries": 0, "retry_delay_seconds": 0, "action_timeout_ms": 3000, "allow_unsafe_urls": True}
    allowed = make_agent(sqlite_engine_store, chunks, name="Allowed", settings=settings)
    assert run_flow(allowed).is_completed()
    assert sqlite_engine_store.get(allowed.id).chunks[0].status == ChunkStatus.COMPLETED


# --------------------------------------------------------------------------- upload


async def test_upload_reads_only_from_the_upload_folder(page: Any, tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    (uploads / "sub").mkdir(parents=True)
    (uploads / "invoice.pdf").write_text("inside", encoding="utf-8")
    (uploads / "sub" / "nested.txt").write_text("inside too", encoding="utf-8")
    outside = tmp_path / "outside.txt"
    outside.write_text("private", encoding="utf-8")
    (uploads / "escape").symlink_to(outside)
    (uploads / "escape-dir").symlink_to(tmp_path)
    (uploads / "alias.pdf").symlink_to(uploads / "invoice.pdf")
    ctx = _ctx(page, tmp_path)

    refused = [
        "../outside.txt",
        "sub/../../outside.txt",
        str(outside),
        "/etc/passwd",
        "escape",  # a symlink inside the folder, pointing outside
        "escape-dir/outside.txt",  # a symlinked folder
    ]
    for path in refused:
        with pytest.raises(UnsafeAction, match=r"leaves the upload folder .*AGENTCTL_UPLOAD_DIR"):
            await run_browser_action(UploadAction(type="upload", selector="#file", path=path), ctx)
    assert await page.evaluate("document.getElementById('file').files.length") == 0

    allowed = [("invoice.pdf", "invoice.pdf"), ("sub/nested.txt", "nested.txt"), ("alias.pdf", "invoice.pdf")]
    for path, name in allowed:
        await run_browser_action(UploadAction(type="upload", selector="#file", path=path), ctx)
        assert await page.evaluate("document.getElementById('file').files[0].name") == name


@pytest.mark.slow
def test_a_run_names_the_upload_that_left_the_folder(
    sqlite_engine_store: AgentStore,
    make_agent: MakeAgent,
    run_flow: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uploads = tmp_path / "my-uploads"
    uploads.mkdir()
    (uploads / "report").symlink_to("/etc/passwd")
    monkeypatch.setenv("AGENTCTL_UPLOAD_DIR", str(uploads))
    agent = make_agent(
        sqlite_engine_store,
        [{"name": "Attach", "actions": [{"type": "upload", "selector": "#file", "path": "report"}]}],
    )
    assert run_flow(agent).is_failed()
    details = sqlite_engine_store.get(agent.id).chunks[0].error_details
    assert details is not None
    assert details["type"] == "UnsafeAction"
    assert details["message"] == (
        f"upload path 'report' leaves the upload folder {uploads.resolve()}; "
        "agents may only upload files from there (AGENTCTL_UPLOAD_DIR)"
    )
