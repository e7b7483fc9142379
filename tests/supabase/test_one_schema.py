"""One schema, two ways in: the Supabase migration is the PostgreSQL backend's migration, byte for
byte, and the PostgreSQL backend copes with a Supabase database the Supabase CLI migrated."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
import sqlalchemy as sa

from agents_store.backends._tables import metadata
from agents_store.backends.postgres import PostgresStore, connect_args_for
from agents_store.migrations import migrations_for
from agents_store.settings import LOCAL_USER_ID
from tests.factories import definition
from tests.supabase.conftest import PLATFORM, POSTGRES_MIGRATIONS, SUPABASE_MIGRATIONS, apply


def test_the_postgres_backend_applies_the_supabase_migrations_byte_for_byte() -> None:
    assert SUPABASE_MIGRATIONS, "supabase/migrations/ holds no migration"
    ours = sorted(POSTGRES_MIGRATIONS.glob("*.sql"))
    assert [p.name for p in ours] == [PLATFORM.name, *(p.name for p in SUPABASE_MIGRATIONS)]
    for supabase_file in SUPABASE_MIGRATIONS:
        assert (POSTGRES_MIGRATIONS / supabase_file.name).read_bytes() == supabase_file.read_bytes(), (
            f"{supabase_file.name} differs between supabase/migrations/ and agents_store/migrations/postgres/"
        )
    # The platform migration sorts first, so it runs before the tables that refer to auth.users.
    assert migrations_for("postgres")[0].version == PLATFORM.stem


def test_the_transaction_pooler_gets_no_prepared_statements() -> None:
    pooled = connect_args_for(
        "postgresql://postgres.ref:pw@aws-0-eu-west-1.pooler.supabase.com:6543/postgres"
    )
    session = connect_args_for(
        "postgresql://postgres.ref:pw@aws-0-eu-west-1.pooler.supabase.com:5432/postgres"
    )
    assert pooled["prepare_threshold"] is None
    assert "prepare_threshold" not in session


@pytest.mark.postgres
def test_the_schema_has_every_column_the_sql_store_uses(supabase_db: str) -> None:
    with psycopg.connect(supabase_db) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name, is_nullable, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public'"
        ).fetchall()
    columns = {(t, c): (nullable == "YES", kind) for t, c, nullable, kind in rows}
    expected_type = {"GUID": "uuid", "UtcDateTime": "timestamp with time zone", "JSON": "jsonb"}
    for table in metadata.tables.values():
        for column in table.columns:
            assert (table.name, column.name) in columns, f"{table.name}.{column.name} is missing"
            nullable, kind = columns[(table.name, column.name)]
            assert nullable == column.nullable or column.primary_key, (
                f"{table.name}.{column.name} nullability"
            )
            wanted = expected_type.get(type(column.type).__name__)
            if wanted is not None:
                assert kind == wanted, f"{table.name}.{column.name} is {kind}, not {wanted}"


@pytest.mark.postgres
def test_the_database_reports_the_latest_migration(supabase_db: str) -> None:
    with psycopg.connect(supabase_db) as conn:
        row = conn.execute("SELECT public.agentctl_schema_version()").fetchone()
    assert row == (SUPABASE_MIGRATIONS[-1].stem,)


@pytest.mark.postgres
def test_postgres_store_on_a_database_supabase_db_push_migrated(make_database: Callable[[], str]) -> None:
    url = make_database()
    apply(url, PLATFORM, *SUPABASE_MIGRATIONS)  # what `supabase db push` did, with its ledger:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA supabase_migrations")
        conn.execute(
            "CREATE TABLE supabase_migrations.schema_migrations "
            "(version text PRIMARY KEY, statements text[], name text)"
        )
        for path in SUPABASE_MIGRATIONS:
            version, name = path.stem.split("_", 1)
            conn.execute(
                "INSERT INTO supabase_migrations.schema_migrations VALUES (%s, '{}', %s)", [version, name]
            )

    store = PostgresStore(url)  # running the migration again would fail: its tables exist
    try:
        agent = store.create(definition("On Supabase", chunks=2))
        assert store.get(agent.id).definition() == definition("On Supabase", chunks=2)
        with store.engine.connect() as conn:
            recorded = conn.execute(
                sa.text("SELECT version FROM agentctl_migrations ORDER BY version")
            ).scalars()
            assert list(recorded) == [m.version for m in migrations_for("postgres")]
            protected = conn.execute(
                sa.text("SELECT relrowsecurity FROM pg_class WHERE oid = 'agentctl_migrations'::regclass")
            ).scalar()
            assert protected is True  # the Data API must not expose agentctl's own bookkeeping
    finally:
        store.close()
    PostgresStore(url).close()  # and opening it again changes nothing


@pytest.mark.postgres
def test_postgres_store_on_a_plain_server_creates_the_local_user(make_database: Callable[[], str]) -> None:
    url = make_database()
    store = PostgresStore(url)
    try:
        created = store.create(definition("Plain", chunks=1))
        assert created.user_id == LOCAL_USER_ID
        with store.engine.connect() as conn:
            auth_user = conn.execute(
                sa.text("SELECT count(*) FROM auth.users WHERE id = :id"), {"id": LOCAL_USER_ID}
            )
            profile = conn.execute(
                sa.text("SELECT name FROM public.users WHERE id = :id"), {"id": LOCAL_USER_ID}
            )
            assert auth_user.scalar() == 1
            assert profile.scalar() == "local"
    finally:
        store.close()
