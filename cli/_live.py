"""Running a flow from the command line with a live chunk table (rich)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.live import Live
from rich.table import Table
from rich.text import Text

from cli._context import err_console
from cli._render import STATUS_STYLE
from tasks.steps import ChunkStep

if TYPE_CHECKING:
    from collections.abc import Callable

    from agents_store.store import AgentStore

__all__ = ["ChunkRow", "LiveRun", "run_with_progress", "why_not_completed"]


@dataclass
class ChunkRow:
    order: int
    name: str
    status: str = "Not Started"
    attempts: int = 0
    message: str = ""


@dataclass
class LiveRun:
    """The chunk table, updated from the flow's progress events (another thread may draw it)."""

    rows: dict[int, ChunkRow]
    flow_run_id: uuid.UUID | None = None
    status: str = "Starting"
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def for_steps(cls, steps: list[ChunkStep]) -> LiveRun:
        return cls({s.order: ChunkRow(s.order, s.name or f"chunk {s.order}") for s in steps})

    def on_event(self, event: Any) -> None:
        with self._lock:
            self.flow_run_id = event.flow_run_id
            if event.kind == "chunk" and event.order in self.rows:
                row = self.rows[event.order]
                row.status = event.status or row.status
                row.attempts = event.attempt or row.attempts
                row.message = (event.message or "") if event.status != "Completed" else ""
            elif event.kind == "run":
                self.status = event.status or self.status
            elif event.kind == "plan":
                self.status = "Running"

    def show_stored(self, store: AgentStore, agent_id: uuid.UUID) -> None:
        """The rows and the run's status as the store settled them. A run stopped by Ctrl+C or
        SIGTERM sends no more events: the table's last frame said Running over a run the store had
        ended Crashed. Rows a later run or an edit took over are left as this run last drew them."""
        from agents_store.errors import AgentNotFound

        if self.flow_run_id is None:
            return
        try:
            record = store.get_run(self.flow_run_id)
            agent = store.get(agent_id)
        except AgentNotFound:
            return
        with self._lock:
            self.status = record.status.value
            for chunk in agent.chunks:
                row = self.rows.get(chunk.order)
                if row is not None and chunk.last_run_id == self.flow_run_id:
                    row.status = chunk.status
                    row.attempts = chunk.attempts
                    row.message = chunk.failure_summary()

    def table(self) -> Table:
        table = Table(box=None, header_style="bold", title=f"run {self.flow_run_id or '…'} · {self.status}")
        for column in ("#", "CHUNK", "STATUS", "TRIES", "DETAIL"):
            table.add_column(column)
        with self._lock:
            for row in self.rows.values():
                table.add_row(
                    str(row.order),
                    Text(row.name),
                    Text(row.status, style=STATUS_STYLE.get(row.status, "")),
                    str(row.attempts or ""),
                    Text(row.message[:120]),
                )
        return table


def run_with_progress(
    live_run: LiveRun,
    parameters: dict[str, Any],
    *,
    show: bool = True,
    transient: bool = False,
    when_stopped: Callable[[LiveRun], None] | None = None,
) -> Any:
    """Run ``run_agent`` in this process, drawing the table; returns the flow's final state.

    ``when_stopped`` brings the table up to date when the run is stopped from outside (Ctrl+C,
    SIGTERM), before its last frame is drawn; the stop then goes on up to the command."""
    from cli._prefect import quiet_prefect_console
    from flows.progress import listening
    from flows.run_agent import run_agent

    async def main() -> Any:
        return await run_agent(**parameters, return_state=True)

    with quiet_prefect_console(), listening(live_run.on_event):
        if not show:
            return asyncio.run(main())
        live = Live(live_run.table(), console=err_console, refresh_per_second=8, transient=transient)
        try:
            with live:

                def redraw(_: Any) -> None:
                    live.update(live_run.table())

                with listening(redraw):
                    try:
                        return asyncio.run(main())
                    except BaseException:
                        if when_stopped is not None:
                            # the stop is what the user must hear of, not an error reading the store
                            with contextlib.suppress(Exception):
                                when_stopped(live_run)
                                live.update(live_run.table())
                        raise
        finally:
            if not err_console.is_terminal and not transient:
                # rich ends the table's last line only on a terminal; a stop's line went on its end
                err_console.line()


def why_not_completed(store: AgentStore, run_id: uuid.UUID | None, final: Any) -> str:
    """The run's own error as the store recorded it (``chunk 2 "Sign in" failed: …``, a crash, a
    cancellation), else the message of Prefect's final state: a run refused before it started has
    no record, and Prefect wraps its error ("Flow run encountered an exception: RunRefused: …")."""
    from agents_store.errors import AgentNotFound

    if run_id is not None:
        with contextlib.suppress(AgentNotFound):  # no record: the run never started
            error = store.get_run(run_id).error
            if error:
                return error
    return str(final.message or final.name)
