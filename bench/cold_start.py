"""Cold start: ``agentctl run`` of a one-chunk agent as a new process, against a plain Python
Playwright script started the same way.

(a) embedded mode (no ``PREFECT_API_URL``: Prefect starts a temporary server in the process),
(b) against a running ``prefect server``. Also: ``agentctl list`` as a new process (it must not
import Prefect or Playwright), and where an ``agentctl run`` spends its import time.

    uv run python -m bench.cold_start [--rounds 5] [--embedded-rounds 2]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench._common import Laps, prefect_server, print_table, write_results
from bench.engine import site
from cli.background_server import serve_in_background

AGENTCTL = str(Path(sys.executable).parent / "agentctl")

PLAIN_SCRIPT = """
import asyncio, sys
from playwright.async_api import async_playwright
async def main():
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=sys.argv[2], args=["--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--no-first-run"])
        page = await browser.new_page()
        await page.goto(sys.argv[1])
        await page.locator("#btn").first.click()
        await browser.close()
asyncio.run(main())
"""


def wall(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed:\n{result.stderr[-2000:]}")
    return elapsed


def import_profile(env: dict[str, str], args: list[str], top: int = 8) -> list[tuple[str, float]]:
    """The modules whose import took longest (cumulative, first-level), from ``python -X importtime``."""
    code = f"import sys; sys.argv = {['agentctl', *args]!r}; from cli.main import main; main()"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    rows = []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$", line)
        if match and not match.group(2).startswith(" "):
            rows.append((match.group(2).strip(), int(match.group(1)) / 1e6))
    return sorted(rows, key=lambda r: -r[1])[:top]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--embedded-rounds", type=int, default=2)
    args = parser.parse_args()
    from tasks.browser.session import find_chromium

    chromium = find_chromium() or "chromium"
    home = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    base_env = {**os.environ, "AGENTCTL_HOME": str(home / "home"), "PREFECT_HOME": str(home / "prefect")}
    base_env.pop("PREFECT_API_URL", None)
    base_env.pop("AGENTCTL_DATABASE_URL", None)
    results: dict[str, Any] = {}
    laps = Laps()
    with serve_in_background(site()) as url:
        page = url + "/"
        doc = {
            "name": "Cold start",
            "loom_url": "https://www.loom.com/share/00000000000000000000000000000bec",
            "chunks": [
                {
                    "name": "Click",
                    "actions": [{"type": "goto", "url": page}, {"type": "click", "selector": "#btn"}],
                }
            ],
        }
        path = home / "agent.yaml"
        path.write_text(yaml.safe_dump(doc), encoding="utf-8")
        agent_id = subprocess.run(
            [AGENTCTL, "import", str(path)], env=base_env, capture_output=True, text=True, check=True
        ).stdout.strip()
        laps.done("start the site, import the agent")

        plain = [
            wall([sys.executable, "-c", PLAIN_SCRIPT, page, chromium], base_env) for _ in range(args.rounds)
        ]
        laps.done(f"plain script × {args.rounds}")
        listing = [wall([AGENTCTL, "list"], base_env) for _ in range(args.rounds)]
        leaked = (
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import sys; sys.argv=['agentctl','list']\nfrom cli.main import main\ntry: main()\n"
                    "except SystemExit: pass\n"
                    "print(sorted({m.split('.')[0] for m in sys.modules}"
                    " & {'prefect', 'playwright', 'fastapi'}))",
                ],
                env=base_env,
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        laps.done(f"agentctl list × {args.rounds}, its imports")
        embedded = [wall([AGENTCTL, "run", agent_id], base_env) for _ in range(args.embedded_rounds)]
        laps.done(f"agentctl run, embedded × {args.embedded_rounds}")
        with prefect_server() as api_url:
            laps.done("start a Prefect server")
            server_env = {**base_env, "PREFECT_API_URL": api_url}
            wall([AGENTCTL, "run", agent_id], server_env)  # the server's first run warms its caches
            served = [wall([AGENTCTL, "run", agent_id], server_env) for _ in range(args.rounds)]
            laps.done(f"agentctl run, served × 1 + {args.rounds}")
            profile = import_profile(server_env, ["list"]), import_profile(server_env, ["run", agent_id])
            laps.done("import profiles")
    base = statistics.median(plain)
    rows = [
        ["plain Playwright script (new process)", f"{base:.2f} s", "1.00", ""],
        [
            "agentctl run — embedded Prefect",
            f"{statistics.median(embedded):.2f} s",
            f"{statistics.median(embedded) / base:.2f}",
            "",
        ],
        [
            "agentctl run — running Prefect server",
            f"{statistics.median(served):.2f} s",
            f"{statistics.median(served) / base:.2f}",
            "≤ 2.0",
        ],
        ["agentctl list", f"{statistics.median(listing) * 1000:.0f} ms", "", "< 300 ms"],
    ]
    print_table(
        f"Cold start — medians of {args.rounds} (embedded: {args.embedded_rounds})",
        ["command", "wall", "ratio", "target"],
        rows,
    )
    print(f"agentctl list imports of prefect/playwright/fastapi: {leaked}")
    for title, top in zip(("agentctl list", "agentctl run (its imports)"), profile, strict=True):
        print_table(
            f"Import time, {title} (cumulative, top modules)",
            ["module", "seconds"],
            [[m, f"{s:.3f}"] for m, s in top],
        )
    results = {
        "plain_seconds": round(base, 3),
        "embedded_seconds": round(statistics.median(embedded), 3),
        "served_seconds": round(statistics.median(served), 3),
        "served_ratio": round(statistics.median(served) / base, 2),
        "embedded_ratio": round(statistics.median(embedded) / base, 2),
        "list_ms": round(statistics.median(listing) * 1000),
        "list_imports_prefect_or_playwright": leaked,
        "import_profile": {"list": profile[0], "run": profile[1]},
        "phase_seconds": laps.seconds,
    }
    print(f"results: {write_results('cold_start', results)}")


if __name__ == "__main__":
    main()
