"""What every benchmark shares: a real Prefect server, the local site, timing and the results file."""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
PG_ADMIN = os.environ.get("AGENTCTL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def prefect_server(database_url: str | None = None) -> Iterator[str]:
    """A real ``prefect server`` on a free port with its own home; sets PREFECT_API_URL for this process."""
    from deployments.server import running_server

    home = Path(tempfile.mkdtemp(prefix="bench-prefect-"))
    with running_server(home, database_url=database_url, ui=False) as server:
        os.environ["PREFECT_API_URL"] = server.api_url
        os.environ["PREFECT_HOME"] = str(home)
        try:
            yield server.api_url
        finally:
            _flush_run_logs()


@contextmanager
def pg_database() -> Iterator[str]:
    """A throw-away database on the local PostgreSQL server, dropped afterwards."""
    import psycopg

    name = f"bench_store_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _flush_run_logs() -> None:
    """Send the last batched run log lines and events while the server is still there to take them.

    Prefect's own flush waits 5 s at most: after a long run (1,000 chunks) the rest stayed queued,
    and at exit its client retried them against the stopped server for a minute before giving up.
    Draining waits only as long as the sending takes.
    """
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for service in (APILogWorker, EventsWorker):
        service.drain_all(timeout=120)


def median(values: list[float]) -> float:
    return statistics.median(values)


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def print_table(title: str, headers: list[str], rows: list[list[Any]]) -> None:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print("  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


def write_results(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        **data,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return path


class Laps:
    """Wall time of a benchmark's phases, printed as each ends and written under ``phase_seconds``.

    ``make bench`` has to stay within minutes: these say where a run's time goes (set-up or
    measurement), with the load average, since other work shares the machine's cores.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._since = time.perf_counter()

    def done(self, name: str) -> None:
        """Ends the phase that started at the previous lap (or at creation)."""
        now = time.perf_counter()
        self.seconds[name] = round(now - self._since, 1)
        print(
            f"[phase] {name}: {now - self._since:.1f} s (load average {os.getloadavg()[0]:.1f})", flush=True
        )
        self._since = now
