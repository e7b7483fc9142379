"""SQLAlchemy Core tables mirroring the SQL migrations, for building queries (never ``create_all``).

The migrations own the schema; these objects only describe it to SQLAlchemy. A test checks that the
columns here are the columns the migrations create.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = [
    "agent_exports",
    "agent_runs",
    "agent_schedules",
    "agent_versions",
    "agents",
    "chunks",
    "metadata",
    "users",
]


class GUID(TypeDecorator[uuid.UUID]):
    """A UUID: native on PostgreSQL, canonical text elsewhere (so id prefixes compare as text)."""

    impl = sa.String(36)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects import postgresql

            return dialect.type_descriptor(postgresql.UUID(as_uuid=True))
        return dialect.type_descriptor(sa.String(36))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))

    def process_result_value(self, value: Any, dialect: Dialect) -> uuid.UUID | None:
        if value is None or isinstance(value, uuid.UUID):
            return value
        return uuid.UUID(value)


class UtcDateTime(TypeDecorator[datetime]):
    """A UTC-aware timestamp: ``timestamptz`` on PostgreSQL, fixed-width ISO text on SQLite."""

    impl = sa.String(32)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects import postgresql

            return dialect.type_descriptor(postgresql.TIMESTAMP(timezone=True))
        return dialect.type_descriptor(sa.String(32))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware UTC datetime")
        if dialect.name == "postgresql":
            return value
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.astimezone(UTC)
        return datetime.fromisoformat(value)


class JSON(TypeDecorator[Any]):
    """JSON: ``jsonb`` on PostgreSQL, text elsewhere (the PostgreSQL dialect loads only when used)."""

    impl = sa.JSON(none_as_null=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects import postgresql

            return dialect.type_descriptor(postgresql.JSONB(none_as_null=True))
        return dialect.type_descriptor(sa.JSON(none_as_null=True))


metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", GUID, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("email", sa.Text),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", GUID, primary_key=True),
    sa.Column("user_id", GUID, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("loom_url", sa.Text, nullable=False),
    sa.Column("github_repo_url", sa.Text),
    sa.Column("params", JSON, nullable=False),
    sa.Column("settings", JSON, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("last_run_at", UtcDateTime),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

chunks = sa.Table(
    "chunks",
    metadata,
    sa.Column("id", GUID, primary_key=True),
    sa.Column("agent_id", GUID, nullable=False),
    sa.Column("order", sa.Integer, nullable=False),
    sa.Column("name", sa.Text),
    sa.Column("start_time", sa.Text),
    sa.Column("end_time", sa.Text),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("retries", sa.Integer),
    sa.Column("learned_actions", JSON, nullable=False),
    sa.Column("error_details", JSON),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_run_id", GUID),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

agent_versions = sa.Table(
    "agent_versions",
    metadata,
    sa.Column("agent_id", GUID, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("snapshot", JSON, nullable=False),
    sa.Column("author", sa.Text),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

agent_runs = sa.Table(
    "agent_runs",
    metadata,
    sa.Column("flow_run_id", GUID, primary_key=True),
    sa.Column("agent_id", GUID, nullable=False),
    sa.Column("agent_version", sa.Integer, nullable=False),
    sa.Column("mode", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime),
    sa.Column("triggered_by", sa.Text),
    sa.Column("params", JSON, nullable=False),
    sa.Column("chunks", JSON),
    sa.Column("notes", JSON, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("host", sa.Text),
    sa.Column("pid", sa.Integer),
    sa.Column("awaiting", JSON),
    sa.Column("results", JSON),
)

agent_schedules = sa.Table(
    "agent_schedules",
    metadata,
    sa.Column("agent_id", GUID, primary_key=True),
    sa.Column("cron", sa.Text, nullable=False),
    sa.Column("timezone", sa.Text, nullable=False),
    sa.Column("mode", sa.Text, nullable=False),
    sa.Column("params", JSON, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

agent_exports = sa.Table(
    "agent_exports",
    metadata,
    sa.Column("id", GUID, primary_key=True),
    sa.Column("agent_id", GUID, nullable=False),
    sa.Column("agent_version", sa.Integer, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("repository", sa.Text, nullable=False),
    sa.Column("branch", sa.Text),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("commit_sha", sa.Text),
    sa.Column("tag", sa.Text),
    sa.Column("author", sa.Text),
    sa.Column("exported_at", UtcDateTime, nullable=False),
)
