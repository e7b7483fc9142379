"""SupabaseStore with a signed-in user's JWT: row-level security through the real client and the
PostgREST test double makes every other user's agent "not found"."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from agents_store.backends.supabase import SupabaseStore
from agents_store.errors import AgentNotFound, StoreError
from agents_store.models import ChunkStatus
from agents_store.store import AgentQuery, RunRecord, RunStatus, Schedule
from tests.factories import definition
from tests.supabase.conftest import Project, add_user, token

pytestmark = pytest.mark.postgres


@pytest.fixture
def ann(db: psycopg.Connection[Any]) -> uuid.UUID:
    return add_user(db, "ann")


@pytest.fixture
def bob(db: psycopg.Connection[Any]) -> uuid.UUID:
    return add_user(db, "bob")


@pytest.fixture(params=["user JWT as the key", "anon key + access token"])
def ann_store(request: pytest.FixtureRequest, project: Project, ann: uuid.UUID) -> Iterator[SupabaseStore]:
    """Ann signed in, either way the settings allow."""
    if request.param == "user JWT as the key":
        store = SupabaseStore(project.url, token("authenticated", ann))
    else:
        store = SupabaseStore(project.url, token("anon"), access_token=token("authenticated", ann))
    yield store
    store.close()


def test_a_signed_in_user_owns_what_they_create_and_sees_only_theirs(
    ann_store: SupabaseStore, service_store: SupabaseStore, ann: uuid.UUID, bob: uuid.UUID
) -> None:
    bobs = service_store.create(definition("Bob's"), user_id=bob)
    mine = ann_store.create(definition("Ann's"))  # no owner given: the signed-in user
    assert mine.user_id == ann
    assert ann_store.get(mine.id).user_id == ann
    assert [a.name for a in ann_store.list_agents().items] == ["Ann's"]
    assert ann_store.list_agents().total == 1
    assert {a.name for a in service_store.list_agents().items} == {"Ann's", "Bob's"}
    with pytest.raises(AgentNotFound):
        ann_store.resolve("Bob's")
    with pytest.raises(AgentNotFound):
        ann_store.resolve(str(bobs.id)[:8])


def test_another_users_agent_cannot_be_read_or_written(
    ann_store: SupabaseStore, service_store: SupabaseStore, bob: uuid.UUID
) -> None:
    bobs = service_store.create(definition("Bob's", chunks=2), user_id=bob)
    chunk = bobs.chunks[0].id
    attempts = {
        "get": lambda: ann_store.get(bobs.id),
        "save": lambda: ann_store.save(bobs.model_copy(update={"name": "taken"})),
        "delete": lambda: ann_store.delete(bobs.id),
        "update_chunk_status": lambda: ann_store.update_chunk_status(chunk, ChunkStatus.FAILED),
        "record_run": lambda: ann_store.record_run(
            RunRecord(
                flow_run_id=uuid.uuid4(),
                agent_id=bobs.id,
                agent_version=1,
                mode="automatic",
                status=RunStatus.RUNNING,
                started_at=datetime.now(UTC),
            )
        ),
        "set_schedule": lambda: ann_store.set_schedule(Schedule(agent_id=bobs.id, cron="* * * * *")),
        "list_versions": lambda: ann_store.list_versions(bobs.id),
        "get_version": lambda: ann_store.get_version(bobs.id, 1),
    }
    for name, attempt in attempts.items():
        with pytest.raises(AgentNotFound):
            attempt()
        assert service_store.get(bobs.id) == bobs, f"{name} changed Bob's agent"
    assert ann_store.list_runs(bobs.id) == []
    assert ann_store.list_schedules() == []


def test_a_user_cannot_create_agents_for_someone_else(ann_store: SupabaseStore, bob: uuid.UUID) -> None:
    with pytest.raises(StoreError, match="42501"):
        ann_store.create(definition("Planted"), user_id=bob)
    assert ann_store.list_agents(AgentQuery()).total == 0
