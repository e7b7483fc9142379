"""The PostgreSQL store's connection pool: idle connections are pinged, busy ones are not, and a list
page read on a connection that died is retried once (what ``pool_pre_ping`` gave, without a ping
round trip on every checkout under load)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa

from agents_store.backends import postgres
from agents_store.backends.postgres import PostgresStore
from agents_store.errors import StoreUnavailable
from agents_store.store import AgentQuery
from tests.factories import definition

pytestmark = pytest.mark.postgres


@pytest.fixture
def store(postgres_url: str) -> Iterator[PostgresStore]:
    opened = PostgresStore(postgres_url)
    with opened.engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE agents CASCADE"))  # the database is the test session's
    opened.create(definition("Pooled", chunks=1))
    yield opened
    opened.close()


def _pooled_backend(store: PostgresStore) -> int:
    """The server process of the (only) pooled connection, which goes back to the pool."""
    with store.engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    return int(pid)


def _kill(postgres_url: str, pid: int) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_an_idle_connection_that_died_is_replaced_before_use(
    store: PostgresStore, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres, "_PING_AFTER_IDLE_S", 0.0)  # every pooled connection counts as idle
    agent_id = store.list_agents().items[0].id
    dead = _pooled_backend(store)
    _kill(postgres_url, dead)
    assert store.get(agent_id).name == "Pooled"  # a read that is not retried: the ping saved it
    assert _pooled_backend(store) != dead


def test_a_busy_connection_is_not_pinged_and_a_list_page_is_read_again_when_it_died(
    store: PostgresStore, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres, "_PING_AFTER_IDLE_S", 3600.0)  # never idle long enough to ping
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", seen)
    store.list_agents()
    store.list_agents()
    assert len(statements) == 2, "one statement per list page, no ping"

    _kill(postgres_url, _pooled_backend(store))
    assert [a.name for a in store.list_agents(AgentQuery(text="pool")).items] == ["Pooled"]

    _kill(postgres_url, _pooled_backend(store))
    with pytest.raises(StoreUnavailable):  # other reads are not repeated behind the caller's back
        store.list_runs()
