"""The dashboard on a real store: an app factory, API clients per sign-in mode, and test agents.

API tests talk to the app in-process (httpx's ASGI transport); browser tests go through a real
uvicorn server on 127.0.0.1. The store is a SQLite file the flows open too (AGENTCTL_DATABASE_URL),
so runs started from the dashboard write where the dashboard reads.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from agents_store.backends import open_store
from agents_store.documents import dump_definition, parse_definition
from agents_store.models import Agent
from agents_store.settings import get_settings
from agents_store.store import AgentStore
from dashboard import create_app
from dashboard.config import AccessSettings
from tests.factories import LOOM, agent_doc

# As `agentctl dashboard` does: the dashboard logs outside flow runs on loggers a run has given
# Prefect's API handler (read before the session's Prefect harness starts).
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")

TOKEN = "team-token-0123456789"
JWT_SECRET = "supabase-jwt-secret-for-tests-0123456789"
ALICE = uuid.UUID("00000000-0000-4000-8000-00000000a11c")
BOB = uuid.UUID("00000000-0000-4000-8000-000000000b0b")
BASE = "http://127.0.0.1"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AgentStore]:
    """A fresh SQLite store, also the one flows started by the dashboard write to."""
    url = f"sqlite:///{tmp_path / 'dashboard.db'}"
    monkeypatch.setenv("AGENTCTL_DATABASE_URL", url)
    monkeypatch.setenv("AGENTCTL_HOME", str(tmp_path / "home"))
    for name in ("AGENTCTL_DASHBOARD_TOKEN", "AGENTCTL_SUPABASE_JWT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    opened = open_store(url)
    yield opened
    opened.close()


AppFactory = Callable[..., FastAPI]


@pytest.fixture
def make_app(store: AgentStore) -> AppFactory:
    def make(*, token: str | None = None, jwt_secret: str | None = None, host: str = "127.0.0.1") -> FastAPI:
        access = AccessSettings(dashboard_token=token, supabase_jwt_secret=jwt_secret)  # type: ignore[arg-type]
        return create_app(store, settings=get_settings(), access=access, host=host)

    return make


def client_for(app: FastAPI, **kwargs: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE, **kwargs)


async def with_csrf(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """A cookie (or local) client that sends the CSRF token on every request, as the pages' script does."""
    answer = await client.get("/api/session")
    assert answer.status_code == 200, answer.text
    client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
    return client


@pytest.fixture
async def api(make_app: AppFactory) -> AsyncIterator[httpx.AsyncClient]:
    """The API in local mode (127.0.0.1, nothing configured), as the local user, with CSRF.

    Runs the test left going are cancelled at the end, so none outlives its test in the shared loop.
    """
    app = make_app()
    async with client_for(app) as client:
        yield await with_csrf(client)
    await app.state.dashboard.launcher.close()


def supabase_jwt(
    user_id: uuid.UUID, *, email: str | None = None, expires_in: int = 3600, **extra: Any
) -> str:
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "aud": "authenticated",
        "exp": int(time.time()) + expires_in,
    }
    if email:
        claims["email"] = email
    return jwt.encode({**claims, **extra}, JWT_SECRET, algorithm="HS256")


def agent_yaml(name: str = "Pay invoices", chunks: int = 3, **extra: Any) -> str:
    return dump_definition(parse_definition(agent_doc(name, chunks, **extra)))


@pytest.fixture
def local_agent(store: AgentStore) -> Callable[..., Agent]:
    """Save an agent of the local user (the owner in local and token mode)."""

    def make(
        name: str = "Pay invoices", chunks: int = 3, user_id: uuid.UUID | None = None, **extra: Any
    ) -> Agent:
        if user_id is not None:
            store.ensure_user(user_id, str(user_id)[:8])
        return store.create(parse_definition(agent_doc(name, chunks, **extra)), user_id=user_id)

    return make


__all__ = [
    "ALICE",
    "BASE",
    "BOB",
    "JWT_SECRET",
    "LOOM",
    "TOKEN",
    "agent_yaml",
    "client_for",
    "supabase_jwt",
    "with_csrf",
]
