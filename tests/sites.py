"""Pages and receivers the engine tests drive, served for real on 127.0.0.1.

The demo app (sign-in, records, catch hooks) plus test-only routes: pages that fail a number of
times before they work, a page whose element sits behind a fallback selector, and receivers that
record every request (headers included) or answer 5xx/429 first.
"""

from __future__ import annotations

import html
from collections import Counter
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from cli.demo.site import DemoState, create_demo_app


class LocalSite:
    """The state a test can read back: hits per key and every request a receiver got."""

    def __init__(self) -> None:
        self.demo = DemoState(password="s3cret-Pa55word!")
        self.hits: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []
        self.app = self._build()

    def reset(self) -> None:
        self.hits.clear()
        self.requests.clear()
        self.demo.records.clear()
        self.demo.hooks.clear()
        self.demo.replies.clear()

    def received(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["name"] == name]

    def _build(self) -> FastAPI:
        app = create_demo_app(self.demo)

        @app.get("/page/{key}", response_class=HTMLResponse)
        async def flaky_page(key: str, fail: int = 0, delay_ms: int = 0) -> HTMLResponse:
            """Without #ok for the first ``fail`` visits of ``key``; #ok appears after ``delay_ms``."""
            self.hits[key] += 1
            if self.hits[key] <= fail:
                return HTMLResponse(f"<h1 id='title'>{key}</h1><p id='broken'>not yet ({self.hits[key]})</p>")
            script = (
                f"<script>setTimeout(() => document.body.insertAdjacentHTML('beforeend',"
                f" \"<p id='ok'>ready {key}</p>\"), {delay_ms});</script>"
                if delay_ms
                else f"<p id='ok'>ready {key}</p>"
            )
            return HTMLResponse(
                f"<h1 id='title'>{key}</h1><input id='field'><button id='real' onclick=\"document.body"
                f".insertAdjacentHTML('beforeend', '<p id=clicked>clicked</p>')\">Go</button>"
                f"<a id='link' href='/page/{key}-next'>next</a>{script}"
            )

        @app.get("/dead-link", response_class=HTMLResponse)
        async def dead_link(port: int) -> HTMLResponse:
            """A link to a port nothing listens on: following it leaves the browser on its error page."""
            return HTMLResponse(f"<a id='dead' href='http://127.0.0.1:{port}/'>gone</a>")

        @app.get("/show", response_class=HTMLResponse)
        async def show_token(token: str = "") -> HTMLResponse:
            """Shows the token of its URL in a white box at the page's top left (as a settings page
            shows a key back)."""
            style = "position:absolute;left:0;top:0;width:600px;height:120px;margin:0;background:#fff"
            return HTMLResponse(f"<p id='shown' style='{style}'>Your token: {html.escape(token)}</p>")

        @app.post("/receive/{name}")
        async def receive(
            name: str, request: Request, fail: int = 0, status: int = 500, retry_after: str = ""
        ) -> JSONResponse:
            """Records the request; answers ``status`` (with Retry-After) to the first ``fail`` calls."""
            body = (await request.body()).decode("utf-8", "replace")
            self.requests.append(
                {
                    "name": name,
                    "headers": dict(request.headers),
                    "body": body,
                    "query": dict(request.query_params),
                }
            )
            self.hits[f"receive:{name}"] += 1
            if self.hits[f"receive:{name}"] <= fail:
                headers = {"Retry-After": retry_after} if retry_after else {}
                return JSONResponse({"error": "try later"}, status_code=status, headers=headers)
            return JSONResponse(
                {"ok": True, "n": self.hits[f"receive:{name}"], "echo": body}, status_code=200
            )

        return app
