"""PostgreSQL: a plain server or a Supabase project's database, by connection string (psycopg 3).

Both get the same schema: ``migrations/postgres/`` holds a platform migration that creates, only when
missing, what Supabase provides (``auth.users``, ``auth.uid()``, the API roles), then the very file
``supabase db push`` applies (``supabase/migrations/``). On a Supabase database where the CLI already
applied it, the store records it as applied instead of running it twice.

A pooled connection that sat idle for a while is pinged before it is used, and replaced when it died
(a restarted server), so a short outage costs a reconnect rather than an error. One used within the
last second is not: SQLAlchemy's ``pool_pre_ping`` pings on every checkout, a second round trip on
every dashboard list page under load (see ``_ping_when_idle``).
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url

from agents_store.backends._sql import SqlAgentStore
from agents_store.migrations import Migration

__all__ = ["TRANSACTION_POOLER_PORT", "PostgresStore", "connect_args_for", "psycopg_url"]

_PING_AFTER_IDLE_S = 1.0
"""A connection checked in longer ago than this is pinged before it is used again."""
_POOL_SIZE = 20
"""Connections kept open for reuse: the dashboard serves up to its thread pool's requests at once, and
a connection beyond the pool ("overflow") is closed on return, so each burst past it paid a new
PostgreSQL connection (a backend process) per request. A CLI process still opens only what it uses."""

_MIGRATION_LOCK_KEY = 0x6167_6374  # "agct": one advisory lock id for agentctl migrations

TRANSACTION_POOLER_PORT = 6543
"""The port of Supabase's pooler (Supavisor) in transaction mode."""


def psycopg_url(url: str) -> str:
    """The SQLAlchemy URL for psycopg 3 from any ``postgres://`` / ``postgresql://`` URL."""
    return re.sub(r"^postgres(?:ql)?(?:\+[a-z0-9]+)?://", "postgresql+psycopg://", url)


def connect_args_for(url: str) -> dict[str, Any]:
    """psycopg's connection options for ``url``.

    A transaction-mode pooler hands each transaction to whichever server connection is free, where
    the statements psycopg prepared on another one do not exist ("prepared statement ... does not
    exist"): on its port, psycopg must not prepare statements at all.
    """
    args: dict[str, Any] = {"connect_timeout": 10, "application_name": "agentctl"}
    if make_url(psycopg_url(url)).port == TRANSACTION_POOLER_PORT:
        args["prepare_threshold"] = None
    return args


class PostgresStore(SqlAgentStore):
    migrations_folder = "postgres"

    def __init__(self, url: str) -> None:
        engine = sa.create_engine(
            psycopg_url(url),
            pool_size=_POOL_SIZE,
            max_overflow=10,
            connect_args=connect_args_for(url),
        )
        _ping_when_idle(engine)
        if make_url(psycopg_url(url)).port != TRANSACTION_POOLER_PORT:
            _tell_the_planner_data_is_near(engine)
        super().__init__(engine, display_url=make_url(psycopg_url(url)).render_as_string(hide_password=True))

    def _lock_for_migration(self, conn: Connection) -> None:
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})")

    def _run_script(self, conn: Connection, sql: str) -> None:
        # psycopg runs a multi-statement script in one call when it has no parameters.
        conn.connection.driver_connection.execute(sql)  # type: ignore[union-attr]

    def _create_migrations_table(self, conn: Connection) -> None:
        super()._create_migrations_table(conn)
        # On Supabase every table in `public` is reachable through the Data API; with row-level
        # security on and no policy, only the service role and this owner can read or write it.
        conn.exec_driver_sql(
            "DO $$ BEGIN "
            "IF NOT (SELECT relrowsecurity FROM pg_class WHERE oid = 'agentctl_migrations'::regclass) THEN "
            "ALTER TABLE agentctl_migrations ENABLE ROW LEVEL SECURITY; "
            "END IF; END $$"
        )

    def _applied_outside_agentctl(self, conn: Connection, migration: Migration) -> bool:
        """Whether ``supabase db push`` applied the migration (it records the name's timestamp)."""
        if (
            conn.exec_driver_sql("SELECT to_regclass('supabase_migrations.schema_migrations')").scalar()
            is None
        ):
            return False
        version = migration.version.split("_", 1)[0]
        found = conn.execute(
            sa.text("SELECT 1 FROM supabase_migrations.schema_migrations WHERE version = :version"),
            {"version": version},
        )
        return found.first() is not None

    def ensure_user(self, user_id: uuid.UUID, name: str, email: str | None = None) -> None:
        # The migration's function: the auth.users row agents.user_id refers to, then the profile.
        with self._write() as conn:
            conn.execute(
                sa.text("SELECT public.agentctl_ensure_user(:id, :name, CAST(:email AS text))"),
                {"id": user_id, "name": name, "email": email},
            )

    def _refresh_status(self, conn: Connection, agent_id: uuid.UUID) -> None:
        """Nothing to do: the migration's chunks_status_* triggers derive ``agents.status``."""


def _tell_the_planner_data_is_near(engine: sa.Engine) -> None:
    """Our connections price a random page read at 1.1, not PostgreSQL's 4 (a spinning disk's).

    With 4, at 100,000 agents the planner read every agent for a text search (82 ms) rather than
    its trigram index (19 ms); 1.1 is the usual setting for SSDs and cached tables (many managed
    PostgreSQL services default to it). Set per connection, for our sessions only; never
    through a transaction-mode pooler, which would hand the setting to other clients' transactions.
    """

    @sa.event.listens_for(engine, "connect")
    def configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("SET random_page_cost = 1.1")
        dbapi_connection.commit()


def _ping_when_idle(engine: sa.Engine) -> None:
    """Ping a pooled connection on checkout only when it was idle longer than ``_PING_AFTER_IDLE_S``.

    A dead connection is then replaced by the pool (``DisconnectionError``) before the caller sees
    it. A connection that dies while in steady use fails its statement instead; SQLAlchemy then
    invalidates the whole pool, and a list page (one idempotent read) is read again once.
    """

    @sa.event.listens_for(engine.pool, "checkin")
    def checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["agentctl_idle_since"] = time.monotonic()

    @sa.event.listens_for(engine.pool, "checkout")
    def checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("agentctl_idle_since")
        if idle_since is None or time.monotonic() - idle_since <= _PING_AFTER_IDLE_S:
            return  # new, or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)  # what pool_pre_ping runs (outside a transaction)
        except Exception as e:  # any failure means the connection is unusable
            raise sa.exc.DisconnectionError(f"pooled connection is gone: {e}") from e
