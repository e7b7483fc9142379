"""``agentctl versions``, ``diff`` and ``revert`` through the real entry point, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli.conftest import CliResult, CliRunner
from tests.factories import agent_doc, chunk_doc


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def cli(request: pytest.FixtureRequest, agentctl: CliRunner, tmp_path: Path) -> CliRunner:
    """``agentctl`` on one backend: a fresh SQLite file, or the session's PostgreSQL test database."""
    if request.param == "postgres":
        url = str(request.getfixturevalue("postgres_url"))
    else:
        url = f"sqlite:///{tmp_path / 'versions.db'}"

    def run(*args: str, stdin: bytes | None = None) -> CliResult:
        return agentctl("--database-url", url, *args, stdin=stdin)

    return run


Doc = dict[str, Any]


def _save(cli: CliRunner, tmp_path: Path, doc: Doc, replace: str | None = None) -> str:
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    result = cli("import", str(path), *(("--replace", replace) if replace else ()))
    assert result.code == 0, result.err
    return result.out.strip()


def _history(cli: CliRunner, tmp_path: Path, *edits: Callable[[Doc], None]) -> tuple[str, list[Doc]]:
    """An agent saved once per edit (each applied to a copy of the previous document)."""
    doc = agent_doc("Versioned agent", chunks=4)
    docs = [doc]
    agent_id = _save(cli, tmp_path, doc)
    for edit in edits:
        doc = json.loads(json.dumps(doc))
        edit(doc)
        docs.append(doc)
        _save(cli, tmp_path, doc, replace=agent_id)
    return agent_id, docs


def _reorder_and_rename(doc: Doc) -> None:
    steps = doc["chunks"]
    doc["chunks"] = [steps[3], steps[0], steps[2], steps[1]]
    doc["chunks"][0]["name"] = "Step 4, renamed"


def _edit_add_remove(doc: Doc) -> None:
    doc["chunks"][2]["actions"].append({"type": "click", "selector": ["#save", "text=Save"]})
    del doc["chunks"][3]
    doc["chunks"].append(chunk_doc("Notify", [{"type": "http", "url": "https://hooks.test/done"}]))
    doc["params"] = {"base_url": "http://127.0.0.1:8080"}


def test_versions_lists_who_when_and_what_changed(cli: CliRunner, tmp_path: Path) -> None:
    agent_id, _ = _history(cli, tmp_path, _reorder_and_rename, _edit_add_remove)

    listed = json.loads(cli("versions", agent_id, "--json").out)

    assert [v["version"] for v in listed] == [1, 2, 3]
    assert all(v["author"] for v in listed)
    assert [v["summary"] for v in listed] == [
        "created",
        'chunks renamed "Step 4, renamed"; chunks reordered',
        'params changed; chunks added "Notify"; chunks removed "Step 2"; actions edited in "Step 3"',
    ]
    table = cli("versions", agent_id)
    assert table.code == 0
    lines = table.out.splitlines()
    assert lines[0].split() == ["VERSION", "SAVED", "AUTHOR", "CHANGES", "EXPORTED"]
    assert lines[1].split()[0] == "3"  # newest first
    assert "chunks reordered" in table.out


def test_diff_is_readable_chunk_by_chunk(cli: CliRunner, tmp_path: Path) -> None:
    agent_id, _ = _history(cli, tmp_path, _reorder_and_rename, _edit_add_remove)

    moved = cli("diff", agent_id, "1", "2")
    edited = cli("diff", agent_id, "2", "3")

    assert moved.code == 0, moved.err
    assert moved.out.splitlines() == [
        'version 1 → 2: chunks renamed "Step 4, renamed"; chunks reordered',
        '~ chunk "Step 4, renamed" (renamed from "Step 4") (moved 4 → 1)',
        '~ chunk "Step 1" (moved 1 → 2)',
        '~ chunk "Step 2" (moved 2 → 4)',
    ]
    assert edited.out.splitlines() == [
        'version 2 → 3: params changed; chunks added "Notify"; chunks removed "Step 2"; '
        'actions edited in "Step 3"',
        '  params.base_url: null → "http://127.0.0.1:8080"',
        '~ chunk "Step 3"',
        "    + {type: click, selector: ['#save', text=Save]}",
        '- chunk "Step 2" removed (at 4)',
        '+ chunk "Notify" added (at 4)',
        "    + {type: http, url: 'https://hooks.test/done'}",
    ]
    unified = cli("diff", agent_id, "2", "3", "--unified").out
    assert unified.startswith("--- version 2\n+++ version 3\n")
    assert "+  - {type: click, selector: ['#save', text=Save]}\n" in unified
    backwards = cli("diff", agent_id, "3", "1")
    assert backwards.out.startswith("version 3 → 1: ")


def test_a_chunk_renamed_and_edited_in_place_is_one_change(cli: CliRunner, tmp_path: Path) -> None:
    def rename_and_edit(doc: Doc) -> None:
        doc["chunks"][1]["name"] = "Open the invoice"
        doc["chunks"][1]["actions"] += [
            {"type": "click", "selector": "#open"},
            {"type": "wait_for", "selector": ".invoice"},
        ]

    agent_id, _ = _history(cli, tmp_path, rename_and_edit)

    diff = cli("diff", agent_id, "1", "2").out.splitlines()

    assert diff == [
        'version 1 → 2: chunks renamed "Open the invoice"; actions edited in "Open the invoice"',
        '~ chunk "Open the invoice" (renamed from "Step 2")',
        "    + {type: click, selector: '#open'}",
        "    + {type: wait_for, selector: .invoice}",
    ]


def test_revert_to_a_version_whose_chunks_were_reordered_and_renamed(cli: CliRunner, tmp_path: Path) -> None:
    agent_id, _ = _history(cli, tmp_path, _reorder_and_rename, _edit_add_remove)
    exported = {}
    for version in (1, 2):
        reverted = cli("revert", agent_id, "--to", str(version))
        assert reverted.code == 0, reverted.err
        assert reverted.out.strip().endswith(f"(= version {version})")
        exported[version] = cli("export", agent_id).out

    shown = json.loads(cli("show", agent_id, "--json").out)
    assert shown["version"] == 5
    assert [c["name"] for c in shown["chunks"]] == ["Step 4, renamed", "Step 1", "Step 3", "Step 2"]
    assert [c["order"] for c in shown["chunks"]] == [1, 2, 3, 4]
    history = json.loads(cli("versions", agent_id, "--json").out)
    assert [v["version"] for v in history] == [1, 2, 3, 4, 5]  # history is kept
    assert cli("diff", agent_id, "2", "5").out.splitlines() == ["version 2 → 5: no change"]
    assert cli("diff", agent_id, "1", "4").out.splitlines() == ["version 1 → 4: no change"]
    assert exported[1] != exported[2]
    again = cli("revert", agent_id, "--to", "2")
    assert again.out.strip().endswith("version 5 already equals version 2; nothing saved")
    assert len(json.loads(cli("versions", agent_id, "--json").out)) == 5
    missing = cli("revert", agent_id, "--to", "9")
    assert missing.code == 1
    assert "has no version 9" in missing.err
