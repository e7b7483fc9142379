"""``settle_run`` on what a dead run left: no Prefect, no browser, just the store."""

from __future__ import annotations

import uuid

from agents_store.documents import parse_definition
from agents_store.models import ChunkStatus
from agents_store.store import AgentStore, RunStatus
from flows.reconcile import settle_run
from tests.factories import agent_doc, run_record


def test_a_chunk_awaiting_approval_goes_back_to_needs_review_if_it_was(
    sqlite_engine_store: AgentStore,
) -> None:
    """Killed while a person was asked to approve a chunk marked Needs Review, the run left it
    Awaiting Approval; settled, it went to Not Started and no longer blocked automatic runs."""
    doc = agent_doc(chunks=2)
    doc["chunks"][1]["status"] = "Needs Review"
    agent = sqlite_engine_store.create(parse_definition(doc))
    first, second = agent.chunks
    run_id = uuid.uuid4()
    awaiting = {"kind": "approval", "order": 2, "chunk_id": str(second.id), "needs_review": True}
    sqlite_engine_store.record_run(
        run_record(
            agent.id, flow_run_id=run_id, mode="verification", status=RunStatus.PAUSED, awaiting=awaiting
        )
    )
    sqlite_engine_store.reset_chunks([first.id, second.id], run_id=run_id)
    sqlite_engine_store.update_chunk_status(first.id, ChunkStatus.COMPLETED, run_id=run_id)
    sqlite_engine_store.update_chunk_status(second.id, ChunkStatus.AWAITING_APPROVAL, run_id=run_id)

    settle_run(sqlite_engine_store, run_id, RunStatus.CRASHED, "the process is gone")

    assert [c.status for c in sqlite_engine_store.get(agent.id).chunks] == [
        ChunkStatus.COMPLETED,
        ChunkStatus.NEEDS_REVIEW,
    ]
    assert sqlite_engine_store.get_run(run_id).status == RunStatus.CRASHED


def test_a_chunk_a_forced_run_died_in_goes_back_to_needs_review_with_the_reason(
    sqlite_engine_store: AgentStore,
) -> None:
    """A run forced past a chunk marked Needs Review was killed while that chunk ran: settled, the
    chunk showed Failed, the mark gone, and the next automatic run no longer stopped for review."""
    doc = agent_doc(chunks=3)
    doc["chunks"][1]["status"] = "Needs Review"
    agent = sqlite_engine_store.create(parse_definition(doc))
    first, second, third = agent.chunks
    run_id = uuid.uuid4()
    note = {"kind": "unreviewed", "order": 2, "chunk_id": str(second.id), "chunk": "2"}
    sqlite_engine_store.record_run(
        run_record(agent.id, flow_run_id=run_id, status=RunStatus.RUNNING, notes=[note])
    )
    sqlite_engine_store.reset_chunks([first.id, second.id], run_id=run_id)
    sqlite_engine_store.update_chunk_status(first.id, ChunkStatus.COMPLETED, run_id=run_id)
    sqlite_engine_store.update_chunk_status(second.id, ChunkStatus.RUNNING, run_id=run_id)

    settle_run(sqlite_engine_store, run_id, RunStatus.CRASHED, "the process is gone")

    chunks = sqlite_engine_store.get(agent.id).chunks
    assert [c.status for c in chunks] == [ChunkStatus.COMPLETED, ChunkStatus.NEEDS_REVIEW, third.status]
    assert chunks[1].error_details is not None
    assert chunks[1].error_details["message"] == "the process is gone"


def test_a_chunk_whose_last_write_was_lost_is_settled_as_the_run_recorded_it(
    sqlite_engine_store: AgentStore,
) -> None:
    """The store was unreachable longer than the run retried: chunk 2's Completed never landed, and
    settling the Completed run made it "Failed — Completed: the run ended completed"."""
    from agents_store.store import ChunkResultRecord

    agent = sqlite_engine_store.create(parse_definition(agent_doc(chunks=3)))
    first, second, third = agent.chunks
    run_id = uuid.uuid4()
    sqlite_engine_store.reset_chunks([c.id for c in agent.chunks], run_id=run_id)
    sqlite_engine_store.update_chunk_status(first.id, ChunkStatus.COMPLETED, attempts=1, run_id=run_id)
    sqlite_engine_store.update_chunk_status(second.id, ChunkStatus.RUNNING, attempts=1, run_id=run_id)
    sqlite_engine_store.update_chunk_status(third.id, ChunkStatus.RUNNING, attempts=1, run_id=run_id)
    results = [
        ChunkResultRecord(order=1, chunk_id=first.id, status=ChunkStatus.COMPLETED, attempts=1),
        ChunkResultRecord(order=2, chunk_id=second.id, status=ChunkStatus.COMPLETED, attempts=2),
    ]  # chunk 3's result was not recorded either: the run completed, so it did too
    sqlite_engine_store.record_run(
        run_record(agent.id, flow_run_id=run_id, status=RunStatus.COMPLETED, results=results)
    )

    settle_run(sqlite_engine_store, run_id, RunStatus.COMPLETED, "the run ended completed")

    chunks = sqlite_engine_store.get(agent.id).chunks
    assert [(c.status, c.attempts, c.error_details) for c in chunks] == [
        (ChunkStatus.COMPLETED, 1, None),
        (ChunkStatus.COMPLETED, 2, None),
        (ChunkStatus.COMPLETED, 1, None),
    ]
