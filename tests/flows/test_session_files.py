"""Saved sessions on disk: a run killed while saving must not leave a session that breaks a resume."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agents_store.backends import open_store
from agents_store.errors import ConfigError
from agents_store.store import AgentStore, RunRecord, RunStatus
from flows.session import find_session, session_file
from tests.factories import definition


def _two_runs(tmp_path: Path) -> tuple[AgentStore, uuid.UUID, uuid.UUID, uuid.UUID]:
    store = open_store(f"sqlite:///{tmp_path / 'agents.db'}")
    agent = store.create(definition("Sessions"))
    older, newer = uuid.uuid4(), uuid.uuid4()
    for n, run_id in enumerate((older, newer)):
        store.record_run(
            RunRecord(
                flow_run_id=run_id,
                agent_id=agent.id,
                agent_version=agent.version,
                mode="automatic",
                status=RunStatus.CRASHED,
                started_at=datetime(2026, 11, 25, 12, n, tzinfo=UTC),
            )
        )
    return store, agent.id, older, newer


def test_an_unreadable_session_file_is_skipped_for_an_older_good_one(tmp_path: Path) -> None:
    store, agent_id, older, newer = _two_runs(tmp_path)
    runs_dir = tmp_path / "runs"
    good = session_file(runs_dir, older, 1)
    good.parent.mkdir(parents=True)
    good.write_text(json.dumps({"storage_state": {"cookies": []}, "url": "http://127.0.0.1/home"}))
    truncated = session_file(runs_dir, newer, 1)
    truncated.parent.mkdir(parents=True)
    truncated.write_text("")  # what a kill -9 mid-write left before saves became atomic

    found = find_session(store, runs_dir, agent_id, 1, None)

    assert found is not None
    assert found.run_id == older
    assert found.url == "http://127.0.0.1/home"
    with pytest.raises(ConfigError, match="is unreadable"):
        find_session(store, runs_dir, agent_id, 1, str(newer))
