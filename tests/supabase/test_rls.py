"""Row-level security of the Supabase migration, on the real PostgreSQL.

Each check runs as Supabase runs a Data API request: in a transaction, ``SET LOCAL ROLE`` to the JWT's
role and the claims in ``request.jwt.claims`` (read by ``auth.uid()``). User A must neither see nor
change user B's agents and what hangs off them; the service role sees everything; anon nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.supabase.conftest import add_user

pytestmark = pytest.mark.postgres

Conn = psycopg.Connection[Any]


class _Rollback(Exception):
    """Leaves an as_role block, undoing what it did."""


@contextmanager
def as_role(conn: Conn, role: str, user: uuid.UUID | None = None) -> Iterator[Conn]:
    """Run as a Data API request would, then roll everything back."""
    try:
        with conn.transaction():
            conn.execute(f"SET LOCAL ROLE {role}")
            claims = {"role": role} if user is None else {"role": role, "sub": str(user)}
            conn.execute("SELECT set_config('request.jwt.claims', %s, true)", [json.dumps(claims)])
            yield conn
            raise _Rollback
    except _Rollback:
        pass


def _agent_payload(owner: uuid.UUID, name: str, agent_id: uuid.UUID | None = None) -> Jsonb:
    return Jsonb(
        {
            "id": str(agent_id or uuid.uuid4()),
            "user_id": str(owner),
            "name": name,
            "loom_url": "https://www.loom.com/share/4f3c2a1b0d9e8f7a6b5c4d3e2f1a0b9c",
            "chunks": [{"id": str(uuid.uuid4()), "order": 1, "status": "Failed", "learned_actions": []}],
            "snapshot": {"name": name},
        }
    )


def _ids(conn: Conn, query: str, *params: object) -> set[uuid.UUID]:
    return {row[0] for row in conn.execute(query, params)}


@pytest.fixture
def two_users(db: Conn) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID]:
    """Users A and B with one agent each, and a run, a schedule and an export on each agent."""
    a, b = add_user(db, "ann"), add_user(db, "bob")
    db.execute("INSERT INTO users (id, name) VALUES (%s, 'ann'), (%s, 'bob')", [a, b])
    agents = []
    for owner, name in ((a, "Ann's"), (b, "Bob's")):
        agent_id = uuid.uuid4()
        db.execute("SELECT public.save_agent(%s, 0)", [_agent_payload(owner, name, agent_id)])
        db.execute(
            "INSERT INTO agent_runs (flow_run_id, agent_id, agent_version, mode, status) "
            "VALUES (%s, %s, 1, 'automatic', 'Running')",
            [uuid.uuid4(), agent_id],
        )
        db.execute("INSERT INTO agent_schedules (agent_id, cron) VALUES (%s, '0 9 * * *')", [agent_id])
        db.execute(
            "INSERT INTO agent_exports (agent_id, agent_version, target, repository, path) "
            "VALUES (%s, 1, 'git', 'file:///r', 'a/')",
            [agent_id],
        )
        agents.append(agent_id)
    return a, b, agents[0], agents[1]


CHILD_TABLES = ("chunks", "agent_versions", "agent_runs", "agent_schedules", "agent_exports")


def test_a_user_sees_only_their_own_agents_and_what_hangs_off_them(
    db: Conn, two_users: tuple[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID]
) -> None:
    a, _b, ann_agent, bob_agent = two_users
    with as_role(db, "authenticated", a) as conn:
        assert _ids(conn, "SELECT id FROM agents") == {ann_agent}
        assert _ids(conn, "SELECT id FROM agent_list") == {ann_agent}
        assert _ids(conn, "SELECT id FROM agents WHERE id = %s", bob_agent) == set()
        for table in CHILD_TABLES:
            assert _ids(conn, f"SELECT agent_id FROM {table}") == {ann_agent}, table  # noqa: S608 - a constant
        assert _ids(conn, "SELECT id FROM users") == {a}


def test_a_user_cannot_change_or_delete_another_users_agent(
    db: Conn, two_users: tuple[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID]
) -> None:
    a, _b, ann_agent, bob_agent = two_users
    with as_role(db, "authenticated", a) as conn:
        assert conn.execute("UPDATE agents SET name = 'taken' WHERE id = %s", [bob_agent]).rowcount == 0
        assert conn.execute("DELETE FROM agents WHERE id = %s", [bob_agent]).rowcount == 0
        for table in CHILD_TABLES:
            deleted = conn.execute(f"DELETE FROM {table} WHERE agent_id = %s", [bob_agent])  # noqa: S608
            assert deleted.rowcount == 0, table
        assert (
            conn.execute("UPDATE chunks SET status = 'Completed' WHERE agent_id = %s", [bob_agent]).rowcount
            == 0
        )
        # Their own agent, by contrast, they may change.
        assert conn.execute("UPDATE agents SET name = 'mine' WHERE id = %s", [ann_agent]).rowcount == 1
    assert db.execute("SELECT name FROM agents WHERE id = %s", [bob_agent]).fetchone() == ("Bob's",)
    assert db.execute("SELECT count(*) FROM chunks WHERE agent_id = %s", [bob_agent]).fetchone() == (1,)
    assert db.execute("SELECT status FROM chunks WHERE agent_id = %s", [bob_agent]).fetchone() == ("Failed",)


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO agents (id, user_id, name, loom_url, version) "
        "VALUES (gen_random_uuid(), %(b)s, 'x', 'x', 1)",
        'INSERT INTO chunks (id, agent_id, "order") VALUES (gen_random_uuid(), %(bob_agent)s, 9)',
        "INSERT INTO agent_runs (flow_run_id, agent_id, agent_version, mode, status) "
        "VALUES (gen_random_uuid(), %(bob_agent)s, 1, 'automatic', 'Running')",
        "INSERT INTO agent_versions (agent_id, version, snapshot) VALUES (%(bob_agent)s, 9, '{}')",
        "INSERT INTO agent_schedules (agent_id, cron) VALUES (%(bob_agent)s, '* * * * *') "
        "ON CONFLICT (agent_id) DO UPDATE SET cron = EXCLUDED.cron",
        "UPDATE agents SET user_id = %(b)s WHERE id = %(ann_agent)s",
        "SELECT public.agentctl_ensure_user(%(b)s, 'bob')",
    ],
    ids=["agent-for-B", "chunk-in-B", "run-of-B", "version-of-B", "schedule-of-B", "give-away", "ensure-B"],
)
def test_writes_into_another_users_agents_are_refused(
    db: Conn, two_users: tuple[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID], statement: str
) -> None:
    a, b, ann_agent, bob_agent = two_users
    values = {"b": b, "ann_agent": ann_agent, "bob_agent": bob_agent}
    with as_role(db, "authenticated", a) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement, values)


def test_save_agent_cannot_reach_another_users_agent(
    db: Conn, two_users: tuple[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID]
) -> None:
    a, b, ann_agent, bob_agent = two_users
    for expected in (1, None):
        with as_role(db, "authenticated", a) as conn, pytest.raises(psycopg.Error) as raised:
            conn.execute(
                "SELECT public.save_agent(%s, %s)", [_agent_payload(a, "taken", bob_agent), expected]
            )
        assert raised.value.sqlstate == "PT404"  # not found, never "forbidden": its existence does not leak
    with as_role(db, "authenticated", a) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT public.save_agent(%s, 0)", [_agent_payload(b, "planted")])
    with as_role(db, "authenticated", a) as conn:
        saved = conn.execute("SELECT public.save_agent(%s, 1)", [_agent_payload(a, "Ann's v2", ann_agent)])
        assert saved.fetchone()[0]["version"] == 2  # type: ignore[index]
    assert db.execute("SELECT name, version FROM agents WHERE id = %s", [bob_agent]).fetchone() == (
        "Bob's",
        1,
    )
    assert db.execute("SELECT count(*) FROM agents").fetchone() == (2,)


def test_service_role_sees_and_writes_everything(
    db: Conn, two_users: tuple[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID]
) -> None:
    _a, _b, ann_agent, bob_agent = two_users
    with as_role(db, "service_role") as conn:
        assert _ids(conn, "SELECT id FROM agents") == {ann_agent, bob_agent}
        for table in CHILD_TABLES:
            assert _ids(conn, f"SELECT agent_id FROM {table}") == {ann_agent, bob_agent}, table  # noqa: S608
        assert conn.execute("UPDATE agents SET name = 'seen' WHERE id = %s", [bob_agent]).rowcount == 1


def test_anon_gets_nothing(db: Conn, two_users: tuple[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID]) -> None:
    for table in ("agents", "agent_list", *CHILD_TABLES):
        with as_role(db, "anon") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"SELECT * FROM {table}")  # noqa: S608 - a constant
    with as_role(db, "anon") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT public.save_agent('{}', 0)")
