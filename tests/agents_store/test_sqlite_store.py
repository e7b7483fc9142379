from __future__ import annotations

from pathlib import Path

import pytest

from agents_store.backends.sqlite import SqliteStore
from tests.agents_store.contract import StoreContract


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
