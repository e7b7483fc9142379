"""`agentctl` unchanged with SUPABASE_URL / SUPABASE_KEY set: the same commands, the Supabase store;
and every way the project can be wrong gives one clear line, not a traceback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from agents_store.backends.supabase import SupabaseStore
from agents_store.documents import dump_definition, load_definition
from agents_store.models import ChunkStatus
from agents_store.store import RunRecord, RunStatus
from cli.background_server import serve_in_background
from tests.cli.conftest import CliResult, CliRunner
from tests.supabase.conftest import JWT_SECRET, PLATFORM, Project, add_user, apply, token
from tests.supabase.postgrest_double import PostgrestDouble

pytestmark = pytest.mark.postgres

EXAMPLE = Path(__file__).parents[2] / "examples" / "demo-records.yaml"


def _one_line_error(result: CliResult, *fragments: str) -> None:
    assert result.code == 1
    assert result.out == ""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("agentctl: error: ")
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_import_list_show_export_and_run_state_through_supabase(
    agentctl: CliRunner, on_supabase: Project, service_store: SupabaseStore
) -> None:
    imported = agentctl("import", str(EXAMPLE))
    assert imported.code == 0, imported.err
    agent_id = imported.out.strip()

    listed = json.loads(agentctl("list", "--json").out)
    assert [(a["id"], a["status"], a["version"]) for a in listed] == [(agent_id, "Not Started", 1)]
    exported = agentctl("export", agent_id[:8])
    assert exported.out.rstrip("\n") == dump_definition(load_definition(EXAMPLE.read_bytes())).rstrip("\n")

    # What the engine writes while it runs the agent (the engine itself is not in this branch yet).
    agent = service_store.get(uuid.UUID(agent_id))
    run = RunRecord(
        flow_run_id=uuid.uuid4(),
        agent_id=agent.id,
        agent_version=1,
        mode="automatic",
        status=RunStatus.RUNNING,
        started_at=datetime.now(UTC),
    )
    service_store.record_run(run)
    service_store.reset_chunks([agent.chunks[0].id], run_id=run.flow_run_id)
    service_store.update_chunk_status(
        agent.chunks[0].id, ChunkStatus.COMPLETED, attempts=1, run_id=run.flow_run_id
    )
    service_store.update_chunk_status(
        agent.chunks[1].id, ChunkStatus.FAILED, error_details={"type": "ElementNotFound"}, attempts=3
    )

    listed = json.loads(agentctl("list", "--json").out)
    assert listed[0]["status"] == "Failed"
    assert listed[0]["last_run_at"] is not None
    shown = json.loads(agentctl("show", agent_id, "--json").out)
    assert [c["status"] for c in shown["chunks"][:2]] == ["Completed", "Failed"]
    assert shown["chunks"][1]["error_details"] == {"type": "ElementNotFound"}
    assert [a["status"] for a in json.loads(agentctl("list", "--status", "Failed", "--json").out)] == [
        "Failed"
    ]

    renamed = agentctl("edit", agent_id, "--name", "Renamed on Supabase")
    assert renamed.code == 0, renamed.err
    assert [v.version for v in service_store.list_versions(agent.id)] == [1, 2]
    assert agentctl("delete", agent_id, "--yes").code == 0
    assert json.loads(agentctl("list", "--json").out) == []


def test_a_signed_in_user_imports_as_themselves(
    agentctl: CliRunner, project: Project, db: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    ann = add_user(db, "ann")
    monkeypatch.setenv("SUPABASE_URL", project.url)
    monkeypatch.setenv("SUPABASE_KEY", token("anon"))
    monkeypatch.setenv("SUPABASE_ACCESS_TOKEN", token("authenticated", ann))
    imported = agentctl("import", str(EXAMPLE))
    assert imported.code == 0, imported.err
    shown = json.loads(agentctl("show", imported.out.strip(), "--json").out)
    assert shown["user_id"] == str(ann)


def test_a_bad_key_is_one_line(
    agentctl: CliRunner, on_supabase: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPABASE_KEY", token("service_role", secret="not-the-project-secret-" * 2))
    _one_line_error(agentctl("list"), "refused the key", "Invalid API key", "SUPABASE_KEY")
    monkeypatch.setenv("SUPABASE_KEY", "just-some-text")
    _one_line_error(agentctl("list"), "refused the key", "Invalid API key")


def test_an_expired_user_token_is_one_line(
    agentctl: CliRunner, on_supabase: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPABASE_KEY", token("anon"))
    monkeypatch.setenv("SUPABASE_ACCESS_TOKEN", token("authenticated", uuid.uuid4(), expires_in=-60))
    _one_line_error(agentctl("list"), "PGRST303", "JWT expired")


def test_the_anon_key_alone_is_refused_before_any_request(
    agentctl: CliRunner, on_supabase: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPABASE_KEY", token("anon"))
    before = len(on_supabase.double.requests)
    _one_line_error(agentctl("list"), "anon", "service_role", "SUPABASE_ACCESS_TOKEN")
    assert len(on_supabase.double.requests) == before


def test_an_unreachable_url_is_one_line(agentctl: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("SUPABASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("SUPABASE_KEY", token("service_role"))
    _one_line_error(agentctl("list"), "cannot reach Supabase", str(port))


def test_half_the_settings_is_one_line(agentctl: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPABASE_URL", "https://example.supabase.co")
    _one_line_error(agentctl("list"), "SUPABASE_KEY is not set")


@pytest.fixture(scope="module")
def unmigrated_project(make_database: Callable[[], str]) -> Iterator[str]:
    """A Supabase project nobody pushed the migration to."""
    url = make_database()
    apply(url, PLATFORM)
    double = PostgrestDouble(url, JWT_SECRET)
    with serve_in_background(double.app) as base:
        yield base
    double.close()


def test_a_missing_migration_is_one_line(
    agentctl: CliRunner, unmigrated_project: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPABASE_URL", unmigrated_project)
    monkeypatch.setenv("SUPABASE_KEY", token("service_role"))
    _one_line_error(agentctl("list"), "no agentctl schema", "PGRST202", "supabase db push")


@pytest.mark.parametrize(
    ("version", "verdict"),
    [("29990101000000_future", "newer than this agentctl"), (PLATFORM.stem, "older than this agentctl")],
)
def test_a_schema_agentctl_does_not_know_is_refused(
    agentctl: CliRunner, on_supabase: Project, db: psycopg.Connection[Any], version: str, verdict: str
) -> None:
    replace = (
        "CREATE OR REPLACE FUNCTION public.agentctl_schema_version() RETURNS text "
        "LANGUAGE sql AS $$ SELECT %s $$"
    )
    current = db.execute("SELECT public.agentctl_schema_version()").fetchone()
    assert current is not None
    db.execute(replace.replace("%s", f"'{version}'"))
    try:
        _one_line_error(agentctl("list"), version, verdict)
    finally:
        db.execute(replace.replace("%s", f"'{current[0]}'"))


def test_the_cli_and_the_store_do_not_import_supabase_until_it_is_chosen() -> None:
    # `supabase` takes about a second to import: `agentctl list` on another store must not pay it.
    script = (
        "import sys, cli.main, agents_store, agents_store.backends\n"
        "print('imported' if 'supabase' in sys.modules else 'not imported')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "not imported", done.stderr
