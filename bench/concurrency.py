"""Many agents at once: N agents of 10 chunks each run together on one machine, through Prefect.

Design measured here (and used by ``agentctl serve`` and the dashboard): the runs of one process
share one Chromium, each run in its own browser context (its own cookies and storage), and every run
holds a slot of the Prefect global concurrency limit ``agentctl-browsers`` while its context is open —
here the limit is 8, so at N = 16 half the runs wait for a slot. The baseline is the same N agents run
one after another in the same process. Figures: wall time, throughput (chunks/s), speed-up over one
after another, and the peak memory of the process with its browser (RSS of the whole process tree).

    uv run python -m bench.concurrency [--sizes 1,4,8,16] [--limit 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench._common import Laps, pg_database, prefect_server, print_table, write_results
from bench.engine import chunk_actions, site
from cli.background_server import serve_in_background

CHUNKS = 10


def tree_rss_mb(root: int) -> float:
    """RSS of a process and all its descendants (Chromium, Playwright's driver), in MB."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            status = (entry / "status").read_text()
        except OSError:
            continue
        pid = int(entry.name)
        children.setdefault(int(stat[1]), []).append(pid)
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss[pid] = int(line.split()[1])
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total / 1024


class PeakMemory:
    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_mb(os.getpid()))
            self._stop.wait(0.1)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


async def main_async(url: str, sizes: list[int], limit: int, laps: Laps) -> list[dict[str, Any]]:
    from prefect import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    from agents_store.backends import open_store
    from agents_store.documents import parse_definition
    from agents_store.settings import get_settings
    from cli._prefect import quiet_prefect_console
    from flows._prefect import PrefectClients
    from flows.run_agent import run_agent
    from tasks.browser.session import find_chromium, shared_browser

    async with get_client() as client:
        await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name="agentctl-browsers", limit=limit)
        )
    store = open_store(get_settings().resolved_database_url())
    agents = [
        store.create(
            parse_definition(
                {
                    "name": f"Concurrent {n}",
                    "loom_url": "https://www.loom.com/share/00000000000000000000000000000bec",
                    "settings": {"retries": 0, "retry_delay_seconds": 0},
                    "chunks": [
                        {"name": f"S{c}", "actions": chunk_actions(c, url)} for c in range(1, CHUNKS + 1)
                    ],
                }
            )
        )
        for n in range(max(sizes))
    ]

    async def run(agent_id: str) -> None:
        state = await run_agent(agent_id, return_state=True)
        if not state.is_completed():
            raise SystemExit(f"run failed: {state.message}")

    rows = []
    async with (
        PrefectClients(),  # kept across runs, as the dashboard keeps them
        shared_browser(headless=True, executable=find_chromium(get_settings().chromium)),
    ):
        with quiet_prefect_console():
            await run(str(agents[0].id))  # warm up
            laps.done("create the agents, warm up")
            for n in sizes:
                chosen = [str(a.id) for a in agents[:n]]
                started = time.perf_counter()
                for agent_id in chosen:
                    await run(agent_id)
                sequential = time.perf_counter() - started
                laps.done(f"{n} one after another")
                with PeakMemory() as memory:
                    started = time.perf_counter()
                    await asyncio.gather(*(run(agent_id) for agent_id in chosen))
                    concurrent = time.perf_counter() - started
                laps.done(f"{n} at once")
                rows.append(
                    {
                        "agents": n,
                        "sequential_seconds": round(sequential, 2),
                        "concurrent_seconds": round(concurrent, 2),
                        "throughput_chunks_per_second": round(n * CHUNKS / concurrent, 1),
                        "sequential_chunks_per_second": round(n * CHUNKS / sequential, 1),
                        "speed_up": round(sequential / concurrent, 2),
                        "peak_memory_mb": round(memory.peak),
                    }
                )
    store.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1,4,8,16")
    parser.add_argument("--limit", type=int, default=8, help="the global concurrency limit on browsers")
    args = parser.parse_args()
    os.environ["AGENTCTL_HOME"] = tempfile.mkdtemp(prefix="bench-concurrency-")
    os.environ.pop("AGENTCTL_DATABASE_URL", None)
    sizes = [int(s) for s in args.sizes.split(",")]
    # Prefect's server on PostgreSQL, as docs/scaling.md sets it up for many runs at once: on SQLite
    # its writes queue behind one lock and concurrent flow-run creation answers 503.
    laps = Laps()
    with serve_in_background(site()) as url, pg_database() as prefect_db, prefect_server(prefect_db):
        laps.done("start the site and the Prefect server")
        rows = asyncio.run(main_async(url + "/", sizes, args.limit, laps))
    print_table(
        f"{CHUNKS}-chunk agents at once, one process, one Chromium (global limit {args.limit} browsers)",
        ["agents", "one after another", "at once", "chunks/s", "speed-up", "peak memory"],
        [
            [
                r["agents"],
                f"{r['sequential_seconds']:.1f} s",
                f"{r['concurrent_seconds']:.1f} s",
                r["throughput_chunks_per_second"],
                f"{r['speed_up']:.2f}×",
                f"{r['peak_memory_mb']} MB",
            ]
            for r in rows
        ],
    )
    path = write_results(
        "concurrency",
        {"chunks_per_agent": CHUNKS, "limit": args.limit, "rows": rows, "phase_seconds": laps.seconds},
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
