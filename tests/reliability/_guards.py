"""Shared by the guard tests (secrets everywhere, dangerous actions, load): the engine fixtures of
``tests/flows/conftest.py`` re-exported (a test module imports them by name), and a small receiver
that records what it got and can redirect elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from cli.background_server import serve_in_background
from tests.flows.conftest import make_agent, run_flow, sqlite_engine_store

__all__ = ["Receiver", "make_agent", "receiver", "receiver_server", "run_flow", "sqlite_engine_store"]


class Receiver:
    """Records every request (path, query, headers, body) and echoes its body (parsed when JSON);
    ``/redirect?to=URL`` answers 307 to URL."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.app = FastAPI()

        @self.app.api_route("/redirect", methods=["GET", "POST"])
        async def redirect(request: Request, to: str) -> Response:
            await self._record(request)
            return RedirectResponse(to, status_code=307)

        @self.app.api_route("/{name}", methods=["GET", "POST", "PUT"])
        async def record(request: Request, name: str) -> JSONResponse:
            body = await self._record(request)
            try:
                echo: Any = json.loads(body)
            except ValueError:
                echo = body
            return JSONResponse({"ok": True, "echo": echo})

    async def _record(self, request: Request) -> str:
        body = (await request.body()).decode("utf-8", "replace")
        self.requests.append(
            {
                "path": request.url.path,
                "query": str(request.url.query),
                "headers": dict(request.headers),
                "body": body,
            }
        )
        return body

    def to(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == path]


@pytest.fixture(scope="session")
def receiver_server() -> Iterator[tuple[Receiver, int]]:
    receiver = Receiver()
    with serve_in_background(receiver.app) as url:
        yield receiver, int(url.rsplit(":", 1)[1].rstrip("/"))


@pytest.fixture
def receiver(receiver_server: tuple[Receiver, int]) -> tuple[Receiver, int]:
    """The receiver (its record emptied) and its port: reach it as 127.0.0.1 or as localhost."""
    receiver_server[0].requests.clear()
    return receiver_server
