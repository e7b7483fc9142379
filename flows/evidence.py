"""What a run leaves in Prefect for people to read: a markdown report and a table artifact.

Both are built from data that is already masked (error details, chunk results), and link to the
files the run kept under ``$AGENTCTL_HOME/runs/<flow_run_id>/``.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.steps import ChunkStep

__all__ = ["ChunkOutcome", "publish_run_artifacts"]


@dataclass
class ChunkOutcome:
    step: ChunkStep
    status: str
    attempts: int = 0
    duration_seconds: float | None = None
    error: str | None = None
    screenshot: str | None = None
    trace: str | None = None
    fallbacks: dict[int, str] | None = None


def _key(agent_id: str) -> str:
    return "agent-" + re.sub(r"[^a-z0-9-]", "-", agent_id.lower())[:40] + "-last-run"


async def publish_run_artifacts(
    *,
    agent_id: str,
    agent_name: str,
    agent_version: int,
    mode: str,
    outcomes: list[ChunkOutcome],
    artifacts_dir: Path,
) -> None:
    from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact

    rows: list[dict[str, Any]] = [
        {
            "chunk": o.step.title,
            "status": o.status,
            "attempts": o.attempts,
            "duration_s": round(o.duration_seconds, 3) if o.duration_seconds is not None else None,
            "error": o.error or "",
        }
        for o in outcomes
    ]
    lines = [
        f"# {_md(agent_name)} — version {agent_version}, {mode} mode",
        "",
        "| chunk | status | attempts | duration | error |",
        "| --- | --- | --- | --- | --- |",
    ]
    for o in outcomes:
        duration = f"{o.duration_seconds:.2f} s" if o.duration_seconds is not None else ""
        error = _md(o.error or "")
        if o.screenshot:
            error += f" ([screenshot]({Path(o.screenshot).as_uri()}))"
        if o.trace:
            error += f" ([trace]({Path(o.trace).as_uri()}))"
        if o.fallbacks:
            error += " fallback selectors used: " + ", ".join(f"`{_md(s)}`" for s in o.fallbacks.values())
        lines.append(f"| {_md(o.step.title)} | {o.status} | {o.attempts} | {duration} | {error} |")
    lines += ["", f"Files of this run: [{artifacts_dir}]({artifacts_dir.as_uri()})"]
    await asyncio.gather(  # two independent API calls at the end of every run: one round trip of wait
        acreate_markdown_artifact(
            markdown="\n".join(lines), key=_key(agent_id), description="agentctl run report"
        ),
        acreate_table_artifact(table=rows, key=_key(agent_id) + "-table", description="chunks of this run"),
    )


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
