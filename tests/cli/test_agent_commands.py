"""The agentctl agent commands, run through the real entry point on a real SQLite store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from tests.cli.conftest import CliRunner
from tests.factories import agent_doc

EXAMPLES = Path(__file__).parents[2] / "examples"


def _write(tmp_path: Path, doc: dict[str, object], name: str = "agent.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _import(agentctl: CliRunner, path: Path) -> str:
    result = agentctl("import", str(path))
    assert result.code == 0, result.err
    return result.out.strip()


def test_import_list_show_json(agentctl: CliRunner, tmp_path: Path) -> None:
    agent_id = _import(agentctl, _write(tmp_path, agent_doc("Invoices", chunks=2)))
    listed = json.loads(agentctl("list", "--json").out)
    assert [a["id"] for a in listed] == [agent_id]
    assert set(listed[0]) >= {"id", "name", "description", "status", "version", "created_at", "updated_at"}
    assert listed[0]["status"] == "Not Started"
    shown = json.loads(agentctl("show", agent_id[:6], "--json").out)
    assert shown["name"] == "Invoices"
    assert [c["order"] for c in shown["chunks"]] == [1, 2]
    chunk = shown["chunks"][0]
    assert {"order", "name", "status", "error_details", "learned_actions"} <= set(chunk)
    assert chunk["learned_actions"][0]["type"] == "goto"
    table = agentctl("show", "invoices")
    assert table.code == 0
    assert "Step 1" in table.out
    assert "Not Started" in table.out


def test_list_sort_filter_status(agentctl: CliRunner, tmp_path: Path) -> None:
    for name in ("beta", "Alpha", "gamma"):
        _import(agentctl, _write(tmp_path, agent_doc(name, chunks=1), f"{name}.yaml"))
    names = [a["name"] for a in json.loads(agentctl("list", "--sort", "name", "--json").out)]
    assert names == ["Alpha", "beta", "gamma"]
    names = [a["name"] for a in json.loads(agentctl("list", "--sort", "name", "--desc", "--json").out)]
    assert names == ["gamma", "beta", "Alpha"]
    assert [a["name"] for a in json.loads(agentctl("list", "--filter", "ETA", "--json").out)] == ["beta"]
    assert json.loads(agentctl("list", "--status", "Failed", "--json").out) == []
    assert len(json.loads(agentctl("list", "--status", "Not Started", "--json").out)) == 3
    assert len(json.loads(agentctl("list", "--limit", "2", "--json").out)) == 2
    assert agentctl("list", "--limit", "2").err.strip() == "1–2 of 3 agents"
    assert agentctl("list", "--filter", "ETA").err.strip() == "1–1 of 1 agent"
    assert agentctl("list", "--offset", "99").err.strip() == "none from 100 on, of 3 agents"
    _ran(agentctl, "beta", minutes_ago=30)
    _ran(agentctl, "gamma", minutes_ago=5)
    names = [a["name"] for a in json.loads(agentctl("list", "--sort", "last_run_at", "--json").out)]
    assert names == ["gamma", "beta", "Alpha"]  # newest first, as the other times; never run: last
    bad = agentctl("list", "--sort", "colour")
    assert bad.code == 1
    assert "--sort" in bad.err
    assert "Traceback" not in bad.err


def _ran(agentctl: CliRunner, name: str, *, minutes_ago: int) -> None:
    """Record a run of the agent named ``name`` that started ``minutes_ago``."""
    from datetime import UTC, datetime, timedelta

    from agents_store.backends import open_store
    from agents_store.settings import get_settings
    from agents_store.store import RunRecord, RunStatus

    agent_id = json.loads(agentctl("show", name, "--json").out)["id"]
    store = open_store(get_settings().resolved_database_url())
    store.record_run(
        RunRecord(
            flow_run_id=uuid.uuid4(),
            agent_id=uuid.UUID(agent_id),
            agent_version=1,
            mode="automatic",
            status=RunStatus.COMPLETED,
            started_at=datetime.now(UTC) - timedelta(minutes=minutes_ago),
        )
    )
    store.close()


def test_import_from_stdin_and_replace(agentctl: CliRunner, tmp_path: Path) -> None:
    doc = agent_doc("Stdin", chunks=1)
    result = agentctl("import", "-", stdin=yaml.safe_dump(doc).encode())
    assert result.code == 0
    agent_id = result.out.strip()
    doc["chunks"].append({"name": "Extra", "actions": [{"type": "click", "selector": "#x"}]})
    replaced = agentctl("import", str(_write(tmp_path, doc)), "--replace", agent_id[:8])
    assert replaced.out.strip() == agent_id
    shown = json.loads(agentctl("show", agent_id, "--json").out)
    assert shown["version"] == 2
    assert len(shown["chunks"]) == 2
    # The same file again saves no version "no change" (edit and revert save none either).
    again = agentctl("import", str(_write(tmp_path, doc)), "--replace", agent_id)
    assert again.code == 0
    assert again.out.strip() == agent_id
    assert "version 2 already says that; nothing saved" in again.err
    assert json.loads(agentctl("show", agent_id, "--json").out)["version"] == 2


def _bad_docs() -> dict[str, bytes]:
    def y(doc: dict[str, object]) -> bytes:
        return yaml.safe_dump(doc).encode()

    unknown = agent_doc(chunks=2)
    unknown["chunks"][1]["actions"] = [{"type": "teleport", "selector": "#a"}]
    missing = agent_doc(chunks=3)
    missing["chunks"][2]["actions"] = [{"type": "goto", "url": "x"}, {"type": "click"}]
    dup = agent_doc(chunks=2)
    dup["chunks"][0]["order"] = dup["chunks"][1]["order"] = 1
    return {
        "unknown action type": y(unknown),
        "missing field": y(missing),
        "wrong loom url": y(agent_doc(loom_url="https://vimeo.com/123")),
        "duplicate chunk order": y(dup),
        "1 MB description": y(agent_doc(description="d" * 1_000_000)),
        "malformed yaml": b"name: x\nchunks: [\n",
        "not utf-8": "name: café".encode("latin-1"),
    }


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unknown action type", "chunk 2 \"Step 2\", action 1: type: unknown action type 'teleport'"),
        ("missing field", 'chunk 3 "Step 3", action 2 (click): selector: field required'),
        ("wrong loom url", "loom_url: not a Loom video URL"),
        ("duplicate chunk order", "both have order 1"),
        ("1 MB description", "description: string should have at most 10000 characters"),
        ("malformed yaml", "malformed YAML at line 3"),
        ("not utf-8", "not UTF-8"),
    ],
)
def test_bad_input_is_one_clear_line_and_writes_nothing(
    agentctl: CliRunner, tmp_path: Path, case: str, expected: str
) -> None:
    original = _import(agentctl, _write(tmp_path, agent_doc("Keep me", chunks=2)))
    before = agentctl("export", original).out
    path = tmp_path / "bad.yaml"
    path.write_bytes(_bad_docs()[case])
    for args in (("import", str(path)), ("import", str(path), "--replace", original)):
        result = agentctl(*args)
        assert result.code == 1
        assert expected in result.err
        assert result.err.count("\n") == 1
        assert "Traceback" not in result.err
        assert len(result.err) < 700
    assert [a["id"] for a in json.loads(agentctl("list", "--json").out)] == [original]
    assert agentctl("export", original).out == before
    assert json.loads(agentctl("show", original, "--json").out)["version"] == 1


def test_export_refuses_a_pasted_secret_value(
    agentctl: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``export --git`` and ``github export`` refused it; the plain export printed it."""
    doc = agent_doc("Pasted", chunks=1)
    doc["params"] = {"password": "pasted-Zk7781"}
    agent_id = agentctl("import", str(_write(tmp_path, doc))).out.strip()
    monkeypatch.setenv("AGENTCTL_SECRET_PORTAL_PASSWORD", "pasted-Zk7781")
    refused = agentctl("export", agent_id)
    assert refused.code == 1
    assert "stdout contains the value of AGENTCTL_SECRET_PORTAL_PASSWORD" in refused.err
    assert "Zk7781" not in refused.out + refused.err


def test_export_import_export_is_byte_identical(agentctl: CliRunner, tmp_path: Path) -> None:
    for example in sorted(EXAMPLES.glob("*.yaml")):
        agent_id = _import(agentctl, example)
        for fmt in ("yaml", "json"):
            first = agentctl("export", agent_id, "--format", fmt).out
            again_path = tmp_path / f"again.{fmt}"
            again_path.write_text(first, encoding="utf-8")
            second = agentctl("export", _import(agentctl, again_path), "--format", fmt).out
            assert second == first
        out = tmp_path / "to-file.yaml"
        assert agentctl("export", agent_id, "-o", str(out)).code == 0
        assert out.read_text(encoding="utf-8") == agentctl("export", agent_id).out


def test_edit_versions_diff_revert(agentctl: CliRunner, tmp_path: Path) -> None:
    agent_id = _import(agentctl, _write(tmp_path, agent_doc("Versioned", chunks=3)))
    assert agentctl("edit", agent_id, "--name", "Versioned 2", "--description", "new words").code == 0
    same = agentctl("edit", agent_id, "--name", "Versioned 2")
    assert same.code == 0
    assert same.out.strip().endswith("version 2 already says that; nothing saved")
    doc = agent_doc("Versioned 2", chunks=3, description="new words")
    doc["chunks"] = [doc["chunks"][1], doc["chunks"][0], doc["chunks"][2]]
    doc["chunks"][2]["actions"].append({"type": "click", "selector": "#more"})
    agentctl("import", str(_write(tmp_path, doc)), "--replace", agent_id)
    history = json.loads(agentctl("versions", agent_id, "--json").out)
    assert [v["version"] for v in history] == [1, 2, 3]
    assert history[0]["summary"] == "created"
    assert history[1]["summary"] == "renamed; description changed"
    assert 'actions edited in "Step 3"' in history[2]["summary"]
    assert "chunks reordered" in history[2]["summary"]
    diff = agentctl("diff", agent_id, "2", "3")
    assert diff.code == 0
    assert '~ chunk "Step 3"' in diff.out
    assert "+ {type: click, selector: '#more'}" in diff.out
    unified = agentctl("diff", agent_id, "1", "2", "--unified").out
    assert "-name: Versioned\n" in unified
    assert "+name: Versioned 2\n" in unified
    assert agentctl("revert", agent_id, "--to", "1").code == 0
    assert agentctl("export", agent_id).out == agentctl("export", agent_id).out
    shown = json.loads(agentctl("show", agent_id, "--json").out)
    assert shown["version"] == 4
    assert shown["name"] == "Versioned"
    assert [c["name"] for c in shown["chunks"]] == ["Step 1", "Step 2", "Step 3"]
    reverted = json.loads(agentctl("versions", agent_id, "--json").out)[-1]
    assert reverted["summary"].startswith("back to version 1: renamed; description changed; ")
    assert "back to version 1" in agentctl("versions", agent_id).out
    missing = agentctl("diff", agent_id, "1", "9")
    assert missing.code == 1
    assert "has no version 9" in missing.err


def test_edit_validates_like_import(agentctl: CliRunner, tmp_path: Path) -> None:
    agent_id = _import(agentctl, _write(tmp_path, agent_doc("Valid", chunks=1)))
    result = agentctl("edit", agent_id, "--name", "x" * 300)
    assert result.code == 1
    assert "name: string should have at most 200 characters" in result.err
    assert json.loads(agentctl("show", agent_id, "--json").out)["name"] == "Valid"


def test_delete_duplicate(agentctl: CliRunner, tmp_path: Path) -> None:
    agent_id = _import(agentctl, _write(tmp_path, agent_doc("Dup me", chunks=2)))
    copy_id = agentctl("duplicate", agent_id).out.strip()
    assert json.loads(agentctl("show", copy_id, "--json").out)["name"] == "Dup me (copy)"
    refused = agentctl("delete", agent_id, stdin=b"")
    assert refused.code == 1
    assert "--yes" in refused.err
    assert agentctl("delete", agent_id, "--yes").code == 0
    gone = agentctl("show", agent_id)
    assert gone.code == 1
    assert "no agent matches" in gone.err
    assert [a["id"] for a in json.loads(agentctl("list", "--json").out)] == [copy_id]


def test_ambiguous_and_unknown_ids(agentctl: CliRunner, tmp_path: Path) -> None:
    _import(agentctl, _write(tmp_path, agent_doc("Same", chunks=1)))
    _import(agentctl, _write(tmp_path, agent_doc("Same", chunks=1)))
    result = agentctl("show", "Same")
    assert result.code == 1
    ids = sorted(a["id"][:8] for a in json.loads(agentctl("list", "--json").out))
    assert "matches several agents" in result.err
    assert any(f"({a}, {b}): give more of the id" in result.err for a, b in (ids, ids[::-1])), result.err


def test_schema_prints_json_schema(agentctl: CliRunner) -> None:
    schema = json.loads(agentctl("schema").out)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["title"] == "AgentDefinition"


def test_database_url_option_and_env(agentctl: CliRunner, tmp_path: Path) -> None:
    db = tmp_path / "elsewhere.db"
    path = _write(tmp_path, agent_doc("Elsewhere", chunks=1))
    assert agentctl("--database-url", f"sqlite:///{db}", "import", str(path)).code == 0
    assert db.exists()
    assert json.loads(agentctl("list", "--json").out) == []
    assert len(json.loads(agentctl("--database-url", f"sqlite:///{db}", "list", "--json").out)) == 1
    bad = agentctl("--database-url", "mysql://x", "list")
    assert bad.code == 1
    assert "error: --database-url (or AGENTCTL_DATABASE_URL): unsupported scheme 'mysql'" in bad.err


def test_the_installed_command_reports_errors_without_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "AGENTCTL_HOME": str(tmp_path)}
    exe = Path(sys.executable).parent / "agentctl"
    result = subprocess.run(
        [str(exe), "show", "nothing-here"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert result.returncode == 1
    assert result.stderr == "agentctl: error: no agent matches 'nothing-here' (by id, id prefix or name)\n"
    debug = subprocess.run(
        [str(exe), "--debug", "show", "nothing-here"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr
