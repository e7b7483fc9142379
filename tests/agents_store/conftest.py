from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from agents_store.backends.postgres import PostgresStore
from agents_store.backends.sqlite import SqliteStore
from agents_store.settings import LOCAL_USER_ID


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
        # CASCADE empties every table that refers to agents: chunks, versions, runs, schedules, exports.
        conn.execute(sa.text("TRUNCATE agents CASCADE"))
        # Deleting a user from auth.users deletes their profile too (ON DELETE CASCADE).
        conn.execute(sa.text("DELETE FROM auth.users WHERE id <> :local"), {"local": LOCAL_USER_ID})
    return _pg_store_session
