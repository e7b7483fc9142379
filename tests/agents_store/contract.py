"""The store contract: every backend's test class subclasses ``StoreContract`` and gives ``store``."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agents_store.documents import definition_to_dict, dump_definition, load_definition, parse_definition
from agents_store.errors import (
    AgentNotFound,
    AmbiguousId,
    StoreError,
    VersionConflict,
    VersionNotFound,
)
from agents_store.models import Agent, AgentStatus, Chunk, ChunkStatus
from agents_store.settings import LOCAL_USER_ID
from agents_store.store import (
    AgentQuery,
    AgentStore,
    ChunkResultRecord,
    ExportRecord,
    RunRecord,
    RunStatus,
    Schedule,
)
from tests.factories import agent_doc, chunk_doc, definition


class StoreContract:
    """Behaviour every ``AgentStore`` backend must have."""

    @pytest.fixture
    def store(self) -> AgentStore:
        raise NotImplementedError

    # ------------------------------------------------------------- create / get

    def test_create_then_get_returns_the_same_agent(self, store: AgentStore) -> None:
        d = definition("Round trip", chunks=4, params={"base_url": "http://x"}, settings={"retries": 1})
        created = store.create(d)
        loaded = store.get(created.id)
        assert loaded.definition() == d
        assert loaded.version == 1
        assert loaded.user_id == LOCAL_USER_ID
        assert [c.order for c in loaded.chunks] == [1, 2, 3, 4]
        assert [c.id for c in loaded.chunks] == [c.id for c in created.chunks]
        assert loaded.created_at is not None
        assert loaded.created_at.tzinfo is not None
        assert loaded.created_at == created.created_at

    def test_export_of_a_stored_agent_is_byte_stable(self, store: AgentStore) -> None:
        doc = agent_doc("Bytes", chunks=2, params={"who": "ann", "n": 3})
        doc["chunks"][1]["actions"] = [
            {"type": "http", "method": "post", "url": "https://hook.test", "json": {"a": [1, 2]}},
            {"type": "click", "selector": ["#a", "text=B"]},
        ]
        first = dump_definition(parse_definition(doc))
        stored = store.get(store.create(parse_definition(doc)).id)
        again = dump_definition(stored.definition())
        assert again == first
        assert dump_definition(store.get(store.create(load_definition(again)).id).definition()) == first

    def test_unknown_agent_is_not_found(self, store: AgentStore) -> None:
        with pytest.raises(AgentNotFound):
            store.get(uuid.uuid4())

    # ------------------------------------------------------------- save / versions

    def test_save_creates_the_next_version_with_a_snapshot(self, store: AgentStore) -> None:
        agent = store.create(definition("V", chunks=2))
        doc = definition_to_dict(agent.definition())
        doc["name"] = "V renamed"
        saved = store.save(agent.with_definition(parse_definition(doc)), author="ann")
        assert saved.version == 2
        assert store.get(agent.id).name == "V renamed"
        history = store.list_versions(agent.id)
        assert [v.version for v in history] == [1, 2]
        assert history[0].snapshot["name"] == "V"
        assert history[1].snapshot["name"] == "V renamed"
        assert history[1].author == "ann"

    def test_a_failed_save_leaves_the_agent_exactly_as_it_was(self, store: AgentStore) -> None:
        other = store.create(definition("Other", chunks=1))
        agent = store.create(definition("Atomic", chunks=25))
        before = store.get(agent.id)
        # The 20th chunk reuses a chunk id that belongs to another agent: the database refuses it
        # only when it gets there, after 19 chunks were written in the same transaction.
        chunks = list(before.chunks)
        chunks[19] = chunks[19].model_copy(update={"id": other.chunks[0].id})
        broken = before.model_copy(update={"name": "Half saved", "chunks": chunks})
        with pytest.raises(StoreError):
            store.save(broken)
        after = store.get(agent.id)
        assert after == before
        assert [v.version for v in store.list_versions(agent.id)] == [1]
        assert store.get(other.id).chunks == other.chunks

    def test_a_failed_create_writes_nothing(self, store: AgentStore) -> None:
        store.create(definition("Existing", chunks=1))
        with pytest.raises(StoreError):
            store.create(definition("Nobody's", chunks=3), user_id=uuid.uuid4())  # no such user
        assert [a.name for a in store.list_agents().items] == ["Existing"]

    def test_two_chunks_with_one_id_are_refused(self, store: AgentStore) -> None:
        agent = store.create(definition("Dup ids", chunks=2))
        first, second = agent.chunks
        duplicate_ids = agent.model_copy(
            update={"chunks": [first, second.model_copy(update={"id": first.id})]}
        )
        with pytest.raises(StoreError):
            store.save(duplicate_ids)
        assert store.get(agent.id) == agent

    def test_version_conflict_when_someone_saved_since(self, store: AgentStore) -> None:
        agent = store.create(definition("Conflict"))
        mine = agent.model_copy(update={"name": "mine"})
        theirs = agent.model_copy(update={"name": "theirs"})
        store.save(theirs)
        with pytest.raises(VersionConflict) as raised:
            store.save(mine)
        assert raised.value.expected == 1
        assert raised.value.actual == 2
        current = store.get(agent.id)
        assert current.name == "theirs"
        assert current.version == 2
        assert len(store.list_versions(agent.id)) == 2

    def test_explicit_expected_version(self, store: AgentStore) -> None:
        agent = store.create(definition("Explicit"))
        with pytest.raises(VersionConflict):
            store.save(agent.model_copy(update={"name": "x"}), expected_version=7)
        forced = store.save(agent.model_copy(update={"name": "forced"}), expected_version=None)
        assert forced.version == 2

    def test_concurrent_writers_exactly_one_wins(self, store: AgentStore) -> None:
        """Two threads save different documents at the same version: one wins whole, one conflicts.

        Each writer's document has its own chunk count, names and actions, so a lost chunk or a mix of
        the two documents would show in the loaded agent. Several rounds, for more chances to interleave.
        """
        agent = store.create(definition("Race", chunks=5))
        for round_ in range(5):
            current = store.get(agent.id)
            docs = {
                name: agent_doc(f"{name} {round_}", chunks=count)
                for name, count in (("a", 3 + round_), ("b", 7 + round_))
            }
            for name, doc in docs.items():
                for chunk in doc["chunks"]:
                    chunk["name"] = f"{name}: {chunk['name']}"
                    chunk["actions"] = [{"type": "click", "selector": f"#{name}-{round_}"}]
            outcomes: dict[str, str] = {}
            barrier = threading.Barrier(2)

            def writer(
                name: str,
                current: Agent = current,
                docs: dict[str, Any] = docs,
                barrier: threading.Barrier = barrier,
                outcomes: dict[str, str] = outcomes,
            ) -> None:
                edited = current.with_definition(parse_definition(docs[name]))
                barrier.wait()
                try:
                    store.save(edited)
                    outcomes[name] = "won"
                except VersionConflict as e:
                    outcomes[name] = f"conflict {e.expected}->{e.actual}"

            threads = [threading.Thread(target=writer, args=(n,)) for n in docs]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            version = current.version
            assert sorted(outcomes.values()) == [f"conflict {version}->{version + 1}", "won"], outcomes
            [winner] = [name for name, outcome in outcomes.items() if outcome == "won"]
            final = store.get(agent.id)
            assert final.version == version + 1
            assert dump_definition(final.definition()) == dump_definition(parse_definition(docs[winner]))
            assert {c.name.split(":")[0] for c in final.chunks if c.name} == {winner}
            assert len(store.list_versions(agent.id)) == version + 1

    def test_save_of_a_missing_agent(self, store: AgentStore) -> None:
        agent = store.create(definition("Gone"))
        store.delete(agent.id)
        with pytest.raises(AgentNotFound):
            store.save(agent)

    def test_get_version_errors(self, store: AgentStore) -> None:
        agent = store.create(definition("Versions"))
        with pytest.raises(VersionNotFound):
            store.get_version(agent.id, 9)
        with pytest.raises(AgentNotFound):
            store.get_version(uuid.uuid4(), 1)

    def test_revert_of_reordered_and_renamed_chunks(self, store: AgentStore) -> None:
        agent = store.create(definition("Revert", chunks=3))
        v1 = store.get_version(agent.id, 1).snapshot
        doc = definition_to_dict(agent.definition())
        doc["chunks"] = [doc["chunks"][2], doc["chunks"][0], doc["chunks"][1]]
        doc["chunks"][0]["name"] = "Renamed third"
        store.save(agent.with_definition(parse_definition(doc)))
        reverted = store.revert(agent.id, 1, author="bob")
        assert reverted.version == 3
        assert definition_to_dict(store.get(agent.id).definition()) == v1
        assert store.get_version(agent.id, 3).snapshot == v1
        assert store.get_version(agent.id, 3).author == "bob"

    # ------------------------------------------------------------- list

    def _three(self, store: AgentStore) -> list[uuid.UUID]:
        ids = []
        for name, description in (("Bravo", "sends 100% of invoices"), ("alpha", None), ("Charlie", "x_y")):
            doc = agent_doc(name, chunks=2)
            doc["description"] = description
            ids.append(store.create(parse_definition(doc)).id)
        return ids

    def test_list_sorts_by_each_key(self, store: AgentStore) -> None:
        bravo, alpha, charlie = self._three(store)
        store.update_chunk_status(store.get(charlie).chunks[0].id, ChunkStatus.FAILED)

        def names(**kw: object) -> list[str]:
            return [a.name for a in store.list_agents(AgentQuery(**kw)).items]  # type: ignore[arg-type]

        assert names(sort="name", descending=False) == ["alpha", "Bravo", "Charlie"]
        assert names(sort="name", descending=True) == ["Charlie", "Bravo", "alpha"]
        assert names(sort="created_at", descending=False) == ["Bravo", "alpha", "Charlie"]
        assert names(sort="created_at", descending=True) == ["Charlie", "alpha", "Bravo"]
        store.save(store.get(bravo).model_copy(update={"description": "touched"}))
        assert names(sort="updated_at", descending=True)[0] == "Bravo"
        by_status = store.list_agents(AgentQuery(sort="status", descending=False)).items
        assert [a.status for a in by_status] == sorted(a.status.value for a in by_status)
        assert alpha in [a.id for a in by_status]
        assert names(sort="description", descending=False) == ["Bravo", "Charlie", "alpha"]
        assert names(sort="description", descending=True) == ["Charlie", "Bravo", "alpha"]
        # Descriptions sort as names do, without regard to case ("touched" before "X_y").
        store.save(store.get(charlie).model_copy(update={"description": "X_y"}))
        assert names(sort="description", descending=False) == ["Bravo", "Charlie", "alpha"]
        assert names(sort="description", descending=True) == ["Charlie", "Bravo", "alpha"]
        store.record_run(
            RunRecord(
                flow_run_id=uuid.uuid4(),
                agent_id=alpha,
                agent_version=1,
                mode="automatic",
                status=RunStatus.COMPLETED,
                started_at=datetime.now(UTC),
            )
        )
        assert names(sort="last_run_at", descending=True)[0] == "alpha"
        assert names(sort="last_run_at", descending=False)[0] == "alpha"  # never-run agents last

    def test_a_page_far_past_the_end_is_empty(self, store: AgentStore) -> None:
        store.create(definition("Only"))
        for offset in (10, 2**31, 2**63, 10**30):  # past 64 bits the drivers refuse the number
            page = store.list_agents(AgentQuery(offset=offset))
            assert (page.items, page.total, page.offset) == ([], 1, offset)

    def test_list_filters_and_pages(self, store: AgentStore) -> None:
        self._three(store)
        assert [a.name for a in store.list_agents(AgentQuery(text="brav")).items] == ["Bravo"]
        assert [a.name for a in store.list_agents(AgentQuery(text="INVOICES")).items] == ["Bravo"]
        assert [a.name for a in store.list_agents(AgentQuery(text="100%")).items] == ["Bravo"]
        assert [a.name for a in store.list_agents(AgentQuery(text="_")).items] == ["Charlie"]
        page1 = store.list_agents(AgentQuery(sort="created_at", descending=False, limit=2))
        page2 = store.list_agents(AgentQuery(sort="created_at", descending=False, limit=2, offset=2))
        assert page1.total == page2.total == 3
        assert [a.name for a in page1.items] == ["Bravo", "alpha"]
        assert [a.name for a in page2.items] == ["Charlie"]
        assert page1.items[0].chunk_count == 2

    def test_a_search_for_a_nul_finds_nothing_on_every_backend(self, store: AgentStore) -> None:
        """PostgreSQL refuses NUL in text: a search for one was a database error there."""
        store.create(definition("Plain"))
        page = store.list_agents(AgentQuery(text="Pl\x00ain"))
        assert (page.items, page.total) == ([], 0)

    def test_text_and_names_match_without_regard_to_case_beyond_ascii(self, store: AgentStore) -> None:
        """SQLite's own lower() folds ASCII only: "ümläut" found nothing there (PostgreSQL's found it)."""
        agent = store.create(definition("Ümläut Ärger", description="ÉTÉ invoices"))
        store.create(definition("Plain"))
        for text in ("ümläut", "ÜMLÄUT ÄRGER", "été"):
            assert [a.name for a in store.list_agents(AgentQuery(text=text)).items] == ["Ümläut Ärger"], text
        assert store.resolve("ümläut ärger") == agent.id

    def test_status_is_derived_from_chunks_and_filterable(self, store: AgentStore) -> None:
        agent = store.create(definition("Status", chunks=3))
        first, second, third = (c.id for c in agent.chunks)

        def status() -> AgentStatus:
            page = store.list_agents(AgentQuery(text="Status"))
            assert page.items[0].status == store.get(agent.id).status
            return page.items[0].status

        assert status() == AgentStatus.NOT_STARTED
        store.update_chunk_status(first, ChunkStatus.RUNNING)
        assert status() == AgentStatus.RUNNING
        store.update_chunk_status(first, ChunkStatus.COMPLETED)
        assert status() == AgentStatus.INCOMPLETE
        store.update_chunk_status(second, ChunkStatus.FAILED, error_details={"type": "ActionTimeout"})
        assert status() == AgentStatus.FAILED
        assert [a.id for a in store.list_agents(AgentQuery(status=AgentStatus.FAILED)).items] == [agent.id]
        assert store.list_agents(AgentQuery(status=AgentStatus.COMPLETED)).total == 0
        store.update_chunk_status(second, ChunkStatus.SKIPPED, error_details=None)
        store.update_chunk_status(third, ChunkStatus.COMPLETED)
        assert status() == AgentStatus.COMPLETED

    def test_needs_review_from_the_document_shows_in_the_list(self, store: AgentStore) -> None:
        doc = agent_doc("Review", chunks=1)
        doc["chunks"].append(chunk_doc("Unsure", status="Needs Review"))
        agent = store.create(parse_definition(doc))
        assert store.list_agents().items[0].status == AgentStatus.NEEDS_REVIEW
        assert store.get(agent.id).chunks[1].status == ChunkStatus.NEEDS_REVIEW

    # ------------------------------------------------------------- chunk status

    def test_chunk_status_update_is_a_single_row_write(self, store: AgentStore) -> None:
        agent = store.create(definition("Hot write", chunks=3))
        run_id = uuid.uuid4()
        details = {"type": "ElementNotFound", "message": "no #x", "attempts": 3}
        store.reset_chunks([agent.chunks[1].id], run_id=run_id)  # the run claims it as it starts
        store.update_chunk_status(
            agent.chunks[1].id, ChunkStatus.FAILED, error_details=details, attempts=3, run_id=run_id
        )
        after = store.get(agent.id)
        assert after.version == 1
        assert after.updated_at == agent.updated_at
        assert [c.status for c in after.chunks] == [
            ChunkStatus.NOT_STARTED,
            ChunkStatus.FAILED,
            ChunkStatus.NOT_STARTED,
        ]
        assert after.chunks[1].error_details == details
        assert after.chunks[1].attempts == 3
        assert after.chunks[1].last_run_id == run_id
        store.update_chunk_status(agent.chunks[1].id, ChunkStatus.RUNNING)
        assert store.get(agent.id).chunks[1].error_details == details  # unset keeps it
        store.update_chunk_status(agent.chunks[1].id, ChunkStatus.COMPLETED, error_details=None)
        assert store.get(agent.id).chunks[1].error_details is None
        with pytest.raises(AgentNotFound):
            store.update_chunk_status(uuid.uuid4(), ChunkStatus.RUNNING)

    def test_editing_keeps_the_state_of_unchanged_chunks_only(self, store: AgentStore) -> None:
        agent = store.create(definition("Edit", chunks=2))
        for c in agent.chunks:
            store.update_chunk_status(c.id, ChunkStatus.COMPLETED, attempts=1)
        current = store.get(agent.id)
        doc = definition_to_dict(current.definition())
        doc["chunks"][1]["actions"].append({"type": "click", "selector": "#new"})
        saved = store.save(current.with_definition(parse_definition(doc)))
        reloaded = store.get(saved.id)
        assert [c.id for c in reloaded.chunks] == [c.id for c in agent.chunks]
        assert [c.status for c in reloaded.chunks] == [ChunkStatus.COMPLETED, ChunkStatus.NOT_STARTED]

    def test_an_edit_that_keeps_a_chunks_review_mark_leaves_it_to_the_run_that_holds_it(
        self, store: AgentStore
    ) -> None:
        """`agentctl edit --name` while a verification run waited: the chunk marked Needs Review
        was released from the run, so the run's approval and completion of it did not land and
        it stayed Needs Review (automatic runs refused)."""
        doc = agent_doc("Held", chunks=1)
        doc["chunks"].append(chunk_doc("Unsure", status="Needs Review"))
        agent = store.create(parse_definition(doc))
        run_id = uuid.uuid4()
        store.reset_chunks([c.id for c in agent.chunks], run_id=run_id)
        renamed = definition_to_dict(store.get(agent.id).definition())
        renamed["name"] = "Held, renamed"
        store.save(store.get(agent.id).with_definition(parse_definition(renamed)))
        unsure = store.get(agent.id).chunks[1]
        assert (unsure.status, unsure.last_run_id) == (ChunkStatus.NEEDS_REVIEW, run_id)
        assert store.update_chunk_status(unsure.id, ChunkStatus.COMPLETED, attempts=1, run_id=run_id)
        assert store.get(agent.id).chunks[1].status == ChunkStatus.COMPLETED
        reviewed = definition_to_dict(store.get(agent.id).definition())
        reviewed["chunks"][1]["status"] = "Needs Review"  # marked again: the mark is the edit's
        store.save(store.get(agent.id).with_definition(parse_definition(reviewed)))
        assert store.get(agent.id).chunks[1].last_run_id is None

    def test_reset_keeps_needs_review_and_clears_run_state(self, store: AgentStore) -> None:
        doc = agent_doc("Reset", chunks=2)
        doc["chunks"].append(chunk_doc("Unsure", status="Needs Review"))
        agent = store.create(parse_definition(doc))
        first, second, unsure = agent.chunks
        store.update_chunk_status(first.id, ChunkStatus.FAILED, error_details={"type": "X"}, attempts=3)
        store.update_chunk_status(second.id, ChunkStatus.COMPLETED, attempts=1)
        store.reset_chunks([first.id, unsure.id])
        after = store.get(agent.id).chunks
        assert [c.status for c in after] == [
            ChunkStatus.NOT_STARTED,
            ChunkStatus.COMPLETED,
            ChunkStatus.NEEDS_REVIEW,
        ]
        assert after[0].error_details is None
        assert after[0].attempts == 0
        assert store.list_agents().items[0].status == AgentStatus.NEEDS_REVIEW
        with pytest.raises(AgentNotFound):
            store.reset_chunks([uuid.uuid4()])

    def test_a_later_run_takes_the_chunks_from_an_earlier_one(self, store: AgentStore) -> None:
        """Two runs of one agent at once: an earlier run paused for approval was aborted after a
        later run had completed the chunk, and its abort put the chunk back to Not Started. A run
        writes only the chunks it claimed as it started and still holds."""
        agent = store.create(definition("Two runs", chunks=2))
        first, second = (c.id for c in agent.chunks)
        earlier, later = uuid.uuid4(), uuid.uuid4()
        assert not store.update_chunk_status(first, ChunkStatus.RUNNING, run_id=earlier)  # not claimed
        assert store.get(agent.id).chunks[0].status == ChunkStatus.NOT_STARTED
        store.reset_chunks([first, second], run_id=earlier)
        assert store.update_chunk_status(first, ChunkStatus.AWAITING_APPROVAL, run_id=earlier)
        store.reset_chunks([first, second], run_id=later)
        assert store.update_chunk_status(first, ChunkStatus.COMPLETED, attempts=1, run_id=later)

        assert not store.update_chunk_status(first, ChunkStatus.NOT_STARTED, run_id=earlier)
        assert not store.update_chunk_status(
            second, ChunkStatus.FAILED, error_details={"type": "X"}, run_id=earlier
        )

        chunks = store.get(agent.id).chunks
        assert [(c.status, c.last_run_id) for c in chunks] == [
            (ChunkStatus.COMPLETED, later),
            (ChunkStatus.NOT_STARTED, later),
        ]
        assert chunks[1].error_details is None
        assert store.update_chunk_status(second, ChunkStatus.RUNNING, run_id=later)
        assert store.update_chunk_status(second, ChunkStatus.FAILED)  # not a run's: always lands
        assert store.get(agent.id).chunks[1].last_run_id == later
        with pytest.raises(AgentNotFound):
            store.update_chunk_status(uuid.uuid4(), ChunkStatus.RUNNING, run_id=later)

    def test_stuck_chunks_are_found_by_run(self, store: AgentStore) -> None:
        agent = store.create(definition("Stuck", chunks=3))
        run_a, run_b = uuid.uuid4(), uuid.uuid4()
        store.reset_chunks([agent.chunks[0].id, agent.chunks[1].id], run_id=run_a)
        store.reset_chunks([agent.chunks[2].id], run_id=run_b)
        store.update_chunk_status(agent.chunks[0].id, ChunkStatus.COMPLETED, run_id=run_a)
        store.update_chunk_status(agent.chunks[1].id, ChunkStatus.RUNNING, run_id=run_a)
        store.update_chunk_status(agent.chunks[2].id, ChunkStatus.AWAITING_APPROVAL, run_id=run_b)
        assert {c.chunk_id for c in store.stuck_chunks()} == {agent.chunks[1].id, agent.chunks[2].id}
        [stuck] = store.stuck_chunks(run_a)
        assert (stuck.agent_id, stuck.order, stuck.status, stuck.last_run_id) == (
            agent.id,
            2,
            ChunkStatus.RUNNING,
            run_a,
        )

    def test_run_record_keeps_where_it_runs_what_it_awaits_and_its_chunks(self, store: AgentStore) -> None:
        agent = store.create(definition("Runner"))
        awaiting = {"kind": "approval", "order": 1, "key": "approve-x", "since": "2026-01-01T00:00:00+00:00"}
        result = ChunkResultRecord(
            order=1,
            chunk_id=agent.chunks[0].id,
            name="Step 1",
            status=ChunkStatus.FAILED,
            attempts=2,
            duration_seconds=0.5,
            error="ElementNotFound: no #x",
        )
        run = _run(agent.id).model_copy(
            update={
                "host": "box-1",
                "pid": 4242,
                "awaiting": awaiting,
                "status": RunStatus.PAUSED,
                "results": [result],
            }
        )
        store.record_run(run)
        stored = store.get_run(run.flow_run_id)
        assert (stored.host, stored.pid, stored.awaiting) == ("box-1", 4242, awaiting)
        assert stored.results == [result]
        assert [r.flow_run_id for r in store.list_runs(status=RunStatus.PAUSED)] == [run.flow_run_id]

    # ------------------------------------------------------------- delete / duplicate

    def test_delete_removes_chunks_versions_and_runs(self, store: AgentStore) -> None:
        agent = store.create(definition("Doomed", chunks=3))
        store.save(agent.model_copy(update={"name": "Doomed 2"}))
        run = _run(agent.id)
        store.record_run(run)
        keep = store.create(definition("Keep", chunks=1))
        store.delete(agent.id)
        with pytest.raises(AgentNotFound):
            store.get(agent.id)
        with pytest.raises(AgentNotFound):
            store.list_versions(agent.id)
        with pytest.raises(AgentNotFound):
            store.get_run(run.flow_run_id)
        with pytest.raises(AgentNotFound):
            store.update_chunk_status(agent.chunks[0].id, ChunkStatus.RUNNING)
        assert store.list_runs(agent.id) == []
        assert [a.id for a in store.list_agents().items] == [keep.id]
        with pytest.raises(AgentNotFound):
            store.delete(agent.id)

    def test_duplicate_is_an_independent_copy(self, store: AgentStore) -> None:
        agent = store.create(definition("Original", chunks=2))
        store.update_chunk_status(agent.chunks[0].id, ChunkStatus.FAILED, error_details={"type": "X"})
        copy = store.duplicate(agent.id)
        assert copy.id != agent.id
        assert copy.name == "Original (copy)"
        assert copy.version == 1
        assert {c.id for c in copy.chunks}.isdisjoint({c.id for c in agent.chunks})
        assert [c.status for c in copy.chunks] == [ChunkStatus.NOT_STARTED] * 2
        assert copy.definition().model_copy(update={"name": "Original"}) == agent.definition()
        # Copied again, or a copy of a copy: each name tells them apart (two "(copy)" did not).
        again = store.duplicate(agent.id)
        assert again.name == "Original (copy 2)"
        assert store.duplicate(copy.id).name == "Original (copy) (copy)"
        assert store.duplicate(agent.id).name == "Original (copy 3)"
        long = store.create(definition("L" * 200, chunks=1))
        assert store.duplicate(long.id).name == "L" * 186 + "… (copy)"
        assert store.duplicate(long.id).name == "L" * 186 + "… (copy 2)"
        store.save(copy.model_copy(update={"name": "Changed copy"}))
        store.delete(copy.id)
        assert store.get(agent.id).name == "Original"
        assert store.get(agent.id).chunks[0].status == ChunkStatus.FAILED

    # ------------------------------------------------------------- ids and owners

    def test_resolve_by_id_prefix_and_name(self, store: AgentStore) -> None:
        a = store.create(definition("Resolve me"))
        assert store.resolve(str(a.id)) == a.id
        assert store.resolve(str(a.id)[:8]) == a.id
        assert store.resolve(str(a.id)[:13]) == a.id  # with a dash
        assert store.resolve(str(a.id).upper()[:10]) == a.id
        assert store.resolve("resolve ME") == a.id
        with pytest.raises(AgentNotFound):
            store.resolve("no such agent")
        # An agent named like another's id prefix: the ref is ambiguous, not silently the other one.
        named_like_id = store.create(definition(str(a.id)[:8]))
        with pytest.raises(AmbiguousId, match="by id prefix or name"):
            store.resolve(str(a.id)[:8])
        assert store.resolve(str(a.id)) == a.id
        assert store.resolve(str(a.id)[:9]) == a.id
        assert store.resolve(str(named_like_id.id)) == named_like_id.id
        store.create(definition("Resolve me"))
        with pytest.raises(AmbiguousId):
            store.resolve("Resolve me")

    def test_another_users_agent_is_not_found(self, store: AgentStore) -> None:
        ann, bob = uuid.uuid4(), uuid.uuid4()
        store.ensure_user(ann, "ann")
        store.ensure_user(bob, "bob")
        mine = store.create(definition("Ann's"), user_id=ann)
        store.create(definition("Bob's"), user_id=bob)
        assert store.get(mine.id, user_id=ann).user_id == ann
        with pytest.raises(AgentNotFound):
            store.get(mine.id, user_id=bob)
        with pytest.raises(AgentNotFound):
            store.resolve(str(mine.id)[:8], user_id=bob)
        with pytest.raises(AgentNotFound):
            store.delete(mine.id, user_id=bob)
        assert [a.name for a in store.list_agents(AgentQuery(user_id=bob)).items] == ["Bob's"]

    # ------------------------------------------------------------- runs

    def test_runs_are_recorded_updated_and_listed(self, store: AgentStore) -> None:
        agent = store.create(definition("Runs"))
        old = _run(agent.id, started=datetime.now(UTC) - timedelta(minutes=5))
        new = _run(agent.id)
        store.record_run(old)
        store.record_run(new)
        finished = new.model_copy(
            update={"status": RunStatus.COMPLETED, "finished_at": datetime.now(UTC), "notes": [{"n": 1}]}
        )
        store.record_run(finished)
        runs = store.list_runs(agent.id)
        assert [r.flow_run_id for r in runs] == [new.flow_run_id, old.flow_run_id]
        assert runs[0].status == RunStatus.COMPLETED
        assert runs[0].notes == [{"n": 1}]
        assert store.get_run(new.flow_run_id).agent_version == 1
        summary = store.list_agents().items[0]
        assert summary.last_run_at is not None
        assert [r.flow_run_id for r in store.list_runs(status=RunStatus.RUNNING)] == [old.flow_run_id]
        with pytest.raises(AgentNotFound):
            store.record_run(_run(uuid.uuid4()))

    # ------------------------------------------------------------- schedules and exports

    def test_schedules_are_one_per_agent_and_go_with_it(self, store: AgentStore) -> None:
        a = store.create(definition("Scheduled"))
        b = store.create(definition("Also scheduled"))
        store.set_schedule(Schedule(agent_id=a.id, cron="0 9 * * 1-5", timezone="Europe/Paris"))
        store.set_schedule(
            Schedule(agent_id=a.id, cron="*/5 * * * *", params={"x": "1"}, mode="verification")
        )
        store.set_schedule(Schedule(agent_id=b.id, cron="0 0 * * *", active=False))
        mine = store.list_schedules(a.id)
        assert len(mine) == 1
        assert (mine[0].cron, mine[0].timezone, mine[0].mode, mine[0].params) == (
            "*/5 * * * *",
            "UTC",
            "verification",
            {"x": "1"},
        )
        assert mine[0].updated_at is not None
        assert {s.agent_id for s in store.list_schedules()} == {a.id, b.id}
        assert store.delete_schedule(b.id) is True
        assert store.delete_schedule(b.id) is False
        store.delete(a.id)
        assert store.list_schedules() == []
        with pytest.raises(AgentNotFound):
            store.set_schedule(Schedule(agent_id=a.id, cron="* * * * *"))

    def test_exports_are_recorded_newest_first(self, store: AgentStore) -> None:
        agent = store.create(definition("Exported"))
        first = ExportRecord(
            agent_id=agent.id,
            agent_version=1,
            target="github",
            repository="https://github.com/acme/agents",
            branch="main",
            path="agents/exported/",
            commit_sha="a" * 40,
            tag="exported-v1",
            exported_at=datetime.now(UTC) - timedelta(minutes=1),
        )
        second = first.model_copy(
            update={"id": uuid.uuid4(), "exported_at": datetime.now(UTC), "target": "git"}
        )
        store.record_export(first)
        store.record_export(second)
        assert [e.id for e in store.list_exports(agent.id)] == [second.id, first.id]
        assert store.list_exports(agent.id)[1] == first
        with pytest.raises(AgentNotFound):
            store.record_export(first.model_copy(update={"agent_id": uuid.uuid4()}))

    def test_exports_at_a_folder_are_every_agents_newest_first(self, store: AgentStore) -> None:
        """An export asks who was exported to its folder, whatever their names (one slug, two names)."""
        one = store.create(definition("Query param"))
        two = store.create(definition("query: param"))
        repo = "https://github.com/acme/agents"
        now = datetime.now(UTC)
        older = ExportRecord(
            agent_id=one.id,
            agent_version=1,
            target="github",
            repository=repo,
            path="agents/query-param",
            exported_at=now - timedelta(minutes=2),
        )
        newer = older.model_copy(update={"id": uuid.uuid4(), "agent_id": two.id, "exported_at": now})
        elsewhere = older.model_copy(update={"id": uuid.uuid4(), "path": "bots/query-param"})
        other_repo = older.model_copy(update={"id": uuid.uuid4(), "repository": repo + "2"})
        for record in (older, newer, elsewhere, other_repo):
            store.record_export(record)
        assert store.exports_at(repo, "agents/query-param") == [newer, older]
        assert store.exports_at(repo, "agents/nobody") == []


def _run(agent_id: uuid.UUID, started: datetime | None = None) -> RunRecord:
    return RunRecord(
        flow_run_id=uuid.uuid4(),
        agent_id=agent_id,
        agent_version=1,
        mode="automatic",
        status=RunStatus.RUNNING,
        started_at=started or datetime.now(UTC),
        triggered_by="test",
        params={"a": 1},
        chunks=[1, 2],
    )


__all__ = ["Chunk", "StoreContract"]
