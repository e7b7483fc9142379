from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from agents_store.backends.postgres import PostgresStore
from agents_store.backends.sqlite import SqliteStore

_TABLES = ("agent_runs", "agent_versions", "chunks", "agents")


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(f"sqlite:///{tmp_path / 'agents.db'}")
    yield store
    store.close()


@pytest.fixture(scope="session")
def _pg_store_session(postgres_url: str) -> Iterator[PostgresStore]:
    store = PostgresStore(postgres_url)
    yield store
    store.close()


@pytest.fixture
def pg_store(_pg_store_session: PostgresStore) -> PostgresStore:
    with _pg_store_session.engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {', '.join(_TABLES)} CASCADE"))
        conn.execute(sa.text("DELETE FROM users WHERE name <> 'local'"))
    return _pg_store_session
