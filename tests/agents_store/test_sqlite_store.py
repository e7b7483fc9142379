from __future__ import annotations

import pytest

from agents_store.backends.sqlite import SqliteStore
from tests.agents_store.contract import StoreContract


class TestSqliteStore(StoreContract):
    @pytest.fixture
    def store(self, sqlite_store: SqliteStore) -> SqliteStore:
        return sqlite_store
