"""The dashboard's agent list API under load: 20 concurrent clients for 20 s against 10,000 agents.

A throw-away PostgreSQL database gets 10,000 agents of one user (2 chunks each, a fifth of them with
a failed or completed chunk so status filters have something to find). The dashboard runs with
uvicorn on 127.0.0.1 in its own process, in token mode (every request authenticated). Each client
is a loop on one keep-alive HTTP/1.1 connection (``_Connection``) asking for list pages the way people
browse them: the first page in each sort order, a status filter, a text search, and now and then a
deep page. Prints requests/s and latency percentiles; writes ``bench/results/dashboard.json``.
Target: p95 under 100 ms, no errors.

    uv run python -m bench.dashboard [--agents 10000] [--clients 20] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any
from urllib.parse import urlencode

PG_ADMIN_URL = os.environ.get("AGENTCTL_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TOKEN = "bench-dashboard-token"  # noqa: S105 - a throw-away token for a loopback server
WORDS = ["invoice", "payroll", "lead", "ticket", "order", "refund", "report", "sync", "backup", "review"]
QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("newest first", {}),
    ("by name", {"sort": "name", "order": "asc"}),
    ("by status", {"sort": "status"}),
    ("by last run", {"sort": "last_run_at"}),
    ("failed only", {"status": "Failed"}),
    ("search", {"q": "payroll"}),
    ("page 2", {"offset": 50}),
    ("deep page", {"sort": "name", "order": "asc", "offset": 9000}),
]
WEIGHTS = [30, 15, 10, 5, 10, 15, 10, 5]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux), to say what each request costs the server."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load_agents(url: str, count: int) -> uuid.UUID:
    """``count`` agents of one new user, with the rows ``store.create`` writes (setup, not measured).

    Each agent is built by the store's own code (``parse_definition``, ``Agent.from_definition`` and
    the store's row mapping), so the rows are what ``store.create`` would write; every fifth has its
    first chunk Failed or Completed, as ``update_chunk_status`` would leave it (PostgreSQL's status
    trigger derives the agent's status). The rows go in as a few multi-row INSERTs in one transaction:
    10,000 ``store.create`` calls, a transaction each, took about a minute.
    """
    import psycopg
    import sqlalchemy as sa

    from agents_store.backends import open_store
    from agents_store.backends._sql import SqlAgentStore
    from agents_store.backends._tables import agent_versions, agents, chunks

    user = uuid.uuid4()
    store = open_store(url)
    assert isinstance(store, SqlAgentStore)
    store.ensure_user(user, "bench")
    rows = _agent_rows(user, count)
    with store.engine.begin() as conn:
        for table, values in zip((agents, chunks, agent_versions), rows, strict=True):
            # RETURNING makes SQLAlchemy batch the rows into multi-row INSERTs, as the store's saves do.
            conn.execute(sa.insert(table).returning(*table.primary_key.columns), values).all()
    store.close()
    # What autovacuum does within a minute of a bulk load: statistics for the planner, and the
    # visibility map that lets counts read the index alone.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return user


def _agent_rows(user: uuid.UUID, count: int) -> tuple[list[dict[str, Any]], ...]:
    """The ``agents``, ``chunks`` and ``agent_versions`` rows of ``count`` agents, created 5 ms apart."""
    from datetime import UTC, datetime, timedelta

    from agents_store.backends._rows import agent_columns, chunk_columns
    from agents_store.documents import definition_to_dict, parse_definition
    from agents_store.models import Agent, AgentStatus, ChunkStatus

    rng = random.Random(7)
    start = datetime.now(UTC) - timedelta(milliseconds=5 * count)
    agent_rows: list[dict[str, Any]] = []
    chunk_rows: list[dict[str, Any]] = []
    version_rows: list[dict[str, Any]] = []
    for n in range(count):
        words = rng.sample(WORDS, 2)
        doc = {
            "name": f"{words[0].title()} {words[1]} #{n:05d}",
            "description": f"Handles the {words[0]} and {words[1]} steps of team {n % 37}",
            "loom_url": "https://www.loom.com/share/00000000000000000000000000000bec",
            "chunks": [
                {"name": "Open", "actions": [{"type": "goto", "url": "https://example.test/"}]},
                {"name": "Submit", "actions": [{"type": "click", "selector": "#submit"}]},
            ],
        }
        agent = Agent.from_definition(parse_definition(doc), user_id=user)
        now = start + timedelta(milliseconds=5 * n)
        stamps = {"created_at": now, "updated_at": now}
        agent_rows.append(
            {
                "id": agent.id,
                "user_id": user,
                **agent_columns(agent),
                "status": AgentStatus.NOT_STARTED.value,
                "version": 1,
                **stamps,
            }
        )
        for order, chunk in enumerate(agent.chunks):
            row = {**chunk_columns(chunk), "agent_id": agent.id, **stamps}
            if order == 0 and n % 5 == 0:
                row["status"] = (ChunkStatus.FAILED if n % 10 == 0 else ChunkStatus.COMPLETED).value
            chunk_rows.append(row)
        version_rows.append(
            {
                "agent_id": agent.id,
                "version": 1,
                "snapshot": definition_to_dict(agent),
                "author": None,
                **stamps,
            }
        )
    return agent_rows, chunk_rows, version_rows


def serve(url: str, port: int, user: uuid.UUID) -> subprocess.Popen[bytes]:
    """``agentctl dashboard`` as a user would start it, in its own process."""
    env = {
        **os.environ,
        "AGENTCTL_DATABASE_URL": url,
        "AGENTCTL_DASHBOARD_TOKEN": TOKEN,
        "AGENTCTL_USER_ID": str(user),
        "AGENTCTL_HOME": tempfile.mkdtemp(prefix="bench-dashboard-"),
    }
    command = [sys.executable, "-c", "from cli.main import main; main()", "dashboard", "--port", str(port)]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)


async def wait_until_up(base: str) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(300):
            try:
                answer = await client.get("/api/agents", headers={"Authorization": f"Bearer {TOKEN}"})
                if answer.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the dashboard did not start")


class _Connection:
    """One keep-alive HTTP/1.1 connection over TCP: sends a GET, reads the status, headers and body.

    A plain asyncio stream rather than httpx: the clients share the server's two cores, and httpx
    spent about 1.3 ms of CPU per request, as much as the server's own handling. It is still a
    real HTTP client: each request is written to the socket and its whole response read (by
    ``Content-Length``, or chunked) before the clock stops.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, target: str, headers: bytes) -> tuple[int, bytes]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.reader, self.writer
        try:
            writer.write(b"GET " + target.encode("ascii") + b" HTTP/1.1\r\n" + headers)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            status = int(lines[0].split(b" ", 2)[1])
            fields: dict[bytes, bytes] = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                fields[name.strip().lower()] = value.strip()
            if b"content-length" in fields:
                body = await reader.readexactly(int(fields[b"content-length"]))
            elif fields.get(b"transfer-encoding", b"").lower() == b"chunked":
                body = await _read_chunked(reader)
            else:
                raise ConnectionError("a response without a length on a keep-alive connection")
            if fields.get(b"connection", b"").lower() == b"close":
                self.close()
            return status, body
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailer fields, then a blank line
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def drive(base: str, clients: int, seconds: float, warmup: float) -> dict[str, Any]:
    latencies: dict[str, list[float]] = {name: [] for name, _ in QUERIES}
    errors: list[str] = []
    sent = 0
    started = time.perf_counter()
    measure_from = started + warmup
    stop = measure_from + seconds
    host, port = base.removeprefix("http://").rsplit(":", 1)
    headers = (
        f"Host: {host}:{port}\r\nAuthorization: Bearer {TOKEN}\r\nAccept: application/json\r\n"
        "User-Agent: agentctl-bench\r\n\r\n"
    ).encode("ascii")
    targets = [
        (name, "/api/agents" + (f"?{urlencode(params)}" if params else "")) for name, params in QUERIES
    ]

    async def loop(seed: int) -> None:
        nonlocal sent
        rng = random.Random(seed)
        connection = _Connection(host, int(port))
        try:
            while (now := time.perf_counter()) < stop:
                name, target = rng.choices(targets, WEIGHTS)[0]
                begin = time.perf_counter()
                try:
                    status, body = await asyncio.wait_for(connection.get(target, headers), 10)
                    ok = status == 200 and "items" in json.loads(body)
                    failure = None if ok else f"{name}: HTTP {status}"
                except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as e:
                    failure = f"{name}: {type(e).__name__}"
                elapsed = time.perf_counter() - begin
                sent += 1
                if now >= measure_from:
                    latencies[name].append(elapsed)
                    if failure:
                        errors.append(failure)
        finally:
            connection.close()

    await asyncio.gather(*(loop(n) for n in range(clients)))
    return {"latencies": latencies, "errors": errors, "seconds": seconds, "sent": sent}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    args = parser.parse_args()

    import psycopg

    from bench._common import print_table, write_results

    name = f"agentctl_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(PG_ADMIN_URL, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    server: subprocess.Popen[bytes] | None = None
    try:
        loading = time.perf_counter()
        user = load_agents(url, args.agents)
        print(f"loaded {args.agents:,} agents into {name} in {time.perf_counter() - loading:.1f} s")
        port = _free_port()
        server = serve(url, port, user)
        base = f"http://127.0.0.1:{port}"
        asyncio.run(wait_until_up(base))
        before = os.getloadavg()[0]
        cpu = (_cpu_seconds(server.pid), time.process_time())
        result = asyncio.run(drive(base, args.clients, args.seconds, args.warmup))
        server_cpu = _cpu_seconds(server.pid)
        spent = (
            server_cpu - cpu[0] if server_cpu is not None and cpu[0] is not None else None,
            time.process_time() - cpu[1],
        )
        load = (before, os.getloadavg()[0])
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=15)
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    every = [v for values in result["latencies"].values() for v in values]
    total = len(every)
    sent = result["sent"]  # the warm-up's requests cost CPU too
    rows = []
    for query, values in result["latencies"].items():
        if values:
            rows.append(
                [
                    query,
                    len(values),
                    f"{statistics.median(values) * 1000:.1f}",
                    f"{_percentile(values, 0.95) * 1000:.1f}",
                    f"{_percentile(values, 0.99) * 1000:.1f}",
                ]
            )
    summary = {
        "requests": total,
        "requests_per_second": round(total / args.seconds, 1),
        "p50_ms": round(statistics.median(every) * 1000, 2),
        "p95_ms": round(_percentile(every, 0.95) * 1000, 2),
        "p99_ms": round(_percentile(every, 0.99) * 1000, 2),
        "errors": len(result["errors"]),
        "server_cpu_ms_per_request": round(spent[0] / sent * 1000, 2) if spent[0] is not None else None,
        "client_cpu_ms_per_request": round(spent[1] / sent * 1000, 2),
    }
    rows.append(
        ["all", total, f"{summary['p50_ms']:.1f}", f"{summary['p95_ms']:.1f}", f"{summary['p99_ms']:.1f}"]
    )
    title = (
        f"GET /api/agents — {args.clients} clients, {args.seconds:.0f} s, {args.agents:,} agents (PostgreSQL)"
    )
    print_table(title, ["query", "requests", "p50 ms", "p95 ms", "p99 ms"], rows)
    print(
        f"\n{summary['requests_per_second']} requests/s, p50 {summary['p50_ms']} ms, "
        f"p95 {summary['p95_ms']} ms, p99 {summary['p99_ms']} ms, errors {summary['errors']}"
        f"   (target: p95 < 100 ms, no errors)"
    )
    print(
        f"CPU per request: server {summary['server_cpu_ms_per_request']} ms, "
        f"clients {summary['client_cpu_ms_per_request']} ms; load average {load[0]:.1f} → {load[1]:.1f} "
        f"on {os.cpu_count()} CPUs"
    )
    if result["errors"]:
        print("first errors:", ", ".join(result["errors"][:5]))
    path = write_results(
        "dashboard",
        {
            "agents": args.agents,
            "clients": args.clients,
            "seconds": args.seconds,
            **summary,
            "load_average_before_after": [round(v, 2) for v in load],
            "note": "load average: this machine's 2 cores are shared with other work while the bench runs",
            "per_query": {
                r[0]: {"requests": r[1], "p50_ms": float(r[2]), "p95_ms": float(r[3]), "p99_ms": float(r[4])}
                for r in rows[:-1]
            },
        },
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
