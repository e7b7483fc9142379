"""The session a run saves after every chunk, read on a real Chromium across two origins
(``127.0.0.1`` and ``localhost`` on the same local server are two origins to the browser)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tasks.browser.session import RunBrowser

pytestmark = pytest.mark.browser


@pytest.fixture
async def run_browser(chromium: str) -> AsyncIterator[RunBrowser]:
    from tasks.browser.session import find_chromium

    browser = RunBrowser(headless=True, executable=find_chromium())
    yield browser
    await browser.close()


async def _sign_in_on(page: Any, url: str, key: str, value: str) -> None:
    await page.goto(url)
    await page.evaluate(
        "([k, v]) => { localStorage.setItem(k, v); document.cookie = k + '=' + v }", [key, value]
    )


async def _pages_opened_from_now(browser: Any) -> Any:
    """A counter of the page targets Chromium creates from now on (hidden ones included)."""
    cdp = await browser.new_browser_cdp_session()
    known: set[str] = {t["targetId"] for t in (await cdp.send("Target.getTargets"))["targetInfos"]}
    created: set[str] = set()

    def on_created(event: dict[str, Any]) -> None:
        info = event["targetInfo"]
        if info["type"] == "page" and info["targetId"] not in known:
            created.add(info["targetId"])

    cdp.on("Target.targetCreated", on_created)
    await cdp.send("Target.setDiscoverTargets", {"discover": True})
    return lambda: len(created)


async def _on_two_origins(run_browser: RunBrowser, base_url: str) -> str:
    """Local storage and a cookie set on ``base_url``'s origin, then on a second one (returned),
    with a session read between them, as after a chunk."""
    other_url = base_url.replace("127.0.0.1", "localhost")
    page = await run_browser.page()
    await _sign_in_on(page, f"{base_url}/page/a", "token", "on-ip")
    assert await run_browser.session_state() is not None
    await _sign_in_on(page, f"{other_url}/page/b", "theme", "dark")
    return other_url


def _local(state: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {o["origin"]: {i["name"]: i["value"] for i in o["localStorage"]} for o in state["origins"]}


async def test_the_session_of_two_origins_matches_playwrights_without_opening_a_page(
    run_browser: RunBrowser, base_url: str
) -> None:
    other_url = await _on_two_origins(run_browser, base_url)
    context = run_browser.context
    assert context is not None
    assert context.browser is not None
    opened = await _pages_opened_from_now(context.browser)

    ours = await run_browser.session_state()

    assert ours is not None
    theirs: dict[str, Any] = dict(await context.storage_state())
    for _ in range(100):  # Chromium's target events come on a session of their own
        if opened():
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    # One page: the hidden one Playwright's reader opened to visit the origin it was not on.
    assert opened() == 1
    assert _local(ours) == _local(theirs) == {base_url: {"token": "on-ip"}, other_url: {"theme": "dark"}}
    assert sorted((c["domain"], c["name"]) for c in ours["cookies"]) == sorted(
        (c["domain"], c["name"]) for c in theirs["cookies"]
    )
    assert {c["name"] for c in ours["cookies"]} == {"token", "theme"}


async def test_a_saved_session_restores_both_origins_and_keeps_what_the_run_did_not_visit(
    run_browser: RunBrowser, base_url: str
) -> None:
    other_url = await _on_two_origins(run_browser, base_url)
    saved = await run_browser.session_state()
    assert saved is not None

    resumed = RunBrowser(headless=True, executable=run_browser.executable, storage_state=saved)
    try:
        page = await resumed.page()
        await page.goto(f"{other_url}/page/c")  # only the second origin this time
        assert await page.evaluate("localStorage.getItem('theme')") == "dark"
        await page.evaluate("localStorage.removeItem('theme')")
        again = await resumed.session_state()
        assert again is not None
        # The first origin, restored and not visited, is kept; the emptied one is no longer saved.
        assert _local(again) == {base_url: {"token": "on-ip"}}
        await page.goto(f"{base_url}/page/d")
        assert await page.evaluate("localStorage.getItem('token')") == "on-ip"
    finally:
        await resumed.close()


async def test_no_session_before_the_browser_started(run_browser: RunBrowser) -> None:
    assert await run_browser.session_state() is None
