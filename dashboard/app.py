"""``create_app``: the dashboard as one FastAPI app — JSON API under ``/api``, pages, static files.

The app reads and writes through the store and the flows' functions only (never the CLI). It is
built around an injected store, so tests and the benchmark hand it the database they set up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from agents_store.settings import Settings, get_settings
from agents_store.store import AgentStore
from dashboard import (
    api_agents,
    api_approvals,
    api_chunks,
    api_exports,
    api_runs,
    api_schedules,
    api_session,
    api_versions,
    pages,
)
from dashboard.auth import Authenticator
from dashboard.config import AccessSettings, is_loopback, require_safe_binding
from dashboard.deps import Dashboard, User
from dashboard.errors import error_responses, install_error_handlers
from dashboard.runner import RunLauncher
from dashboard.security import SecurityHeaders

__all__ = ["create_app"]

_LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


def create_app(
    store: AgentStore,
    *,
    settings: Settings | None = None,
    access: AccessSettings | None = None,
    host: str = "127.0.0.1",
) -> FastAPI:
    """The dashboard app on ``store``.

    ``host`` is the address it will be served on: on anything but loopback it needs a sign-in
    method configured. Runs started from it run in its event loop and write to the store of
    ``settings`` (the flow opens its own connection), which must be the same database as ``store``.

    Raises:
        ConfigError: bound to a network address with neither a token nor a JWT secret configured.
    """
    settings = settings or get_settings()
    access = access or AccessSettings()
    require_safe_binding(host, access)
    launcher = RunLauncher(store, settings.runs_dir())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        launcher.keep_sigterm_handler()
        yield
        await launcher.close()

    app = FastAPI(
        title="agentctl dashboard",
        summary="Find, inspect, edit, run, approve and export agents.",
        version="1",
        docs_url=None,  # Swagger UI would load its script from a CDN; the schema is /api/openapi.json
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
        # What any operation can answer, documented once with the error shape: a body that is not
        # JSON or a host name refused (400), no sign-in (401), a path or query parameter of the wrong
        # form (422), the database unreachable (503). The API fuzz test found them undocumented.
        responses=error_responses(400, 401, 422, 503),
    )
    app.state.dashboard = Dashboard(
        store=store,
        settings=settings,
        access=access,
        auth=Authenticator(access, store, key_file=settings.home / "dashboard.key"),
        launcher=launcher,
    )
    for router in (
        api_session.router,
        api_agents.router,
        api_chunks.router,
        api_versions.router,
        api_runs.router,
        api_approvals.router,
        api_exports.router,
        api_schedules.router,
        pages.router,
    ):
        app.include_router(router)

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi(_: User) -> dict[str, Any]:
        return app.openapi()

    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    install_error_handlers(app, pages.render_error_page)
    guard_hosts = access.open and is_loopback(host)
    app.add_middleware(SecurityHeaders, allowed_hosts=_LOOPBACK_NAMES | {host} if guard_hosts else None)
    return app
