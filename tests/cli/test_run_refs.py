"""The run ids the tables print name one run each, as ``approve``, ``step`` and ``logs`` take them."""

from __future__ import annotations

import uuid
from pathlib import Path

import yaml

from agents_store.backends import open_store
from agents_store.settings import get_settings
from tests.cli.conftest import CliRunner
from tests.factories import agent_doc, run_record


def test_runs_planned_together_get_ids_long_enough_to_tell_apart(agentctl: CliRunner, tmp_path: Path) -> None:
    """Prefect's scheduler makes run ids from the time: runs it plans together share their first 8
    characters or more, and the table's 8-character ids each matched several runs."""
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(agent_doc("Scheduled", chunks=1)), encoding="utf-8")
    agent_id = uuid.UUID(agentctl("import", str(path)).out.strip())
    together = [uuid.UUID(f"01a24bc4-5e6f-7{n}00-8000-00000000000{n}") for n in "ab"]
    alone = uuid.UUID("9f000000-0000-4000-8000-000000000000")
    store = open_store(get_settings().resolved_database_url())
    for run_id in [*together, alone]:
        store.record_run(run_record(agent_id, flow_run_id=run_id))
    printed = [line.split()[0] for line in agentctl("runs").out.splitlines()[1:] if line.strip()]
    assert sorted(printed) == ["01a24bc4-5e6f-7a", "01a24bc4-5e6f-7b", "9f000000"]
    for ref in printed:
        assert str(store.resolve_run(ref)).startswith(ref)
    store.close()
