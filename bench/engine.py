"""Engine overhead: a 20-chunk × 5-action agent run by the engine vs a plain async Playwright script.

Both drive the same Chromium (the engine's shared browser, launched once) against the same local
page, alternately, after one warm-up each; the engine runs through a real ``prefect server`` (as
``agentctl server`` starts it) and writes every chunk status to a SQLite store, as in production,
with Prefect's clients kept across runs as the dashboard keeps them. Between them runs the same
script as a bare Prefect flow (a task per chunk, nothing of agentctl): Prefect's own share.
Figures: median wall time, the ratio engine / plain, and the overhead per chunk.

Scale: the same comparison for agents of 10, 100 and 1,000 light chunks (one action each), to show
the overhead per chunk stays flat — no per-chunk cost that grows with the run's length.

    uv run python -m bench.engine [--chunks 20] [--rounds 5] [--scale 10,100,1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from bench._cpu import PARTS, CpuSample, cpu_by_part, until_quiet

if TYPE_CHECKING:
    from agents_store.store import AgentStore
    from bench._common import Laps


PAGE = """<!doctype html><html><body>
<input id="field"><button id="btn" onclick="document.getElementById('out').textContent =
document.getElementById('field').value">Copy</button><p id="out"></p></body></html>"""


def site() -> FastAPI:
    app = FastAPI()

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return PAGE

    return app


def chunk_actions(n: int, url: str) -> list[dict[str, Any]]:
    first: dict[str, Any] = {"type": "goto", "url": url} if n == 1 else {"type": "hover", "selector": "#btn"}
    return [
        first,
        {"type": "fill", "selector": "#field", "value": f"chunk {n}"},
        {"type": "click", "selector": "#btn"},
        {"type": "expect_text", "selector": "#out", "text": f"chunk {n}", "exact": True},
        {"type": "press", "selector": "#field", "key": "End"},
    ]


def light_actions(n: int, url: str) -> list[dict[str, Any]]:
    """One cheap action per chunk, so the engine's own per-chunk cost dominates the difference."""
    return [{"type": "goto", "url": url} if n == 1 else {"type": "hover", "selector": "#btn"}]


async def plain_light_script(browser: Any, url: str, chunks: int) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    await page.goto(url)
    for _ in range(2, chunks + 1):
        await page.locator("#btn").first.hover()
    await context.close()


async def plain_script(browser: Any, url: str, chunks: int) -> None:
    """The same actions, written by hand against Playwright: the floor the engine is measured against."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    for n in range(1, chunks + 1):
        await chunk_by_hand(page, url, n)
    await context.close()


async def chunk_by_hand(page: Any, url: str, n: int) -> None:
    """Chunk ``n`` of ``chunk_actions``, as plain Playwright calls."""
    from playwright.async_api import expect

    if n == 1:
        await page.goto(url)
    else:
        await page.locator("#btn").first.hover()
    await page.locator("#field").first.fill(f"chunk {n}")
    await page.locator("#btn").first.click()
    await expect(page.locator("#out").first).to_have_text(f"chunk {n}")
    await page.locator("#field").first.press("End")


def bare_prefect_flow(browser: Any) -> Callable[[str, int], Awaitable[None]]:
    """The plain script as a Prefect flow with one async task per chunk, and nothing of agentctl.

    What Prefect's own flow and task runs cost on this machine: the floor of any engine whose chunks
    are Prefect tasks. The engine's time above it is agentctl's (store, evidence, sessions, checks).
    """
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE
    from prefect.utilities.annotations import quote

    @task(name="bare-chunk", cache_policy=NO_CACHE, persist_result=False)
    async def bare_chunk(page: Any, url: str, n: int) -> None:
        await chunk_by_hand(page, url, n)

    @flow(name="bare-prefect", persist_result=False)
    async def bare(url: str, chunks: int) -> None:
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        for n in range(1, chunks + 1):
            await bare_chunk(quote(page), url, n)
        await context.close()

    return bare


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scale", default="10,100,1000", help="chunk counts of the scale table ('' skips)")
    args = parser.parse_args()
    scale = [int(size) for size in args.scale.split(",") if size]
    os.environ["AGENTCTL_HOME"] = tempfile.mkdtemp(prefix="bench-engine-")
    os.environ.pop("AGENTCTL_DATABASE_URL", None)

    from bench._common import Laps, prefect_server, print_table, write_results
    from cli.background_server import serve_in_background

    laps = Laps()
    with serve_in_background(site()) as url, prefect_server():
        laps.done("start the site and the Prefect server")
        result, scaled = asyncio.run(measure_all(url + "/", args.chunks, args.rounds, scale, laps))
    per_chunk_ms = (result["engine_s"] - result["plain_s"]) / args.chunks * 1000
    ratio = result["engine_s"] / result["plain_s"]
    bare_ratio = result["bare_s"] / result["plain_s"]
    print_table(
        f"Engine overhead — {args.chunks} chunks × 5 actions, median of {args.rounds} rounds",
        ["run", "wall time", "ratio"],
        [
            ["plain Playwright script", f"{result['plain_s']:.3f} s", "1.00"],
            ["bare Prefect flow, a task per chunk", f"{result['bare_s']:.3f} s", f"{bare_ratio:.2f}"],
            ["agentctl engine (Prefect flow)", f"{result['engine_s']:.3f} s", f"{ratio:.2f}"],
        ],
    )
    print(f"overhead per chunk: {per_chunk_ms:.1f} ms   (targets: ratio ≤ 1.10, ≤ 15 ms per chunk)")
    paired = paired_by_round(result, args.chunks)
    print(
        "paired by round (the three back to back, so a drift of the machine between rounds cancels): "
        f"engine / plain {paired['engine_ratio']:.2f} (rounds: "
        + ", ".join(f"{r:.2f}" for r in paired["engine_ratios"])
        + f"), bare / plain {paired['bare_prefect_ratio']:.2f}, "
        f"engine overhead per chunk {paired['engine_overhead_per_chunk_ms']:.1f} ms"
    )
    print_cpu(f"{args.chunks} chunks × 5 actions", result["cpu_ms_per_chunk"])
    if scaled:
        print_cpu(f"{scale[-1]:,} light chunks", scaled[-1]["cpu_ms_per_chunk"])
    scale_rows = [
        {
            "chunks": size,
            "plain_seconds": round(r["plain_s"], 3),
            "engine_seconds": round(r["engine_s"], 3),
            "overhead_per_chunk_ms": round((r["engine_s"] - r["plain_s"]) / size * 1000, 2),
            "cpu_ms_per_chunk": r["cpu_ms_per_chunk"],
        }
        for size, r in zip(scale, scaled, strict=True)
    ]
    if scale_rows:
        print_table(
            "Scale — light chunks (one action each): the overhead per chunk must stay flat",
            ["chunks", "plain script", "engine", "overhead per chunk"],
            [
                [
                    f"{row['chunks']:,}",
                    f"{row['plain_seconds']:.2f} s",
                    f"{row['engine_seconds']:.2f} s",
                    f"{row['overhead_per_chunk_ms']:.1f} ms",
                ]
                for row in scale_rows
            ],
        )
    path = write_results(
        "engine",
        {
            "scale": scale_rows,
            "chunks": args.chunks,
            "actions_per_chunk": 5,
            "rounds": args.rounds,
            "plain_seconds": round(result["plain_s"], 4),
            "engine_seconds": round(result["engine_s"], 4),
            "ratio": round(ratio, 3),
            "bare_prefect_seconds": round(result["bare_s"], 4),
            "bare_prefect_ratio": round(bare_ratio, 3),
            "overhead_per_chunk_ms": round(per_chunk_ms, 2),
            "paired_by_round": paired,
            "cpu_ms_per_chunk": result["cpu_ms_per_chunk"],
            "all_plain_seconds": [round(v, 4) for v in result["plain_all"]],
            "all_engine_seconds": [round(v, 4) for v in result["engine_all"]],
            "all_bare_prefect_seconds": [round(v, 4) for v in result["bare_all"]],
            "phase_seconds": laps.seconds,
        },
    )
    print(f"results: {path}")


def paired_by_round(result: dict[str, Any], chunks: int) -> dict[str, Any]:
    """The medians of each round's own ratios: a round runs plain, bare and engine back to back.

    The ratio of the medians compares rounds minutes apart; on a machine whose speed drifts (here
    the plain script's rounds of one run went from 2.95 s to 2.36 s) it moves with the drift.
    """
    from bench._common import median

    plain, bare, engine = result["plain_all"], result["bare_all"], result["engine_all"]
    engine_ratios = [e / p for e, p in zip(engine, plain, strict=True)]
    bare_ratios = [b / p for b, p in zip(bare, plain, strict=True)]
    return {
        "engine_ratio": round(median(engine_ratios), 3),
        "engine_ratios": [round(r, 3) for r in engine_ratios],
        "bare_prefect_ratio": round(median(bare_ratios), 3) if bare_ratios else None,
        "bare_prefect_ratios": [round(r, 3) for r in bare_ratios],
        "engine_overhead_per_chunk_ms": round(
            median([(e - p) / chunks * 1000 for e, p in zip(engine, plain, strict=True)]), 2
        ),
    }


def print_cpu(what: str, cpu: dict[str, dict[str, float]]) -> None:
    """Where the engine's extra work goes, in CPU ms per chunk: robust when the machine is busy."""
    from bench._common import print_table

    rows = []
    for part in PARTS:
        plain, engine = cpu["plain"][part], cpu["engine"][part]
        rows.append([part, f"{plain:.1f}", f"{engine:.1f}", f"{engine - plain:+.1f}"])
    plain_total, engine_total = sum(cpu["plain"].values()), sum(cpu["engine"].values())
    rows.append(["total", f"{plain_total:.1f}", f"{engine_total:.1f}", f"{engine_total - plain_total:+.1f}"])
    print_table(f"CPU per chunk by part (ms) — {what}", ["part", "plain", "engine", "extra"], rows)


async def measure_all(
    url: str, chunks: int, rounds: int, scale: list[int], laps: Laps
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Every comparison in one event loop, so one Chromium serves them all, as in a long-lived process.

    One warm-up of each side for the main comparison (the first runs after Chromium's launch and the
    process's first flow run pay one-time costs) and one for the first scale point (the first
    light-chunk runs were slower too, a new agent's first run was not); the larger points then start
    warm. They were each measured in a fresh event loop — a new Chromium, and so a warm-up run each:
    the 1,000-chunk point ran its 1,000 chunks twice over.
    """
    from agents_store.backends import open_store
    from agents_store.settings import get_settings
    from flows._prefect import PrefectClients
    from tasks.browser.session import find_chromium, shared_browser

    settings = get_settings()
    store = open_store(settings.resolved_database_url())
    # Prefect's clients kept across runs, as the dashboard keeps them for the runs it starts.
    async with (
        PrefectClients(),
        shared_browser(headless=True, executable=find_chromium(settings.chromium)) as browser,
    ):
        result = await measure(store, browser, url, chunks, rounds, warm_up=True, bare=True)
        laps.done(f"{chunks} chunks × 5 actions: warm-up and {rounds} rounds")
        scaled = []
        for index, size in enumerate(scale):
            scaled.append(await measure_light(store, browser, url, size, warm_up=index == 0))
            laps.done(f"scale: {size:,} chunks")
    store.close()
    return result, scaled


async def measure_light(
    store: AgentStore, browser: Any, url: str, chunks: int, *, warm_up: bool
) -> dict[str, Any]:
    """The scale point: fewer rounds as the agent grows, so the whole table stays within minutes."""
    rounds = 3 if chunks <= 100 else 1
    return await measure(
        store, browser, url, chunks, rounds, light_actions, plain_light_script, warm_up=warm_up
    )


async def measure(
    store: AgentStore,
    browser: Any,
    url: str,
    chunks: int,
    rounds: int,
    actions: Callable[[int, str], list[dict[str, Any]]] = chunk_actions,
    plain: Callable[[Any, str, int], Awaitable[None]] = plain_script,
    *,
    warm_up: bool = False,
    bare: bool = False,
) -> dict[str, Any]:
    """``rounds`` of the plain script and the engine, alternately, on an agent of ``chunks`` chunks
    (and of ``bare_prefect_flow`` between them when ``bare``)."""
    from agents_store.documents import parse_definition
    from bench._common import median
    from cli._prefect import quiet_prefect_console
    from flows.run_agent import run_agent

    doc = {
        "name": "Engine benchmark",
        "loom_url": "https://www.loom.com/share/00000000000000000000000000000bec",
        "settings": {"retries": 0, "retry_delay_seconds": 0},
        "chunks": [{"name": f"Step {n}", "actions": actions(n, url)} for n in range(1, chunks + 1)],
    }
    agent = store.create(parse_definition(doc))
    plain_times: list[float] = []
    engine_times: list[float] = []
    bare_times: list[float] = []
    bare_flow = bare_prefect_flow(browser)

    cpu: dict[str, list[CpuSample]] = {"plain": [], "engine": []}

    async def engine_once() -> float:
        with cpu_by_part() as sample:
            started = time.perf_counter()
            with quiet_prefect_console():  # as `agentctl run` does: run logs go to Prefect, not the terminal
                state = await run_agent(str(agent.id), return_state=True)
            elapsed = time.perf_counter() - started
            await until_quiet()  # the server records the run's events after it ends
        cpu["engine"].append(sample)
        if not state.is_completed():
            raise SystemExit(f"engine run failed: {state.message}")
        return elapsed

    async def plain_once() -> float:
        with cpu_by_part() as sample:
            started = time.perf_counter()
            await plain(browser, url, chunks)
            elapsed = time.perf_counter() - started
            await until_quiet()
        cpu["plain"].append(sample)
        return elapsed

    async def bare_once() -> float:
        started = time.perf_counter()
        with quiet_prefect_console():
            await bare_flow(url, chunks)
        elapsed = time.perf_counter() - started
        await until_quiet()
        return elapsed

    if warm_up:
        await plain_once()
        if bare:
            await bare_once()
        await engine_once()
        cpu = {"plain": [], "engine": []}
    for _ in range(rounds):
        plain_times.append(await plain_once())
        if bare:
            bare_times.append(await bare_once())
        engine_times.append(await engine_once())
    return {
        "plain_s": median(plain_times),
        "engine_s": median(engine_times),
        "bare_s": median(bare_times) if bare_times else None,
        "bare_all": bare_times,
        "plain_all": plain_times,
        "engine_all": engine_times,
        "cpu_ms_per_chunk": {
            side: {
                part: round(median([s.seconds[part] for s in samples]) * 1000 / chunks, 2) for part in PARTS
            }
            for side, samples in cpu.items()
        },
    }


if __name__ == "__main__":
    main()
