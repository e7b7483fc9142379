"""Store speed on PostgreSQL and SQLite with 10,000 agents × 20 chunks, and how listing scales.

Operations timed one at a time (median and p99), each against a baseline measured in the same run —
the database's own round trip (``SELECT 1``) — so the ratio says how much work the store adds:

- save an agent (a new version: 20 chunks rewritten, one snapshot), load an agent,
- a list page sorted and filtered (what the dashboard asks), a single chunk status update (the
  engine's hot write).

Scale: a list page with 1k, 10k and 100k agents.

    uv run python -m bench.store [--agents 10000] [--scale 1000,10000,100000] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from agents_store.backends import open_store
from agents_store.backends._sql import SqlAgentStore
from agents_store.backends._tables import agent_versions, agents, chunks
from agents_store.models import AgentStatus, ChunkStatus
from agents_store.settings import LOCAL_USER_ID
from agents_store.store import AgentQuery
from bench._common import p99, pg_database, print_table, write_results

TARGETS_MS = {"status update": 2.0, "list page": 20.0, "save": 15.0}
STATUSES = list(ChunkStatus)
AGENT_STATUSES = [s.value for s in AgentStatus]


def fill(store: SqlAgentStore, count: int, chunks_per_agent: int = 20) -> list[uuid.UUID]:
    """Insert ``count`` agents straight into the tables (setup, not what is measured)."""
    from bench.engine import chunk_actions

    actions = chunk_actions(2, "https://example.test/")
    ids: list[uuid.UUID] = []
    start = datetime.now(UTC) - timedelta(days=30)
    batch = 1000
    for first in range(0, count, batch):
        agent_rows: list[dict[str, Any]] = []
        chunk_rows: list[dict[str, Any]] = []
        version_rows: list[dict[str, Any]] = []
        for n in range(first, min(first + batch, count)):
            agent_id = uuid.uuid4()
            ids.append(agent_id)
            when = start + timedelta(seconds=n * 7)
            status = AGENT_STATUSES[n % len(AGENT_STATUSES)]
            agent_rows.append(
                {
                    "id": agent_id,
                    "user_id": LOCAL_USER_ID,
                    "name": f"Agent {n:06d} {'invoices' if n % 10 == 0 else 'records'}",
                    "description": f"Bench agent number {n}",
                    "loom_url": "https://www.loom.com/share/00000000000000000000000000000bec",
                    "github_repo_url": None,
                    "params": {},
                    "settings": {},
                    "status": status,
                    "version": 1,
                    "last_run_at": None,
                    "created_at": when,
                    "updated_at": when,
                }
            )
            version_rows.append(
                {
                    "agent_id": agent_id,
                    "version": 1,
                    "snapshot": {"name": "x"},
                    "author": "bench",
                    "created_at": when,
                }
            )
            for order in range(1, chunks_per_agent + 1):
                chunk_rows.append(
                    {
                        "id": uuid.uuid4(),
                        "agent_id": agent_id,
                        "order": order,
                        "name": f"Step {order}",
                        "start_time": None,
                        "end_time": None,
                        "status": "Not Started",
                        "retries": None,
                        "learned_actions": actions,
                        "error_details": None,
                        "attempts": 0,
                        "last_run_id": None,
                        "created_at": when,
                        "updated_at": when,
                    }
                )
        with store.engine.begin() as conn:
            conn.execute(sa.insert(agents), agent_rows)
            conn.execute(sa.insert(chunks), chunk_rows)
            conn.execute(sa.insert(agent_versions), version_rows)
    with store.engine.begin() as conn:
        if store.engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE")
    return ids


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    fn()  # warm caches and prepared statements
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def measure(store: SqlAgentStore, ids: list[uuid.UUID], repeat: int) -> dict[str, list[float]]:
    sample = ids[len(ids) // 2]
    agent = store.get(sample)
    chunk_ids = [c.id for c in agent.chunks]
    counter = iter(range(10**9))

    def round_trip() -> None:
        with store.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1").scalar()

    def save() -> None:
        """A new version of the agent: its row, its 20 chunks rewritten and a snapshot, in one transaction."""
        nonlocal agent
        agent = store.save(agent.model_copy(update={"description": f"edited {next(counter)}"}))

    def update() -> None:
        n = next(counter)
        store.update_chunk_status(chunk_ids[n % len(chunk_ids)], STATUSES[n % 4], attempts=n % 3)

    query = AgentQuery(text="invoices", sort="updated_at", descending=True, limit=50, offset=100)
    return {
        "round trip (baseline)": timed(round_trip, repeat),
        "load": timed(lambda: store.get(sample), repeat),
        "list page": timed(lambda: store.list_agents(query), repeat),
        "status update": timed(update, repeat),
        "save": timed(save, repeat),
    }


@contextmanager
def backend(kind: str) -> Iterator[SqlAgentStore]:
    if kind == "postgresql":
        with pg_database() as url:
            store = open_store(url)
            assert isinstance(store, SqlAgentStore)
            yield store
            store.close()
    else:
        with tempfile.TemporaryDirectory() as folder:
            store = open_store(f"sqlite:///{Path(folder) / 'bench.db'}")
            assert isinstance(store, SqlAgentStore)
            yield store
            store.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--scale", default="1000,10000,100000")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    kinds = ["sqlite"] if args.skip_postgres else ["postgresql", "sqlite"]
    results: dict[str, Any] = {
        "agents": args.agents,
        "chunks_per_agent": 20,
        "repeat": args.repeat,
        "backends": {},
    }
    for kind in kinds:
        with backend(kind) as store:
            started = time.perf_counter()
            ids = fill(store, args.agents)
            loaded = time.perf_counter() - started
            timings = measure(store, ids, args.repeat)
        base = statistics.median(timings["round trip (baseline)"])
        rows = []
        summary: dict[str, Any] = {"load_seconds": round(loaded, 1)}
        for name, values in timings.items():
            med, tail = statistics.median(values), p99(values)
            target = TARGETS_MS.get(name) if kind == "postgresql" else None
            ok = "" if target is None else ("ok" if med <= target else "MISSED")
            rows.append(
                [
                    name,
                    f"{med:.2f}",
                    f"{tail:.2f}",
                    f"{med / base:.1f}×",
                    f"≤ {target:g}" if target else "",
                    ok,
                ]
            )
            summary[name] = {
                "median_ms": round(med, 3),
                "p99_ms": round(tail, 3),
                "ratio_to_round_trip": round(med / base, 2),
            }
        print_table(
            f"Store on {kind} — {args.agents:,} agents × 20 chunks (ms, {args.repeat} runs each)",
            ["operation", "median", "p99", "vs round trip", "target", ""],
            rows,
        )
        results["backends"][kind] = summary
    scale_rows = []
    results["scale"] = {}
    for kind in kinds:
        for count in [int(c) for c in args.scale.split(",") if c]:
            with backend(kind) as store:
                fill(store, count, chunks_per_agent=2)
                page = AgentQuery(text="invoices", sort="name", descending=False, limit=50)
                values = timed(partial(store.list_agents, page), 50)
            med = statistics.median(values)
            scale_rows.append([kind, f"{count:,}", f"{med:.2f}", f"{p99(values):.2f}"])
            results["scale"].setdefault(kind, {})[str(count)] = {
                "median_ms": round(med, 3),
                "p99_ms": round(p99(values), 3),
            }
    print_table(
        "List page (filter + sort + count) as the agents grow (ms)",
        ["store", "agents", "median", "p99"],
        scale_rows,
    )
    print(f"results: {write_results('store', results)}")


if __name__ == "__main__":
    main()
