"""The zero-setup default: one SQLite file under ``$AGENTCTL_HOME``.

WAL journaling lets readers (a dashboard, ``agentctl list``) work while a run writes statuses;
writes open with ``BEGIN IMMEDIATE`` so two writers queue on the lock instead of failing midway.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.pool import StaticPool

from agents_store.backends._sql import SqlAgentStore
from agents_store.errors import ConfigError

__all__ = ["SqliteStore"]

_BUSY_TIMEOUT_MS = 30_000


class SqliteStore(SqlAgentStore):
    migrations_folder = "sqlite"

    def __init__(self, url: str) -> None:
        path = _path_of(url)
        if path is None:
            engine = sa.create_engine("sqlite://", poolclass=StaticPool)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000})
        sa.event.listen(engine, "connect", _on_connect)
        sa.event.listen(engine, "begin", _on_begin)
        # Every in-memory database is a store of its own.
        self._location = f"sqlite:///{path}" if path else f"sqlite://#memory-{uuid.uuid4()}"
        super().__init__(engine, display_url=f"sqlite:///{path}" if path else "sqlite://")

    @property
    def location(self) -> str:
        return self._location

    def _run_script(self, conn: Connection, sql: str) -> None:
        # executescript() would commit the open transaction; run statement by statement instead.
        statement = ""
        for line in sql.splitlines(keepends=True):
            statement += line
            if sqlite3.complete_statement(statement):
                conn.exec_driver_sql(statement)
                statement = ""
        if statement.strip() and not all(
            part.strip().startswith("--") or not part.strip() for part in statement.splitlines()
        ):
            raise ValueError(f"incomplete SQL statement at the end of a migration: {statement[:80]!r}")


def _path_of(url: str) -> Path | None:
    if url in ("sqlite://", "sqlite:///:memory:"):
        return None
    if not url.startswith("sqlite:///"):
        raise ConfigError(f"{url!r} is not a SQLite URL (sqlite:///path/to/file.db)", field="database_url")
    # Absolute, so that the same URL typed in two folders is not taken for one store.
    return Path(url.removeprefix("sqlite:///")).expanduser().resolve()


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control from the sqlite3 module, so that BEGIN is ours (see _on_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    cursor.close()
    # SQLite's own lower() folds ASCII only: a filter or a name typed "ümläut" did not find
    # "Ümläut" (PostgreSQL's does). The list's sort index holds lower(name): it is built with this
    # one too (migration 0006 rebuilt it), so sorting, lookups by name and ILIKE filters agree.
    dbapi_connection.create_function("lower", 1, _lower, deterministic=True)


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _on_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get("agentctl_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
