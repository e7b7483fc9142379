"""The only place a browser is launched.

One Chromium per process and event loop, shared by the runs in it (each run gets its own context, so
cookies never cross runs); it closes when its last run ends. A run's context is created lazily, on
the first browser action, so an agent of HTTP actions only never starts a browser.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents_store.errors import ExecutionError
from tasks.browser.storage import SessionStorage

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page, Playwright

__all__ = [
    "LAUNCH_ARGS",
    "BrowserUnavailable",
    "RunBrowser",
    "check_display",
    "find_chromium",
    "shared_browser",
]

logger = logging.getLogger("agentctl.browser")

LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
_SYSTEM_CHROMIUMS = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")


class BrowserUnavailable(ExecutionError):
    """No Chromium could be found or started."""


def check_display(*, headless: bool, environ: Mapping[str, str] = os.environ) -> None:
    """Refuse a headed browser where it has no screen to open its window on.

    Chromium then exits at once and Playwright's error starts "Target page, context or browser has
    been closed" — the reason is further down, in a box of its browser log.

    Raises:
        BrowserUnavailable: not headless, on Linux, and neither ``DISPLAY`` nor ``WAYLAND_DISPLAY`` set.
    """
    if headless or not sys.platform.startswith("linux"):
        return
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return
    raise BrowserUnavailable(
        "a headed browser needs a display and none is set ($DISPLAY and $WAYLAND_DISPLAY are empty): "
        "run headless (without --headed, or with settings.headless: true), or under xvfb-run"
    )


def find_chromium(configured: Path | None = None) -> str | None:
    """The executable to launch, or None to let Playwright use its own downloaded browser.

    Order: ``AGENTCTL_CHROMIUM``; Playwright's own browser when installed; Debian's chromium.

    Raises:
        BrowserUnavailable: none of them exists.
    """
    if configured is not None:
        if not Path(configured).is_file():
            raise BrowserUnavailable(f"AGENTCTL_CHROMIUM: {configured} does not exist")
        return str(configured)
    if _playwright_browser_installed():
        return None
    for candidate in _SYSTEM_CHROMIUMS:
        found = shutil.which(candidate)
        if found:
            return found
    raise BrowserUnavailable(
        "no Chromium found: install Debian's chromium (apt-get install chromium) or set AGENTCTL_CHROMIUM"
    )


def _playwright_browser_installed() -> bool:
    import os

    root = Path(os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or Path.home() / ".cache" / "ms-playwright")
    return any(root.glob("chromium-*/chrome-linux*/chrome"))


@dataclass
class _Shared:
    playwright: Playwright
    browser: Browser
    users: int = 0


_shared: dict[tuple[int, bool, str | None], _Shared] = {}
_shared_lock: dict[int, asyncio.Lock] = {}


@asynccontextmanager
async def shared_browser(*, headless: bool, executable: str | None) -> AsyncIterator[Browser]:
    """A browser shared by the runs of this event loop with the same launch options."""
    loop_id = id(asyncio.get_running_loop())
    key = (loop_id, headless, executable)
    lock = _shared_lock.setdefault(loop_id, asyncio.Lock())
    async with lock:
        entry = _shared.get(key)
        if entry is None or not entry.browser.is_connected():
            entry = await _launch(headless=headless, executable=executable)
            _shared[key] = entry
        entry.users += 1
    try:
        yield entry.browser
    finally:
        async with lock:
            entry.users -= 1
            if entry.users == 0:
                _shared.pop(key, None)
                await _close(entry)


async def _launch(*, headless: bool, executable: str | None) -> _Shared:
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright

    check_display(headless=headless)
    playwright = await async_playwright().start()
    try:
        browser = await playwright.chromium.launch(
            headless=headless, executable_path=executable, args=LAUNCH_ARGS
        )
    except PlaywrightError as e:
        await playwright.stop()
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BrowserUnavailable(
            f"could not start Chromium ({executable or 'Playwright’s own'}): {first}"
        ) from e
    logger.debug("launched Chromium %s (%s)", browser.version, executable or "Playwright's own")
    return _Shared(playwright=playwright, browser=browser)


async def _close(entry: _Shared) -> None:
    try:
        await entry.browser.close()
    finally:
        await entry.playwright.stop()


@dataclass
class RunBrowser:
    """A run's browser context and page, opened on first use and shared by its chunks.

    A login in chunk 1 holds in chunk 2 because both use this one context.
    """

    headless: bool
    executable: str | None
    storage_state: dict[str, Any] | None = None
    """Cookies and local storage to start with (a session saved by an earlier run)."""
    start_url: str | None = None
    """Where the page opens when the run starts from the middle (the saved session's URL)."""
    trace: bool = False
    trace_screenshots: bool = True
    """Record the screencast in traces. Off for runs that type secrets into pages: its frames show
    what a text field holds, and unlike screenshots they cannot be masked or scrubbed."""
    context_options: dict[str, Any] = field(default_factory=dict)
    slot: Callable[[], AbstractAsyncContextManager[Any]] | None = None
    """Held while the run has a browser: a Prefect global concurrency limit on browsers."""
    _slot_cm: AbstractAsyncContextManager[Any] | None = None
    _browser_cm: Any = None
    _context: BrowserContext | None = None
    _page: Page | None = None
    _storage: SessionStorage = field(init=False)

    def __post_init__(self) -> None:
        self._storage = SessionStorage(self.storage_state)

    @property
    def started(self) -> bool:
        return self._page is not None

    async def page(self) -> Page:
        if self._page is None:
            if self.slot is not None and self._slot_cm is None:
                self._slot_cm = self.slot()
                await self._slot_cm.__aenter__()
            self._browser_cm = shared_browser(headless=self.headless, executable=self.executable)
            browser = await self._browser_cm.__aenter__()
            options: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}, **self.context_options}
            if self.storage_state is not None:
                options["storage_state"] = self.storage_state
            self._context = await browser.new_context(**options)
            if self.trace:
                await self._context.tracing.start(
                    screenshots=self.trace_screenshots, snapshots=True, sources=False
                )
            self._page = await self._context.new_page()
            if self.start_url and self.start_url != "about:blank":
                await self._page.goto(self.start_url)
        return self._page

    @property
    def context(self) -> BrowserContext | None:
        return self._context

    async def session_state(self) -> dict[str, Any] | None:
        """Cookies and local storage now, to start a later run with (None before the browser started).

        Raises:
            playwright.async_api.Error: the browser went away.
        """
        if self._context is None or self._page is None:
            return None
        return await self._storage.state(self._context, self._page)

    @property
    def url(self) -> str | None:
        """The page's URL now, without waiting (None before the browser started)."""
        return self._page.url if self._page is not None else None

    async def close(self) -> None:
        try:
            if self._context is not None:
                await self._context.close()
        finally:
            self._context = None
            self._page = None
            try:
                if self._browser_cm is not None:
                    cm, self._browser_cm = self._browser_cm, None
                    await cm.__aexit__(None, None, None)
            finally:
                if self._slot_cm is not None:
                    slot, self._slot_cm = self._slot_cm, None
                    await slot.__aexit__(None, None, None)
