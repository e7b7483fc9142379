"""The store contract on the Supabase backend: the real `supabase` client, the PostgREST test double,
the real PostgreSQL with the migration of supabase/migrations/."""

from __future__ import annotations

import pytest

from agents_store.backends.supabase import SupabaseStore
from tests.agents_store.contract import StoreContract

pytestmark = pytest.mark.postgres


class TestSupabaseStore(StoreContract):
    @pytest.fixture
    def store(self, service_store: SupabaseStore) -> SupabaseStore:
        return service_store
