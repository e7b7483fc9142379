"""``deployments.operations.delete_agent``, the delete both the CLI and the dashboard use: it takes
the agent's run folders (saved browser sessions, screenshots) with it, and only once the store has
deleted the agent — another user's delete removes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents_store.backends.sqlite import SqliteStore
from agents_store.errors import AgentNotFound
from agents_store.store import RunStatus
from deployments.operations import delete_agent
from tests.factories import definition, run_record

OWNER = uuid.uuid4()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(f"sqlite:///{tmp_path / 'agents.db'}")
    opened.ensure_user(OWNER, "owner")
    yield opened
    opened.close()


def _ran(store: SqliteStore, runs_dir: Path, agent_id: uuid.UUID) -> Path:
    """Record a run of the agent and give it the folder a run leaves: a saved session."""
    run_id = uuid.uuid4()
    store.record_run(run_record(agent_id, flow_run_id=run_id, status=RunStatus.FAILED))
    folder = runs_dir / str(run_id)
    folder.mkdir(parents=True)
    (folder / "session-after-01.json").write_text('{"cookies": [{"name": "sid"}]}', encoding="utf-8")
    return folder


def test_delete_removes_the_agents_run_folders_and_only_its_own(
    store: SqliteStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agents_store.settings import get_settings

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("AGENTCTL_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    runs_dir = get_settings().runs_dir()  # where runs leave them; the dashboard passes no runs_dir
    doomed = store.create(definition("Doomed", chunks=1), user_id=OWNER)
    other = store.create(definition("Other", chunks=1), user_id=OWNER)
    its_folders = [_ran(store, runs_dir, doomed.id) for _ in range(3)]
    kept = _ran(store, runs_dir, other.id)
    (runs_dir / str(uuid.uuid4())).mkdir()  # a run no record names (another store's): not ours to touch

    with pytest.raises(AgentNotFound):  # someone else's delete (the dashboard's user_id): nothing goes
        delete_agent(store, doomed.id, user_id=uuid.uuid4())
    assert all(folder.is_dir() for folder in its_folders)

    deleted = delete_agent(store, doomed.id, user_id=OWNER)

    assert [folder for folder in its_folders if folder.exists()] == []
    assert kept.is_dir()
    assert len(list(runs_dir.iterdir())) == 2
    assert (deleted.run_folders, deleted.deployments) == (3, 0)


def test_delete_is_refused_while_a_run_of_the_agent_is_paused(
    store: SqliteStore, tmp_path: Path, prefect_harness: None
) -> None:
    """Deleted under a paused run, the agent's run went on when someone answered in Prefect's UI,
    unseen, writing to nothing and saving its session again. A run whose process is gone is settled
    first and does not hold the delete up."""
    import asyncio
    import os
    import socket

    from prefect import flow, get_client
    from prefect.states import Paused

    from agents_store.errors import AgentInUse

    @flow(name="paused-elsewhere")
    def placeholder() -> None: ...

    async def paused_run() -> uuid.UUID:
        async with get_client() as client:
            return (await client.create_flow_run(placeholder, state=Paused())).id

    agent = store.create(definition("Busy", chunks=1), user_id=OWNER)
    gone = 2**22 + 1  # above the kernel's pid_max: no process has it
    for run_id, pid in ((asyncio.run(paused_run()), os.getpid()), (uuid.uuid4(), gone)):
        paused = {"status": RunStatus.PAUSED, "host": socket.gethostname(), "pid": pid}
        store.record_run(run_record(agent.id, flow_run_id=run_id, mode="verification", **paused))
    with pytest.raises(AgentInUse, match=r"run in progress: .* \(paused\); abort it first"):
        delete_agent(store, agent.id, user_id=OWNER, runs_dir=tmp_path / "runs")
    assert store.get(agent.id).name == "Busy"
    statuses = sorted(r.status.value for r in store.list_runs(agent.id))
    assert statuses == ["Crashed", "Paused"]  # the dead one was settled, the live one holds
