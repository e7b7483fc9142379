from __future__ import annotations

import pytest

from agents_store.backends.postgres import PostgresStore
from tests.agents_store.contract import StoreContract

pytestmark = pytest.mark.postgres


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store(self, pg_store: PostgresStore) -> PostgresStore:
        return pg_store
