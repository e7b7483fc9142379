from __future__ import annotations

import pytest

from agents_store.backends.postgres import PostgresStore
from tests.agents_store.contract import StoreContract

pytestmark = pytest.mark.postgres


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store(self, pg_store: PostgresStore) -> PostgresStore:
        return pg_store


def test_a_text_search_reads_the_trigram_index_and_keeps_its_exact_meaning(pg_store: PostgresStore) -> None:
    """The list's text filter can find its rows through ``agents_search_trgm``.

    Before that index, PostgreSQL read all agents twice per page (page and total) — the cost grew
    with the table. On a table this small reading it all is cheaper, so the plan is asked for with
    sequential scans priced out: what is checked is that the query's expression is the index's
    (another separator, or no index, and the plan reads the table).

    The filter stays "name or description contains": a text that only matches
    across the line between name and description (how the index joins them) finds nothing.
    """
    import sqlalchemy as sa

    from agents_store.settings import LOCAL_USER_ID
    from agents_store.store import AgentQuery

    with pg_store.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO agents (user_id, name, description, loom_url, version) "
                "SELECT :user, 'Agent ' || n || CASE WHEN n % 100 = 0 THEN ' invoices' ELSE '' END, "
                "'Team ' || (n % 37), 'https://www.loom.com/share/00000000000000000000000000000bec', 1 "
                "FROM generate_series(1, 5000) AS n"
            ),
            {"user": LOCAL_USER_ID},
        )
        conn.execute(sa.text("ANALYZE agents"))
    statements: list[tuple[str, object]] = []

    def capture(conn: object, cursor: object, statement: str, parameters: object, *_: object) -> None:
        statements.append((statement, parameters))

    sa.event.listen(pg_store.engine, "before_cursor_execute", capture)
    try:
        page = pg_store.list_agents(AgentQuery(text="invoices", sort="updated_at", descending=True, limit=20))
    finally:
        sa.event.remove(pg_store.engine, "before_cursor_execute", capture)
    assert page.total == 50
    assert all("invoices" in a.name for a in page.items)
    listing, parameters = next((s, p) for s, p in statements if "total" in s)
    with pg_store.engine.begin() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + listing, parameters)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "agents_search_trgm" in plan, plan
    assert "Seq Scan on agents" not in plan, plan
    # "invoices\nTeam" is in the indexed text of agent 100 ("Agent 100 invoices" + "Team 26")...
    assert pg_store.list_agents(AgentQuery(text="invoices\nTeam")).total == 0
    # ...but neither its name nor its description contains it; each alone still matches.
    assert pg_store.list_agents(AgentQuery(text="Team 26")).total == len(
        [n for n in range(1, 5001) if n % 37 == 26]
    )


def test_the_store_s_connections_price_random_reads_for_cached_data(pg_store: PostgresStore) -> None:
    """What lets the planner take the trigram index at 100,000 agents (see PostgresStore)."""
    import sqlalchemy as sa

    with pg_store.engine.connect() as conn:
        assert conn.execute(sa.text("SHOW random_page_cost")).scalar_one() == "1.1"
