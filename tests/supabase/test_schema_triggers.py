"""The database keeps what single-row Data API writes cannot: the agent's derived status, its last
run time and updated_at. These run on the real PostgreSQL with the Supabase migration."""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

import psycopg
import pytest

from agents_store.models import ChunkStatus, derive_agent_status
from agents_store.settings import LOCAL_USER_ID

pytestmark = pytest.mark.postgres

Conn = psycopg.Connection[Any]

# The rules look only at which statuses occur ("any" / "all"), never at how often or in what order:
# every subset of the seven statuses, the empty one included, is every case that matters.
STATUS_SETS = [
    combo for size in range(len(ChunkStatus) + 1) for combo in itertools.combinations(list(ChunkStatus), size)
]


def _new_agent(conn: Conn, statuses: tuple[ChunkStatus, ...] = ()) -> uuid.UUID:
    agent_id = uuid.uuid4()
    payload = {
        "id": str(agent_id),
        "user_id": str(LOCAL_USER_ID),
        "name": "Statuses",
        "loom_url": "https://www.loom.com/share/4f3c2a1b0d9e8f7a6b5c4d3e2f1a0b9c",
        "chunks": [
            {"id": str(uuid.uuid4()), "order": n, "status": s.value} for n, s in enumerate(statuses, start=1)
        ],
        "snapshot": {},
    }
    conn.execute("SELECT public.agentctl_ensure_user(%s, 'local')", [LOCAL_USER_ID])
    conn.execute("SELECT public.save_agent(%s::jsonb, 0)", [json.dumps(payload)])
    return agent_id


def _status(conn: Conn, agent_id: uuid.UUID) -> str:
    row = conn.execute("SELECT status FROM agents WHERE id = %s", [agent_id]).fetchone()
    assert row is not None
    return str(row[0])


def test_the_trigger_derives_what_derive_agent_status_derives_for_every_set_of_statuses(db: Conn) -> None:
    assert len(STATUS_SETS) == 2 ** len(ChunkStatus)
    agents = {combo: _new_agent(db, combo) for combo in STATUS_SETS}
    wrong = {
        tuple(s.value for s in combo): (_status(db, agent_id), derive_agent_status(combo).value)
        for combo, agent_id in agents.items()
        if _status(db, agent_id) != derive_agent_status(combo).value
    }
    assert wrong == {}


def test_single_row_chunk_writes_keep_the_status_derived(db: Conn) -> None:
    # Move each chunk through every status, one single-row UPDATE at a time as the engine does
    # through the Data API, then delete the chunks one by one.
    agent_id = _new_agent(db, (ChunkStatus.NOT_STARTED,) * 3)
    chunk_ids = [
        r[0] for r in db.execute('SELECT id FROM chunks WHERE agent_id = %s ORDER BY "order"', [agent_id])
    ]
    current = [ChunkStatus.NOT_STARTED] * 3
    for position, status in itertools.product(range(3), list(ChunkStatus)):
        db.execute("UPDATE chunks SET status = %s WHERE id = %s", [status.value, chunk_ids[position]])
        current[position] = status
        assert _status(db, agent_id) == derive_agent_status(current).value, current
    for position in range(3):
        db.execute("DELETE FROM chunks WHERE id = %s", [chunk_ids[position]])
        assert _status(db, agent_id) == derive_agent_status(current[position + 1 :]).value


def test_run_state_leaves_updated_at_alone_and_a_definition_change_stamps_it(db: Conn) -> None:
    agent_id = _new_agent(db, (ChunkStatus.NOT_STARTED,))
    before = db.execute("SELECT updated_at FROM agents WHERE id = %s", [agent_id]).fetchone()
    db.execute("UPDATE chunks SET status = 'Failed' WHERE agent_id = %s", [agent_id])
    db.execute(
        "INSERT INTO agent_runs (flow_run_id, agent_id, agent_version, mode, status, started_at) "
        "VALUES (%s, %s, 1, 'automatic', 'Running', '2030-01-02T03:04:05Z')",
        [uuid.uuid4(), agent_id],
    )
    row = db.execute(
        "SELECT updated_at, status, last_run_at FROM agents WHERE id = %s", [agent_id]
    ).fetchone()
    assert row is not None
    assert before is not None
    assert row[0] == before[0]
    assert row[1] == "Failed"
    assert row[2].isoformat() == "2030-01-02T03:04:05+00:00"
    db.execute("UPDATE agents SET description = 'changed' WHERE id = %s", [agent_id])
    after = db.execute("SELECT updated_at FROM agents WHERE id = %s", [agent_id]).fetchone()
    assert after is not None
    assert after[0] > before[0]


def test_a_writer_that_stamps_updated_at_itself_keeps_its_stamp(db: Conn) -> None:
    agent_id = _new_agent(db)
    db.execute("UPDATE agents SET name = 'x', updated_at = '2031-05-06T07:08:09Z' WHERE id = %s", [agent_id])
    row = db.execute("SELECT updated_at FROM agents WHERE id = %s", [agent_id]).fetchone()
    assert row is not None
    assert row[0].isoformat() == "2031-05-06T07:08:09+00:00"
