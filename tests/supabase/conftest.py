"""A Supabase project for the tests: a throw-away database given what Supabase provides and the
unmodified migration of supabase/migrations/, behind the PostgREST test double, with signed keys.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import psycopg
import pytest

from agents_store.backends.supabase import SupabaseStore
from agents_store.settings import LOCAL_USER_ID
from cli.background_server import serve_in_background
from tests.conftest import PG_ADMIN_URL, require
from tests.supabase.postgrest_double import PostgrestDouble

REPO = Path(__file__).parents[2]
SUPABASE_MIGRATIONS = sorted((REPO / "supabase" / "migrations").glob("*.sql"))
POSTGRES_MIGRATIONS = REPO / "agents_store" / "migrations" / "postgres"
PLATFORM = POSTGRES_MIGRATIONS / "00000000000000_supabase_platform.sql"
JWT_SECRET = "agentctl-test-jwt-secret-of-at-least-32-bytes"


def token(
    role: str, sub: uuid.UUID | None = None, *, secret: str = JWT_SECRET, expires_in: int = 3600
) -> str:
    """A JWT as Supabase issues them: API keys carry a role, users' access tokens a sub too."""
    claims: dict[str, Any] = {"role": role, "iss": "supabase", "iat": int(time.time())}
    claims["exp"] = claims["iat"] + expires_in
    if sub is not None:
        claims.update(sub=str(sub), aud="authenticated", email=f"{sub.hex[:6]}@example.test")
    return jwt.encode(claims, secret, algorithm="HS256")


@dataclass
class Project:
    url: str
    database_url: str
    double: PostgrestDouble


@pytest.fixture(scope="session")
def make_database() -> Iterator[Callable[[], str]]:
    """Create throw-away databases on the real PostgreSQL; all are dropped at the end."""
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError:
        require(False, f"PostgreSQL at {PG_ADMIN_URL}")
        raise
    names: list[str] = []

    def create() -> str:
        name = f"agentctl_supabase_{uuid.uuid4().hex[:10]}"
        admin.execute(f'CREATE DATABASE "{name}"')
        names.append(name)
        return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"

    yield create
    for name in names:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def apply(database_url: str, *files: Path) -> None:
    """Run SQL files as they are, each in one transaction (as `supabase db push` does)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for path in files:
            with conn.transaction():
                conn.execute(path.read_text("utf-8"))


@pytest.fixture(scope="session")
def supabase_db(make_database: Callable[[], str]) -> str:
    url = make_database()
    apply(url, PLATFORM, *SUPABASE_MIGRATIONS)
    return url


@pytest.fixture(scope="session")
def project(supabase_db: str) -> Iterator[Project]:
    double = PostgrestDouble(supabase_db, JWT_SECRET)
    with serve_in_background(double.app) as url:
        yield Project(url=url, database_url=supabase_db, double=double)
    double.close()


@pytest.fixture
def db(project: Project) -> Iterator[psycopg.Connection[Any]]:
    """A superuser connection to the project's database, emptied of agents and of users but the local one."""
    with psycopg.connect(project.database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE public.agents CASCADE")
        conn.execute("DELETE FROM auth.users WHERE id <> %s", [LOCAL_USER_ID])
        yield conn


def add_user(conn: psycopg.Connection[Any], name: str) -> uuid.UUID:
    """A user as Supabase Auth would have created them (auth.users only)."""
    user_id = uuid.uuid4()
    conn.execute("INSERT INTO auth.users (id, email) VALUES (%s, %s)", [user_id, f"{name}@example.test"])
    return user_id


@pytest.fixture(scope="session")
def _service_store(project: Project) -> Iterator[SupabaseStore]:
    store = SupabaseStore(project.url, token("service_role"))
    yield store
    store.close()


@pytest.fixture
def service_store(_service_store: SupabaseStore, db: psycopg.Connection[Any]) -> SupabaseStore:
    """The store as a trusted worker opens it: the service role key, which bypasses row-level security."""
    return _service_store


@pytest.fixture
def on_supabase(project: Project, db: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch) -> Project:
    """The environment of a trusted worker: the project URL and its service role key."""
    monkeypatch.setenv("SUPABASE_URL", project.url)
    monkeypatch.setenv("SUPABASE_KEY", token("service_role"))
    return project


# The CLI tests' runner: `agentctl ARGS…` through the real entry point, in this process.
from tests.cli.conftest import agentctl  # noqa: E402, F401 - a fixture, shared with tests/cli
