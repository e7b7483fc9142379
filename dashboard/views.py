"""Store objects → the API's response models: the one place that decides what a page or client sees.

Pages render these same models, so a page never shows something the API would not.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from agents_store.documents import definition_to_dict
from agents_store.models import Agent, Chunk, ChunkStatus, loom_video_id, parse_video_time
from agents_store.store import ChunkResultRecord, RunRecord, RunStatus, Schedule
from agents_store.versions import action_lines
from dashboard.schemas import AgentOut, AwaitingOut, ChunkOut, Link, RunOut, ScheduleOut

__all__ = [
    "agent_out",
    "artifact_url",
    "chunk_outs",
    "run_chunk_outs",
    "run_out",
    "schedule_out",
    "video_link",
]

DECISIONS = {
    "approval": ["approve", "skip", "abort"],
    "step": ["continue", "run_to_end", "retry", "abort"],
}
_ALIVE = ("Starting", RunStatus.RUNNING, RunStatus.PAUSED)


def video_link(loom_url: str, start: str | None, end: str | None) -> Link | None:
    """The chunk's place in the video: a link that opens the Loom video at ``start``."""
    if not start and not end:
        return None
    url = f"https://www.loom.com/share/{loom_video_id(loom_url)}"
    if start:
        url += f"?t={parse_video_time(start)}"
    return Link(label=f"{start or ''}–{end or ''}", url=url)


def artifact_url(runs_dir: Path, run_id: uuid.UUID | str, path: str | None) -> Link | None:
    """A file a run kept (screenshot, trace) as a link the dashboard serves; None outside the run's folder."""
    if not path:
        return None
    folder = (runs_dir / str(run_id)).resolve()
    try:
        relative = Path(path).resolve().relative_to(folder)
    except ValueError:
        return None
    return Link(label=relative.name, url=f"/api/runs/{run_id}/files/{relative.as_posix()}")


def _trace_link(runs_dir: Path, chunk: Chunk) -> Link | None:
    """The newest Playwright trace a debugging run kept for this chunk."""
    if chunk.last_run_id is None:
        return None
    folder = runs_dir / str(chunk.last_run_id)
    traces = sorted(folder.glob(f"chunk-{chunk.order:02d}-trace-*.zip"), key=lambda p: p.stat().st_mtime)
    return artifact_url(runs_dir, chunk.last_run_id, str(traces[-1])) if traces else None


def _failure_links(runs_dir: Path, chunk: Chunk) -> dict[str, Link | None]:
    details = chunk.error_details or {}
    if chunk.status != ChunkStatus.FAILED:
        return {"screenshot": None, "trace": None, "task_run": None}
    run_id = details.get("flow_run_id") or chunk.last_run_id
    task_run = None
    if details.get("task_run_id"):
        from flows.prefect_ui import task_run_url

        url = task_run_url(str(details["task_run_id"]))
        task_run = Link(label="Prefect task run", url=url) if url else None
    return {
        "screenshot": artifact_url(runs_dir, run_id, details.get("screenshot")) if run_id else None,
        "trace": _trace_link(runs_dir, chunk),
        "task_run": task_run,
    }


def chunk_outs(agent: Agent, runs_dir: Path) -> list[ChunkOut]:
    documents = definition_to_dict(agent.definition())["chunks"]
    out: list[ChunkOut] = []
    for chunk, document in zip(agent.chunks, documents, strict=True):
        out.append(
            ChunkOut(
                id=chunk.id,
                order=chunk.order,
                name=chunk.name,
                start_time=chunk.start_time,
                end_time=chunk.end_time,
                video=video_link(agent.loom_url, chunk.start_time, chunk.end_time),
                status=chunk.status,
                retries=chunk.retries,
                attempts=chunk.attempts,
                error_summary=chunk.failure_summary() or None,
                error_details=chunk.error_details,
                actions=[a.model_dump(mode="json", by_alias=True, exclude_none=True) for a in chunk.actions],
                actions_yaml="".join(f"- {line}\n" for line in action_lines(document)),
                last_run_id=chunk.last_run_id,
                updated_at=chunk.updated_at,
                **_failure_links(runs_dir, chunk),
            )
        )
    return out


def run_chunk_outs(record: RunRecord | None, agent: Agent, runs_dir: Path) -> list[ChunkOut]:
    """The agent's chunk rows as this run has them.

    A row the run still holds is live. A row a later run of the agent has rewritten shows what this
    run recorded for the chunk (its ``results``, kept at each pause and at the end): the run's page
    showed the later run's statuses, a skipped chunk as Completed. A chunk the run did not select is
    marked out of it (``in_run`` False) rather than showing someone else's status as this run's.
    """
    rows = chunk_outs(agent, runs_dir)
    if record is None:
        return rows
    if record.results is None:  # before its first pause, or an older run: the rows are the best known
        selected = {r.order for r in rows} if record.chunks is None else set(record.chunks)
        return [
            row.model_copy(update={"in_run": True}) if row.order in selected else _not_in_run(row)
            for row in rows
        ]
    results = {r.chunk_id: r for r in record.results}
    out: list[ChunkOut] = []
    current = {row.id for row in rows}
    # Chunks the agent no longer has (an import --replace, a deletion in the editor since): the
    # run's page lost them, and with them what the run did, showing only "not in this run" rows.
    for gone in sorted(results.values(), key=lambda r: r.order):
        if gone.chunk_id not in current:
            out.append(_gone_chunk(gone, record, runs_dir))
    for row in rows:
        result = results.get(row.id)
        if result is None:
            out.append(_not_in_run(row))
        elif row.last_run_id == record.flow_run_id:
            out.append(row.model_copy(update={"in_run": True}))
        else:
            failed = result.status == ChunkStatus.FAILED
            out.append(
                row.model_copy(
                    update={
                        "in_run": True,
                        "name": result.name,
                        "status": result.status,
                        "attempts": result.attempts,
                        "error_summary": result.error if failed else None,
                        "error_details": None,
                        "screenshot": artifact_url(runs_dir, record.flow_run_id, result.screenshot),
                        "trace": None,
                        "task_run": None,
                        "last_run_id": record.flow_run_id,
                    }
                )
            )
    return out


def _gone_chunk(result: ChunkResultRecord, record: RunRecord, runs_dir: Path) -> ChunkOut:
    """A chunk of the run that the agent no longer has, as the run recorded it."""
    return ChunkOut(
        id=result.chunk_id,
        order=result.order,
        name=result.name,
        start_time=None,
        end_time=None,
        video=None,
        status=result.status,
        retries=None,
        attempts=result.attempts,
        error_summary=result.error if result.status == ChunkStatus.FAILED else None,
        error_details=None,
        screenshot=artifact_url(runs_dir, record.flow_run_id, result.screenshot),
        trace=None,
        task_run=None,
        actions=[],
        actions_yaml="",
        last_run_id=record.flow_run_id,
        updated_at=None,
        in_run=True,
    )


def _not_in_run(row: ChunkOut) -> ChunkOut:
    """A chunk the run did not select: none of another run's tries, error or evidence."""
    return row.model_copy(
        update={
            "in_run": False,
            "attempts": 0,
            "error_summary": None,
            "error_details": None,
            "screenshot": None,
            "trace": None,
            "task_run": None,
        }
    )


def schedule_out(schedule: Schedule | None) -> ScheduleOut | None:
    if schedule is None:
        return None
    return ScheduleOut.model_validate(schedule.model_dump(exclude={"agent_id"}))


def agent_out(agent: Agent, runs_dir: Path, schedule: Schedule | None = None) -> AgentOut:
    return AgentOut(
        id=agent.id,
        name=agent.name,
        description=agent.description,
        loom_url=agent.loom_url,
        github_repo_url=agent.github_repo_url,
        params=dict(agent.params),
        settings=agent.settings,
        status=agent.status,
        version=agent.version,
        created_at=agent.created_at,
        updated_at=agent.updated_at,
        chunks=chunk_outs(agent, runs_dir),
        schedule=schedule_out(schedule),
    )


def _awaiting(data: dict[str, Any] | None) -> AwaitingOut | None:
    if not data or data.get("kind") not in DECISIONS:
        return None
    description = str(data.get("description", ""))
    lines = [
        re.sub(r"\*\*(.+?)\*\*", r"\1", line)
        for line in description.splitlines()
        if re.match(r"^\d+\. ", line)
    ]
    return AwaitingOut(
        kind=data["kind"],
        key=str(data.get("key", "")),
        order=int(data.get("order", 0)),
        chunk=str(data.get("chunk", "")),
        chunk_id=data.get("chunk_id"),
        since=data.get("since"),
        description=description,
        lines=lines,
        decisions=DECISIONS[data["kind"]],
    )


def run_out(record: RunRecord, agent_name: str, prefect_url: str | None) -> RunOut:
    return RunOut(
        flow_run_id=record.flow_run_id,
        agent_id=record.agent_id,
        agent_name=agent_name,
        agent_version=record.agent_version,
        mode=record.mode,
        status=record.status,
        started_at=record.started_at,
        finished_at=record.finished_at,
        error=record.error,
        params=record.params,
        chunks=record.chunks,
        notes=record.notes,
        awaiting=_awaiting(record.awaiting) if record.status == RunStatus.PAUSED else None,
        finished=record.status not in _ALIVE,
        prefect_url=prefect_url,
    )
