"""The store contract on the Supabase backend (the real `supabase` client, the PostgREST test double,
the real PostgreSQL with the migration of supabase/migrations/), and what is particular to it."""

from __future__ import annotations

import uuid

import httpx
import pytest

from agents_store.backends.supabase import SupabaseStore
from agents_store.errors import AgentNotFound, ConfigError
from agents_store.models import ChunkStatus
from agents_store.store import AgentQuery
from tests.agents_store.contract import StoreContract
from tests.factories import definition
from tests.supabase.conftest import Project, token

pytestmark = pytest.mark.postgres


class TestSupabaseStore(StoreContract):
    @pytest.fixture
    def store(self, service_store: SupabaseStore) -> SupabaseStore:
        return service_store


def test_a_page_past_the_end_is_empty_with_the_total(service_store: SupabaseStore) -> None:
    # PostgREST answers 416 (PGRST103) to such an offset when asked to count.
    for n in range(3):
        service_store.create(definition(f"Agent {n}", chunks=1))
    page = service_store.list_agents(AgentQuery(limit=2, offset=5))
    assert (page.items, page.total) == ([], 3)
    assert service_store.list_agents(AgentQuery(limit=2, offset=3)).items == []


def test_lists_saves_and_status_writes_are_one_request_each(
    service_store: SupabaseStore, project: Project
) -> None:
    agent = service_store.create(definition("Counted", chunks=3))
    sent = project.double.requests

    def requests_for(action: object) -> list[tuple[str, str]]:
        before = len(sent)
        assert callable(action)
        action()
        return sent[before:]

    assert [m for m, _ in requests_for(lambda: service_store.list_agents(AgentQuery(text="Count")))] == [
        "GET"
    ]
    status_write = requests_for(
        lambda: service_store.update_chunk_status(agent.chunks[0].id, ChunkStatus.RUNNING)
    )
    assert [(m, p.split("?")[0]) for m, p in status_write] == [("PATCH", "/rest/v1/chunks")]
    save = requests_for(
        lambda: service_store.save(service_store.get(agent.id).model_copy(update={"name": "C"}))
    )
    assert [p.split("?")[0] for _, p in save][-1] == "/rest/v1/rpc/save_agent"
    assert service_store.list_agents().items[0].status == "Running"  # the database derived it


def test_resetting_chunks_is_two_requests(service_store: SupabaseStore, project: Project) -> None:
    agent = service_store.create(definition("Reset", chunks=3))
    for chunk in agent.chunks[:2]:
        service_store.update_chunk_status(
            chunk.id, ChunkStatus.FAILED, error_details={"type": "X"}, attempts=2
        )
    before = len(project.double.requests)
    service_store.reset_chunks([c.id for c in agent.chunks[:2]])
    assert len(project.double.requests) == before + 2  # Needs Review keeps its status
    after = service_store.get(agent.id)
    assert [(c.status, c.error_details, c.attempts) for c in after.chunks] == [
        (ChunkStatus.NOT_STARTED, None, 0)
    ] * 3
    assert service_store.list_agents().items[0].status == "Not Started"
    service_store.update_chunk_status(agent.chunks[0].id, ChunkStatus.FAILED)
    with pytest.raises(AgentNotFound, match="1 of the chunks"):
        service_store.reset_chunks([agent.chunks[0].id, uuid.uuid4()])
    assert service_store.get(agent.id).chunks[0].status == ChunkStatus.NOT_STARTED  # the one that exists


@pytest.mark.parametrize("text", ["*", "a*b (c), d.e", "100%", "x_y", "\\", "[", "'", '"'])
def test_the_text_filter_matches_literally(service_store: SupabaseStore, text: str) -> None:
    service_store.create(definition("plain", chunks=1))
    wanted = service_store.create(definition(f"has {text} in it", chunks=1))
    found = service_store.list_agents(AgentQuery(text=text)).items
    assert [a.id for a in found] == [wanted.id]


def test_the_double_refuses_what_it_does_not_implement(project: Project) -> None:
    headers = {"apikey": token("service_role")}
    answer = httpx.get(f"{project.url}/rest/v1/agents?or=(name.eq.a,name.eq.b)", headers=headers)
    assert answer.status_code == 400
    assert answer.json()["code"] == "PGRST100"
    assert "does not implement" in answer.json()["message"]
    missing = httpx.get(f"{project.url}/rest/v1/no_such_table", headers=headers)
    assert (missing.status_code, missing.json()["code"]) == (404, "PGRST205")


def test_a_url_that_is_not_http_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="SUPABASE_URL"):
        SupabaseStore("db.example.supabase.co", token("service_role"))
