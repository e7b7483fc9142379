from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agents_store.backends.sqlite import SqliteStore
from agents_store.store import AgentQuery
from tests.agents_store.contract import StoreContract
from tests.factories import definition


class TestSqliteStore(StoreContract):
    @pytest.fixture
    def store(self, sqlite_store: SqliteStore) -> SqliteStore:
        return sqlite_store


def test_a_store_location_tells_stores_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The location tags the store's Prefect deployments, and ``serve`` removes its own store's
    deployments of deleted agents by that tag: two stores must never share one."""
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    monkeypatch.chdir(first)
    in_first = SqliteStore("sqlite:///agents.db")
    monkeypatch.chdir(second)
    in_second = SqliteStore("sqlite:///agents.db")  # the same URL typed in another folder
    assert in_first.location == f"sqlite:///{first / 'agents.db'}"
    assert in_first.location != in_second.location
    assert SqliteStore(f"sqlite:///{first / 'agents.db'}").location == in_first.location
    assert SqliteStore("sqlite://").location != SqliteStore("sqlite://").location


def test_a_database_from_before_unicode_case_folding_finds_its_names_by_any_case(tmp_path: Path) -> None:
    """The sort index holds lower(name); SQLite's own lower() had written "Ümläut" there, so a
    lookup through the index, folded with Python's lower(), would miss it (SQLite's integrity
    check says the row is missing from the index): migration 0006 rebuilds the index."""
    url = f"sqlite:///{tmp_path / 'agents.db'}"
    SqliteStore(url).create(definition("Plain"))
    with sqlite3.connect(tmp_path / "agents.db") as raw:  # SQLite's own lower(), as before 0006
        raw.execute("UPDATE agents SET name = 'Ümläut'")
        raw.execute("DELETE FROM agentctl_migrations WHERE version LIKE '0006%'")
    store = SqliteStore(url)
    with store._engine.connect() as conn:  # the store's own connection, with its lower()
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    assert [a.name for a in store.list_agents(AgentQuery(text="ümläut")).items] == ["Ümläut"]
    assert store.get(store.resolve("ümläut")).name == "Ümläut"
