"""A run's browser session — cookies and local storage — read after every chunk, cheaply.

Playwright's ``context.storage_state()`` collects local storage by evaluating its whole storage
script (IndexedDB serializer included) in the page, and for every other origin the context ever
loaded a frame from (an earlier page, an embed, an ad) it opens a hidden page and navigates it
there. Called after every chunk, that took 3-4 ms a chunk on one origin and 110-170 ms on two
(``bench/session_save.py``): a login on one host and the work on another made every chunk's session
save open a page. This reader asks for the cookies (all origins, as Playwright does) and reads the
local storage of the page it is on with a few lines of script; what it read on earlier pages of the
run (or what the run's restored session held) is kept for their origins. Not kept: the local storage
of origins seen only in iframes — sessions live in cookies there — and IndexedDB, which Playwright
does not save by default either. The result has ``storage_state``'s shape, so
``new_context(storage_state=…)`` restores it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Page

__all__ = ["SessionStorage"]

logger = logging.getLogger("agentctl.browser")

_READ_LOCAL_STORAGE = """() => {
  const storage = window.localStorage;
  const items = [];
  for (let i = 0; i < storage.length; i++) {
    const name = storage.key(i);
    items.push({ name, value: storage.getItem(name) });
  }
  return { origin: window.location.origin, items };
}"""

READ_TIMEOUT_SECONDS = 2.0
"""A page that does not answer (busy script, navigation) keeps what was read there before."""


class SessionStorage:
    """The local storage of each origin the run's page has been on, and the context's cookies."""

    def __init__(self, restored: dict[str, Any] | None = None) -> None:
        self._origins: dict[str, list[dict[str, str]]] = {
            origin["origin"]: list(origin.get("localStorage", []))
            for origin in (restored or {}).get("origins", [])
            if origin.get("origin")
        }

    async def state(self, context: BrowserContext, page: Page) -> dict[str, Any]:
        """The session now, in ``storage_state``'s shape.

        Raises:
            playwright.async_api.Error: the context is gone (the run is ending).
        """
        cookies, _ = await asyncio.gather(context.cookies(), self._read_page(page))
        return {
            "cookies": cookies,
            "origins": [
                {"origin": origin, "localStorage": items} for origin, items in self._origins.items() if items
            ],
        }

    async def _read_page(self, page: Page) -> None:
        from playwright.async_api import Error as PlaywrightError

        try:
            found = await asyncio.wait_for(page.evaluate(_READ_LOCAL_STORAGE), READ_TIMEOUT_SECONDS)
        except (PlaywrightError, TimeoutError) as e:  # navigating, closed, or its storage is denied
            logger.debug("local storage not read from %s: %s", page.url, e)
            return
        origin = found.get("origin")
        if origin and origin != "null":  # about:blank, data: and file: pages have no storage to keep
            self._origins[origin] = found.get("items", [])
