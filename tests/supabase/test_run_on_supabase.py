"""`agentctl run` on Supabase: the real engine (Prefect, Chromium, a local page) writes the run's
chunk statuses and run record through the Supabase store, and the list shows the derived status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import CliRunner
from tests.cli.test_run_commands import _agent_file
from tests.supabase.conftest import Project

pytestmark = [pytest.mark.postgres, pytest.mark.browser]


def test_a_run_lands_its_statuses_in_supabase(
    agentctl: CliRunner,
    on_supabase: Project,
    tmp_path: Path,
    prefect_harness: None,
    chromium: str,
    base_url: str,
) -> None:
    agent_id = agentctl("import", str(_agent_file(tmp_path, base_url))).out.strip()

    failed = agentctl("run", agent_id, "--chunk", "1", "--chunk", "3")  # chunk 3 needs chunk 2's click
    assert failed.code == 1
    shown = json.loads(agentctl("show", agent_id, "--json").out)
    assert [c["status"] for c in shown["chunks"]] == ["Completed", "Not Started", "Failed"]
    assert shown["chunks"][2]["error_details"]["type"] == "ElementNotFound"
    runs = json.loads(agentctl("runs", agent_id, "--json").out)
    assert [(r["status"], r["chunks"]) for r in runs] == [("Failed", [1, 3])]
    listed = json.loads(agentctl("list", "--json").out)[0]
    assert (listed["status"], listed["last_run_at"] is not None) == ("Failed", True)

    done = agentctl("run", agent_id)
    assert done.code == 0, done.err
    shown = json.loads(agentctl("show", agent_id, "--json").out)
    assert [c["status"] for c in shown["chunks"]] == ["Completed"] * 3
    assert [c["error_details"] for c in shown["chunks"]] == [None] * 3
    assert json.loads(agentctl("list", "--json").out)[0]["status"] == "Completed"
    assert [r["status"] for r in json.loads(agentctl("runs", agent_id, "--json").out)] == [
        "Completed",
        "Failed",
    ]
