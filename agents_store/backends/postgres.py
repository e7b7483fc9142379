"""PostgreSQL: a plain server or a Supabase project's database, by connection string (psycopg 3).

``pool_pre_ping`` replaces connections that died (a restarted server) before they are used, so a
short outage costs a reconnect rather than an error.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url

from agents_store.backends._sql import SqlAgentStore

__all__ = ["PostgresStore", "psycopg_url"]

_MIGRATION_LOCK_KEY = 0x6167_6374  # "agct": one advisory lock id for agentctl migrations


def psycopg_url(url: str) -> str:
    """The SQLAlchemy URL for psycopg 3 from any ``postgres://`` / ``postgresql://`` URL."""
    return re.sub(r"^postgres(?:ql)?(?:\+[a-z0-9]+)?://", "postgresql+psycopg://", url)


class PostgresStore(SqlAgentStore):
    migrations_folder = "postgres"

    def __init__(self, url: str) -> None:
        engine = sa.create_engine(
            psycopg_url(url),
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=10,
            connect_args={"connect_timeout": 10, "application_name": "agentctl"},
        )
        super().__init__(engine, display_url=make_url(psycopg_url(url)).render_as_string(hide_password=True))

    def _lock_for_migration(self, conn: Connection) -> None:
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})")

    def _run_script(self, conn: Connection, sql: str) -> None:
        # psycopg runs a multi-statement script in one call when it has no parameters.
        conn.connection.driver_connection.execute(sql)  # type: ignore[union-attr]
