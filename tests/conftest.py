"""Shared fixtures: an isolated AGENTCTL_HOME, and the real services the suite needs.

Under CI (``CI=true``) a missing service fails the test instead of skipping it: a skipped suite
would hide a broken install.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.background_server import serve_in_background
from deployments.server_settings import tune_servers_started_here
from tests.sites import LocalSite

# Isolate every test run from the user's own ~/.agentctl and Prefect home before anything reads them.
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="agentctl-test-"))
os.environ["AGENTCTL_HOME"] = str(_SESSION_HOME / "home")
os.environ.pop("AGENTCTL_DATABASE_URL", None)
# Prefect reads its settings at import: point it at a temp home, offline, before anything imports it.
os.environ["PREFECT_HOME"] = str(_SESSION_HOME / "prefect")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ.pop("PREFECT_API_URL", None)
tune_servers_started_here()  # Prefect's test harness starts its server as `agentctl` would

pytest_plugins = ["tests.github_double.fixtures"]  # the GitHub REST double: fixture `github_double`

PG_ADMIN_URL = os.environ.get("AGENTCTL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def require(available: bool, what: str) -> None:
    """Skip (locally) or fail (under CI) when a service a test needs is missing."""
    if available:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what} is not available, and CI must not skip it", pytrace=False)
    pytest.skip(f"{what} is not available")


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    from agents_store.settings import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throw-away database on the real PostgreSQL server, for this test session."""
    import psycopg

    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError:
        require(False, f"PostgreSQL at {PG_ADMIN_URL}")
        raise
    name = f"agentctl_test_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect server (SQLite, under the session's PREFECT_HOME), once per session.

    It takes several seconds to start, so every test that needs Prefect shares it.
    """
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture(scope="session")
def chromium() -> str:
    from tasks.browser.session import BrowserUnavailable, find_chromium

    try:
        return find_chromium() or "playwright"
    except BrowserUnavailable:
        require(False, "Chromium")
        raise


@pytest.fixture(scope="session")
def site_server() -> Iterator[tuple[LocalSite, str]]:
    site = LocalSite()
    with serve_in_background(site.app) as url:
        yield site, url


@pytest.fixture
def site(site_server: tuple[LocalSite, str]) -> LocalSite:
    site_server[0].reset()
    return site_server[0]


@pytest.fixture
def base_url(site_server: tuple[LocalSite, str]) -> str:
    return site_server[1]


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[str]:
    """A real ``prefect server start`` (SQLite, its own home) for tests that run agentctl as users do.

    Yields its API URL; a test passes it to subprocesses as PREFECT_API_URL.
    """
    from deployments.server import running_server

    with running_server(_SESSION_HOME / "prefect-server", ui=True) as server:
        yield server.api_url
