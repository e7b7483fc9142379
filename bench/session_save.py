"""The session a run saves after every chunk: agentctl's reader against Playwright's ``storage_state``.

A run reads its browser session (cookies, local storage) after every chunk, so a later run can start
from the middle (``--from-chunk``). Both readers run on the same page of the same context,
alternately, after the page did one chunk of the engine benchmark's actions: first with one origin
in the context, then with two (a sign-in host and an app host — here ``127.0.0.1`` and ``localhost``
of one local server), where Playwright's reader opens a hidden page to visit the origin the page is
not on. Figures: median wall time of one read, and the ratio agentctl / Playwright.

    uv run python -m bench.session_save [--reads 40]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.engine import chunk_by_hand, site


async def _read_times(
    readers: dict[str, Callable[[], Awaitable[Any]]], before: Callable[[], Awaitable[None]], reads: int
) -> dict[str, float]:
    """Median seconds of each reader, each read after ``before`` (the readers alternate)."""
    from bench._common import median

    times: dict[str, list[float]] = {name: [] for name in readers}
    for _ in range(reads):
        for name, read in readers.items():
            await before()
            started = time.perf_counter()
            await read()
            times[name].append(time.perf_counter() - started)
    return {name: median(values) for name, values in times.items()}


async def measure(url: str, reads: int) -> dict[str, dict[str, float]]:
    from tasks.browser.session import RunBrowser, find_chromium

    other_origin = url.replace("127.0.0.1", "localhost")
    browser = RunBrowser(headless=True, executable=find_chromium())
    try:
        page = await browser.page()
        context = browser.context
        assert context is not None
        readers: dict[str, Callable[[], Awaitable[Any]]] = {
            "Playwright storage_state": context.storage_state,
            "agentctl": browser.session_state,
        }
        await page.goto(url + "/")
        await page.evaluate("localStorage.setItem('token', 'on the first origin')")
        order = iter(range(2, 10**6))

        async def a_chunk() -> None:
            await chunk_by_hand(page, url + "/", next(order))

        one = await _read_times(readers, a_chunk, reads)
        await browser.session_state()  # what the run read there, as after the chunks before
        await page.goto(other_origin + "/")
        await page.evaluate("localStorage.setItem('theme', 'on the second origin')")
        two = await _read_times(readers, a_chunk, reads)
    finally:
        await browser.close()
    return {"one origin": one, "two origins": two}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reads", type=int, default=40)
    args = parser.parse_args()

    from bench._common import Laps, print_table, write_results
    from cli.background_server import serve_in_background

    laps = Laps()
    with serve_in_background(site()) as url:
        result = asyncio.run(measure(url, args.reads))
    laps.done(f"{args.reads} reads of each reader, on one origin and on two")
    rows = []
    for case, times in result.items():
        ours, theirs = times["agentctl"], times["Playwright storage_state"]
        rows.append([case, f"{theirs * 1000:.1f} ms", f"{ours * 1000:.1f} ms", f"{ours / theirs:.2f}"])
    print_table(
        "Session save after a chunk — median of one read",
        ["context", "Playwright storage_state", "agentctl", "ratio"],
        rows,
    )
    path = write_results(
        "session_save",
        {
            "reads": args.reads,
            "milliseconds": {
                case: {name: round(seconds * 1000, 2) for name, seconds in times.items()}
                for case, times in result.items()
            },
            "phase_seconds": laps.seconds,
        },
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
