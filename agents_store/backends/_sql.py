"""The store on a SQL database through SQLAlchemy Core; SQLite and PostgreSQL subclass it.

Every write is one transaction. A save updates the agent row first with a version check
(``WHERE version = :expected``), so concurrent writers serialise on that row and exactly one wins;
chunks are then replaced and the version snapshotted before the commit.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import sqlalchemy as sa
from pydantic import TypeAdapter
from sqlalchemy.engine import Connection, Engine

from agents_store.backends._rows import (
    agent_columns,
    agent_from_rows,
    by_id_then_name,
    chunk_columns,
    stamped,
)
from agents_store.backends._tables import (
    agent_exports,
    agent_runs,
    agent_schedules,
    agent_versions,
    agents,
    chunks,
    users,
)
from agents_store.documents import definition_to_dict
from agents_store.errors import (
    AgentNotFound,
    SchemaError,
    StoreError,
    StoreUnavailable,
    VersionConflict,
    VersionNotFound,
)
from agents_store.migrations import Migration, migrations_for
from agents_store.models import (
    AGENT_STATUS_RULES,
    Agent,
    AgentDefinition,
    AgentStatus,
    AgentSummary,
    ChunkStatus,
)
from agents_store.settings import LOCAL_USER_ID
from agents_store.store import (
    MAX_OFFSET,
    UNSET,
    AgentPage,
    AgentQuery,
    AgentStore,
    ExportRecord,
    RunRecord,
    RunStatus,
    Schedule,
    StuckChunk,
    VersionInfo,
    _Unset,
)

__all__ = ["SqlAgentStore"]

_MIGRATIONS_TABLE = "agentctl_migrations"
_HEX = re.compile(r"^[0-9a-f]{1,32}$")


def _now() -> datetime:
    return datetime.now(UTC)


def _status_expression() -> sa.ColumnElement[str]:
    """``AGENT_STATUS_RULES`` as one SQL CASE over an agent's chunks (aggregate)."""
    total = sa.func.count()
    whens: list[tuple[sa.ColumnElement[bool], str]] = [(total == 0, AgentStatus.NOT_STARTED.value)]
    for result, quantifier, members in AGENT_STATUS_RULES:
        # Equalities, not IN: an IN list is expanded again at every execution, and this runs at
        # every chunk status write.
        member = sa.or_(*(chunks.c.status == m.value for m in members))
        hits = sa.func.sum(sa.case((member, 1), else_=0))
        whens.append(((hits > 0) if quantifier == "any" else (hits == total), result.value))
    return sa.case(*whens, else_=AgentStatus.INCOMPLETE.value)


_STATUS_OF_AGENT = _status_expression()


def _refresh_status_statement() -> sa.Update:
    """The agent's status derived again from its chunks' (``AGENT_STATUS_RULES``)."""
    agent_id = sa.bindparam("refreshed_agent_id", type_=agents.c.id.type)
    derived = sa.select(_STATUS_OF_AGENT).where(chunks.c.agent_id == agent_id).scalar_subquery()
    return sa.update(agents).where(agents.c.id == agent_id).values(status=derived)


_REFRESH_STATUS = _refresh_status_statement()


@functools.cache
def _chunk_status_statement(columns: frozenset[str]) -> sa.Update:
    """The UPDATE of a chunk's status and the given columns, built once per set of columns.

    A run writes a chunk's status twice per chunk; building the statement for each write and
    deriving its cache key cost SQLAlchemy ten times what SQLite spends running it (1.3 ms of CPU
    a write, on the thread that shares the GIL with the run's event loop). A run's write (one
    that names ``last_run_id``) matches the chunk only while that run holds it.
    """
    statement = sa.update(chunks).where(
        chunks.c.id == sa.bindparam("updated_chunk_id", type_=chunks.c.id.type)
    )
    if "last_run_id" in columns:
        writer = sa.bindparam("new_last_run_id", type_=chunks.c.last_run_id.type)
        statement = statement.where(chunks.c.last_run_id == writer)
    return statement.values(
        {name: sa.bindparam(f"new_{name}", type_=chunks.c[name].type) for name in sorted(columns)}
    ).returning(chunks.c.agent_id)


_SUMMARIES: TypeAdapter[list[AgentSummary]] = TypeAdapter(list[AgentSummary])


class SqlAgentStore(AgentStore):
    """``AgentStore`` on SQLAlchemy Core. Subclasses give the engine and the migration folder."""

    migrations_folder: ClassVar[str]

    def __init__(self, engine: Engine, *, display_url: str) -> None:
        self._engine = engine
        self._display_url = display_url
        self._migrate()
        self.ensure_user(LOCAL_USER_ID, "local")

    # ------------------------------------------------------------------ plumbing

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def location(self) -> str:
        return self._display_url

    def _lock_for_migration(self, conn: Connection) -> None:
        """Hold a lock so that two processes opening a new database do not both migrate it."""

    def _run_script(self, conn: Connection, sql: str) -> None:
        raise NotImplementedError

    def _create_migrations_table(self, conn: Connection) -> None:
        """Create the table that records applied migrations, if missing."""
        conn.exec_driver_sql(
            f"CREATE TABLE IF NOT EXISTS {_MIGRATIONS_TABLE} "
            "(version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )

    def _applied_outside_agentctl(self, conn: Connection, migration: Migration) -> bool:
        """Whether another tool already applied ``migration`` here; it is then recorded, not run."""
        return False

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Translate database errors into the store's own, keeping the cause."""
        try:
            yield
        except sa.exc.IntegrityError as e:
            raise StoreError(f"the database refused the write: {_first_line(e.orig)}") from e
        except sa.exc.DBAPIError as e:
            if e.connection_invalidated or isinstance(e, sa.exc.OperationalError):
                raise StoreUnavailable(
                    f"cannot use the database at {self._display_url}: {_first_line(e.orig)}"
                ) from e
            raise StoreError(f"database error: {_first_line(e.orig)}") from e

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._errors(), self._engine.connect() as conn:
            yield conn

    @contextmanager
    def _read_one_statement(self) -> Iterator[Connection]:
        """A connection without a transaction, for a read that is a single statement.

        One statement sees one snapshot anyway; without BEGIN and ROLLBACK it costs one round trip
        to the database instead of three, which is most of the time of a list page on PostgreSQL.
        """
        with self._errors(), self._engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._errors(), self._engine.connect() as conn:
            conn.execution_options(agentctl_write=True)
            with conn.begin():
                yield conn

    def _applied_versions(self) -> set[str] | None:
        """The applied migrations, read without taking a lock; None when there is no table yet."""
        with self._read() as conn:
            if not sa.inspect(conn).has_table(_MIGRATIONS_TABLE):
                return None
            rows = conn.exec_driver_sql(f"SELECT version FROM {_MIGRATIONS_TABLE}")  # noqa: S608 - a constant
            return {row[0] for row in rows}

    def _migrate(self) -> None:
        known = migrations_for(self.migrations_folder)
        already = self._applied_versions()
        if already is not None and already == {m.version for m in known}:
            return  # up to date: the common case costs one read, no write lock
        with self._write() as conn:
            self._lock_for_migration(conn)
            self._create_migrations_table(conn)
            applied = {
                row[0]
                for row in conn.exec_driver_sql(f"SELECT version FROM {_MIGRATIONS_TABLE}")  # noqa: S608 - a constant
            }
            unknown = applied - {m.version for m in known}
            if unknown:
                raise SchemaError(
                    f"the database at {self._display_url} has schema {max(unknown)}, newer than this "
                    "agentctl knows; upgrade agentctl"
                )
            for migration in known:
                if migration.version in applied:
                    continue
                if not self._applied_outside_agentctl(conn, migration):
                    self._run_script(conn, migration.sql)
                conn.execute(
                    sa.text(f"INSERT INTO {_MIGRATIONS_TABLE} (version, applied_at) VALUES (:v, :t)"),  # noqa: S608
                    {"v": migration.version, "t": _now().isoformat()},
                )

    def close(self) -> None:
        self._engine.dispose()

    # ------------------------------------------------------------------ users

    def ensure_user(self, user_id: uuid.UUID, name: str, email: str | None = None) -> None:
        with self._read() as conn:
            exists = conn.execute(sa.select(users.c.id).where(users.c.id == user_id)).first()
        if exists:
            return
        with self._write() as conn:
            if conn.execute(sa.select(users.c.id).where(users.c.id == user_id)).first() is None:
                conn.execute(sa.insert(users).values(id=user_id, name=name, email=email, created_at=_now()))

    # ------------------------------------------------------------------ agents

    def create(
        self, definition: AgentDefinition, *, user_id: uuid.UUID | None = None, author: str | None = None
    ) -> Agent:
        owner = user_id or LOCAL_USER_ID
        agent = Agent.from_definition(definition, user_id=owner)
        now = _now()
        with self._write() as conn:
            conn.execute(
                sa.insert(agents).values(
                    id=agent.id,
                    user_id=owner,
                    **agent_columns(agent),
                    status=agent.status.value,
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
            )
            self._insert_chunks(conn, agent, now)
            self._snapshot(conn, agent, 1, author, now)
        return stamped(agent, version=1, created_at=now, updated_at=now)

    def save(
        self,
        agent: Agent,
        *,
        expected_version: int | _Unset | None = UNSET,
        author: str | None = None,
    ) -> Agent:
        expected = agent.version if isinstance(expected_version, _Unset) else expected_version
        now = _now()
        with self._write() as conn:
            condition = agents.c.id == agent.id
            if expected is not None:
                condition = condition & (agents.c.version == expected)
            row = conn.execute(
                sa.update(agents)
                .where(condition)
                .values(
                    **agent_columns(agent),
                    status=agent.status.value,
                    version=agents.c.version + 1,
                    updated_at=now,
                )
                .returning(agents.c.version, agents.c.created_at)
            ).first()
            if row is None:
                current = conn.execute(
                    sa.select(agents.c.version).where(agents.c.id == agent.id)
                ).scalar_one_or_none()
                if current is None:
                    raise AgentNotFound(f"no agent {agent.id}")
                raise VersionConflict(str(agent.id), expected or 0, current)
            version, created_at = row
            conn.execute(sa.delete(chunks).where(chunks.c.agent_id == agent.id))
            self._insert_chunks(conn, agent, now)
            self._snapshot(conn, agent, version, author, now)
        return stamped(agent, version=version, created_at=created_at, updated_at=now)

    def _insert_chunks(self, conn: Connection, agent: Agent, now: datetime) -> None:
        if not agent.chunks:
            return
        # RETURNING makes SQLAlchemy batch the rows into multi-row INSERTs ("insertmanyvalues"):
        # one statement per batch instead of one per chunk, so one round trip and one run of
        # PostgreSQL's per-statement status trigger.
        conn.execute(
            sa.insert(chunks).returning(chunks.c.id),
            [
                {**chunk_columns(c), "agent_id": agent.id, "created_at": now, "updated_at": now}
                for c in agent.chunks
            ],
        ).all()

    def _snapshot(
        self, conn: Connection, agent: Agent, version: int, author: str | None, now: datetime
    ) -> None:
        conn.execute(
            sa.insert(agent_versions).values(
                agent_id=agent.id,
                version=version,
                snapshot=definition_to_dict(agent),  # an Agent is a definition: no copy to build
                author=author,
                created_at=now,
            )
        )

    def get(self, agent_id: uuid.UUID, *, user_id: uuid.UUID | None = None) -> Agent:
        with self._read() as conn:
            query = sa.select(agents).where(agents.c.id == agent_id)
            if user_id is not None:
                query = query.where(agents.c.user_id == user_id)
            row = conn.execute(query).mappings().first()
            if row is None:
                raise AgentNotFound(f"no agent {agent_id}")
            chunk_rows = conn.execute(
                sa.select(chunks).where(chunks.c.agent_id == agent_id).order_by(chunks.c.order)
            ).mappings()
            return agent_from_rows(row, list(chunk_rows))

    def list_agents(self, query: AgentQuery | None = None) -> AgentPage:
        query = query or AgentQuery()
        if query.matches_nothing:
            return query.empty_page()
        postgres = self._engine.dialect.name == "postgresql"
        listed, count = _list_statements(
            by_user=query.user_id is not None,
            by_status=query.status is not None,
            by_text=_text_match(query.text, postgres=postgres),
            sort=query.sort,
            descending=query.descending,
        )
        params = _list_params(query)
        for attempt in (1, 2):
            try:
                with self._read_one_statement() as conn:
                    result = conn.execute(listed, params)
                    names = list(result.keys())
                    rows = [dict(zip(names, row, strict=True)) for row in result]
                    total = rows[0]["total"] if rows else conn.execute(count, params).scalar_one()
                break
            except StoreUnavailable as e:
                # A read is safe to repeat: a pooled connection that died (a restarted server) fails
                # once, SQLAlchemy drops the pool's other connections, and the retry gets a new one.
                if attempt == 2 or not _connection_lost(e):
                    raise
        # Validated as before (the rows' types are the database's), in one call for the page and
        # from plain dicts: validating a RowMapping per row took pydantic's slow Mapping path.
        items = _SUMMARIES.validate_python(rows)
        return AgentPage.model_construct(items=items, total=total, limit=query.limit, offset=query.offset)

    def find_ids(self, ref: str, *, user_id: uuid.UUID | None = None, limit: int = 6) -> list[uuid.UUID]:
        owner = [agents.c.user_id == user_id] if user_id is not None else []
        hex_ref = ref.replace("-", "").lower()
        found: list[uuid.UUID] = []
        with self._read() as conn:
            if _HEX.match(hex_ref):
                low = uuid.UUID(hex_ref.ljust(32, "0"))
                high = uuid.UUID(hex_ref.ljust(32, "f"))
                found = list(
                    conn.execute(
                        sa.select(agents.c.id)
                        .where(agents.c.id >= low, agents.c.id <= high, *owner)
                        .order_by(agents.c.id)
                        .limit(limit)
                    ).scalars()
                )
                if len(hex_ref) == 32:
                    return found
            named = conn.execute(
                sa.select(agents.c.id)
                .where(sa.func.lower(agents.c.name) == ref.lower(), *owner)
                .order_by(agents.c.created_at)
                .limit(limit)
            ).scalars()
        return by_id_then_name(found, named, limit)

    def delete(self, agent_id: uuid.UUID, *, user_id: uuid.UUID | None = None) -> None:
        with self._write() as conn:
            condition = agents.c.id == agent_id
            if user_id is not None:
                condition = condition & (agents.c.user_id == user_id)
            # Children first: SQLite enforces ON DELETE CASCADE only with foreign_keys on, and
            # explicit deletes keep the operation correct whatever the connection's pragmas.
            if conn.execute(sa.select(agents.c.id).where(condition)).first() is None:
                raise AgentNotFound(f"no agent {agent_id}")
            for table in (chunks, agent_versions, agent_runs, agent_schedules, agent_exports):
                conn.execute(sa.delete(table).where(table.c.agent_id == agent_id))
            conn.execute(sa.delete(agents).where(agents.c.id == agent_id))

    # ------------------------------------------------------------------ run state

    def update_chunk_status(
        self,
        chunk_id: uuid.UUID,
        status: ChunkStatus,
        *,
        error_details: dict[str, Any] | _Unset | None = UNSET,
        attempts: int | None = None,
        run_id: uuid.UUID | None = None,
    ) -> bool:
        values: dict[str, Any] = {"status": ChunkStatus(status).value, "updated_at": _now()}
        if not isinstance(error_details, _Unset):
            values["error_details"] = error_details
        if attempts is not None:
            values["attempts"] = attempts
        if run_id is not None:
            values["last_run_id"] = run_id
        statement = _chunk_status_statement(frozenset(values))
        parameters = {f"new_{name}": value for name, value in values.items()}
        parameters["updated_chunk_id"] = chunk_id
        with self._write() as conn:
            agent_id = conn.execute(statement, parameters).scalar_one_or_none()
            if agent_id is None:
                exists = conn.execute(sa.select(chunks.c.id).where(chunks.c.id == chunk_id)).first()
                if exists is None:
                    raise AgentNotFound(f"no chunk {chunk_id}")
                return False  # the run no longer holds it
            self._refresh_status(conn, agent_id)
            return True

    def reset_chunks(self, chunk_ids: list[uuid.UUID], *, run_id: uuid.UUID | None = None) -> None:
        if not chunk_ids:
            return
        claim = {} if run_id is None else {"last_run_id": run_id}
        with self._write() as conn:
            touched = list(
                conn.execute(
                    sa.update(chunks)
                    .where(chunks.c.id.in_(chunk_ids))
                    .values(
                        status=sa.case(
                            (chunks.c.status == ChunkStatus.NEEDS_REVIEW.value, chunks.c.status),
                            else_=ChunkStatus.NOT_STARTED.value,
                        ),
                        error_details=None,
                        attempts=0,
                        updated_at=_now(),
                        **claim,
                    )
                    .returning(chunks.c.agent_id)
                ).scalars()
            )
            if len(touched) != len(set(chunk_ids)):
                raise AgentNotFound(
                    f"{len(set(chunk_ids)) - len(touched)} of the chunks to reset do not exist"
                )
            for agent_id in set(touched):
                self._refresh_status(conn, agent_id)

    def stuck_chunks(self, run_id: uuid.UUID | None = None) -> list[StuckChunk]:
        busy = [ChunkStatus.RUNNING.value, ChunkStatus.AWAITING_APPROVAL.value]
        query = sa.select(
            chunks.c.agent_id,
            chunks.c.id.label("chunk_id"),
            chunks.c.order,
            chunks.c.name,
            chunks.c.status,
            chunks.c.last_run_id,
        ).where(chunks.c.status.in_(busy))
        if run_id is not None:
            query = query.where(chunks.c.last_run_id == run_id)
        with self._read() as conn:
            return [StuckChunk.model_validate(dict(r)) for r in conn.execute(query).mappings()]

    def _refresh_status(self, conn: Connection, agent_id: uuid.UUID) -> None:
        conn.execute(_REFRESH_STATUS, {"refreshed_agent_id": agent_id})

    def record_run(self, run: RunRecord) -> None:
        values = run.model_dump(mode="python")
        values["status"] = run.status.value
        values["params"] = run.params
        values["results"] = run.model_dump(mode="json", include={"results"})["results"]
        with self._write() as conn:
            exists = conn.execute(sa.select(agents.c.id).where(agents.c.id == run.agent_id)).first()
            if exists is None:
                raise AgentNotFound(f"no agent {run.agent_id}")
            updated = conn.execute(
                sa.update(agent_runs).where(agent_runs.c.flow_run_id == run.flow_run_id).values(**values)
            )
            if updated.rowcount == 0:
                conn.execute(sa.insert(agent_runs).values(**values))
                conn.execute(
                    sa.update(agents).where(agents.c.id == run.agent_id).values(last_run_at=run.started_at)
                )

    def list_runs(
        self, agent_id: uuid.UUID | None = None, *, limit: int = 20, status: RunStatus | None = None
    ) -> list[RunRecord]:
        query = sa.select(agent_runs).order_by(agent_runs.c.started_at.desc()).limit(limit)
        if agent_id is not None:
            query = query.where(agent_runs.c.agent_id == agent_id)
        if status is not None:
            query = query.where(agent_runs.c.status == status.value)
        with self._read() as conn:
            return [RunRecord.model_validate(dict(r)) for r in conn.execute(query).mappings()]

    def get_run(self, flow_run_id: uuid.UUID) -> RunRecord:
        with self._read() as conn:
            row = (
                conn.execute(sa.select(agent_runs).where(agent_runs.c.flow_run_id == flow_run_id))
                .mappings()
                .first()
            )
        if row is None:
            raise AgentNotFound(f"no run {flow_run_id}")
        return RunRecord.model_validate(dict(row))

    # ------------------------------------------------------------------ schedules and exports

    def _require_agent(self, conn: Connection, agent_id: uuid.UUID) -> None:
        if conn.execute(sa.select(agents.c.id).where(agents.c.id == agent_id)).first() is None:
            raise AgentNotFound(f"no agent {agent_id}")

    def set_schedule(self, schedule: Schedule) -> Schedule:
        saved = schedule.model_copy(update={"updated_at": _now()})
        values = saved.model_dump()
        with self._write() as conn:
            self._require_agent(conn, schedule.agent_id)
            conn.execute(sa.delete(agent_schedules).where(agent_schedules.c.agent_id == schedule.agent_id))
            conn.execute(sa.insert(agent_schedules).values(**values))
        return saved

    def delete_schedule(self, agent_id: uuid.UUID) -> bool:
        with self._write() as conn:
            result = conn.execute(sa.delete(agent_schedules).where(agent_schedules.c.agent_id == agent_id))
        return bool(result.rowcount)

    def list_schedules(self, agent_id: uuid.UUID | None = None) -> list[Schedule]:
        query = sa.select(agent_schedules).order_by(agent_schedules.c.agent_id)
        if agent_id is not None:
            query = query.where(agent_schedules.c.agent_id == agent_id)
        with self._read() as conn:
            return [Schedule.model_validate(dict(r)) for r in conn.execute(query).mappings()]

    def record_export(self, export: ExportRecord) -> None:
        with self._write() as conn:
            self._require_agent(conn, export.agent_id)
            conn.execute(sa.insert(agent_exports).values(**export.model_dump()))

    def list_exports(self, agent_id: uuid.UUID) -> list[ExportRecord]:
        query = (
            sa.select(agent_exports)
            .where(agent_exports.c.agent_id == agent_id)
            .order_by(agent_exports.c.exported_at.desc())
        )
        with self._read() as conn:
            return [ExportRecord.model_validate(dict(r)) for r in conn.execute(query).mappings()]

    def exports_at(self, repository: str, path: str) -> list[ExportRecord]:
        query = (
            sa.select(agent_exports)
            .where(agent_exports.c.repository == repository, agent_exports.c.path == path)
            .order_by(agent_exports.c.exported_at.desc())
        )
        with self._read() as conn:
            return [ExportRecord.model_validate(dict(r)) for r in conn.execute(query).mappings()]

    # ------------------------------------------------------------------ versions

    def list_versions(self, agent_id: uuid.UUID) -> list[VersionInfo]:
        with self._read() as conn:
            if conn.execute(sa.select(agents.c.id).where(agents.c.id == agent_id)).first() is None:
                raise AgentNotFound(f"no agent {agent_id}")
            rows = conn.execute(
                sa.select(agent_versions)
                .where(agent_versions.c.agent_id == agent_id)
                .order_by(agent_versions.c.version)
            ).mappings()
            return [VersionInfo.model_validate(dict(r)) for r in rows]

    def get_version(self, agent_id: uuid.UUID, version: int) -> VersionInfo:
        with self._read() as conn:
            row = (
                conn.execute(
                    sa.select(agent_versions).where(
                        agent_versions.c.agent_id == agent_id, agent_versions.c.version == version
                    )
                )
                .mappings()
                .first()
            )
            if row is None:
                if conn.execute(sa.select(agents.c.id).where(agents.c.id == agent_id)).first() is None:
                    raise AgentNotFound(f"no agent {agent_id}")
                raise VersionNotFound(f"agent {agent_id} has no version {version}")
        return VersionInfo.model_validate(dict(row))


# ---------------------------------------------------------------------- helpers


def _first_line(error: object) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


_SEARCH_TEXT: sa.ColumnElement[str] = agents.c.name.op("||")(sa.func.chr(sa.literal_column("10"))).op("||")(
    sa.func.coalesce(agents.c.description, sa.literal_column("''"))
)
"""Exactly the expression of PostgreSQL's ``agents_search_trgm`` index. Literals, not parameters:
the generic plan of a prepared statement (psycopg prepares after 5 runs) cannot match a parameter
to the index's constant."""


TextMatch = Literal["joined", "either"]


def _text_match(text: str | None, *, postgres: bool) -> TextMatch | None:
    """How a list's text filter is matched: one ILIKE over name⏎description, or one per column.

    The joined form is what PostgreSQL's one trigram index covers (migration ``20261125180000``),
    and one ILIKE per row where a scan is cheaper. It means the same as the per-column form as long
    as the text has no line break — a match without one lies within one of the two columns; a text
    with one could match across the join, so it takes the per-column form.
    """
    if not text:
        return None
    return "joined" if postgres and "\n" not in text else "either"


def _list_order(columns: Any, sort: str, descending: bool) -> list[sa.ColumnElement[Any]]:
    """The ORDER BY of a list page on ``columns`` (the agents table: the page, then its rows)."""
    sort_column: sa.ColumnElement[Any] = columns[sort]
    if sort in ("name", "description"):
        sort_column = sa.func.lower(sort_column)  # people sort text without regard to case
    order = sort_column.desc() if descending else sort_column.asc()
    if sort in ("description", "last_run_at"):  # nullable: "none" last, on every backend
        order = order.nulls_last()
    tiebreak = columns["id"].desc() if descending else columns["id"].asc()
    return [order, tiebreak]


def _connection_lost(error: StoreUnavailable) -> bool:
    cause = error.__cause__
    return isinstance(cause, sa.exc.DBAPIError) and cause.connection_invalidated


def _list_params(query: AgentQuery) -> dict[str, Any]:
    """The bound parameters of ``_list_statements`` for ``query``."""
    # An offset past any table is the same empty page as one past the end; beyond 64 bits the
    # drivers refuse to send it (a 500 the API fuzz test found), so it is capped there.
    params: dict[str, Any] = {"limit": query.limit, "offset": min(query.offset, MAX_OFFSET)}
    if query.user_id is not None:
        params["user_id"] = query.user_id
    if query.status is not None:
        params["status"] = query.status.value
    if query.text:
        escaped = query.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params["pattern"] = f"%{escaped}%"
    return params


@functools.cache
def _list_statements(
    *, by_user: bool, by_status: bool, by_text: TextMatch | None, sort: str, descending: bool
) -> tuple[sa.Select[Any], sa.Select[Any]]:
    """The list page's statement and its count for one shape of query, with bound parameters.

    Built once per shape (under a hundred) rather than per call: building the SELECT and its
    subqueries was a tenth of the dashboard's CPU per list request. Parameters: ``user_id``,
    ``status``, ``pattern`` (an ILIKE pattern, ``\\`` escapes), ``limit``, ``offset``.
    """
    conditions: list[sa.ColumnElement[bool]] = []
    if by_user:
        conditions.append(agents.c.user_id == sa.bindparam("user_id"))
    if by_status:
        conditions.append(agents.c.status == sa.bindparam("status"))
    pattern = sa.bindparam("pattern", type_=sa.String())
    if by_text == "joined":
        conditions.append(_SEARCH_TEXT.ilike(pattern, escape="\\"))
    elif by_text == "either":  # ILIKE is lower() LIKE lower() on SQLite
        name, description = agents.c.name, agents.c.description
        conditions.append(sa.or_(name.ilike(pattern, escape="\\"), description.ilike(pattern, escape="\\")))
    # The page is chosen first, by id only, and its rows are read after: the ids of a deep page
    # (OFFSET 9000) come from an index alone (agents_user_name covers name), not from 9,050 table
    # rows. The chunk counts are taken for its rows only: counted in the same SELECT as the sort,
    # PostgreSQL would count the chunks of every skipped row too.
    page = (
        sa.select(agents.c.id)
        .where(*conditions)
        .order_by(*_list_order(agents.c, sort, descending))
        .limit(sa.bindparam("limit", type_=sa.Integer()))
        .offset(sa.bindparam("offset", type_=sa.BigInteger()))
        .subquery("page")
    )
    chunk_count = (
        sa.select(sa.func.count()).where(chunks.c.agent_id == agents.c.id).correlate(agents).scalar_subquery()
    )
    count = sa.select(sa.func.count()).select_from(agents).where(*conditions)
    # The total rides along as an uncorrelated subquery (computed once): one statement, one
    # snapshot, one round trip. Only a page past the end needs the count on its own.
    listed = (
        sa.select(
            agents.c.id,
            agents.c.name,
            agents.c.description,
            agents.c.status,
            agents.c.version,
            agents.c.created_at,
            agents.c.updated_at,
            agents.c.user_id,
            agents.c.last_run_at,
            chunk_count.label("chunk_count"),
            count.scalar_subquery().label("total"),
        )
        .select_from(page.join(agents, agents.c.id == page.c.id))
        .order_by(*_list_order(agents.c, sort, descending))
    )
    return listed, count
