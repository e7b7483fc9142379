"""Running a flow from the command line with a live chunk table (rich)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import typer
from rich.live import Live
from rich.table import Table
from rich.text import Text

from cli._context import err_console
from cli._render import STATUS_STYLE
from tasks.steps import ChunkStep

if TYPE_CHECKING:
    from agents_store.store import AgentStore

__all__ = ["ChunkRow", "LiveRun", "a_run_started", "run_with_progress", "why_not_completed"]


def _why_stopped(stop: BaseException) -> str:
    """The reason a stopped run is settled with (its record's error, its running chunk's)."""
    from prefect.exceptions import TerminationSignal

    from cli._prefect import temporary_server_stopped

    if isinstance(stop, KeyboardInterrupt):
        return "interrupted (Ctrl+C)"
    if isinstance(stop, SystemExit | TerminationSignal):
        return "stopped by a signal (SIGTERM or SIGHUP)"
    if temporary_server_stopped():
        return _SERVER_STOPPED
    return f"the command running it stopped: {type(stop).__name__}"


_SERVER_STOPPED = "Prefect's temporary server stopped during the run"


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

    def settle_stopped(self, store: AgentStore, agent_id: str, stop: BaseException) -> None:
        """Settle the run the stop cut short, then show what the store has."""
        from agents_store.store import RunStatus
        from flows.reconcile import settle_run

        if self.flow_run_id is not None:
            settle_run(store, self.flow_run_id, RunStatus.CRASHED, _why_stopped(stop))
        self.show_stored(store, uuid.UUID(agent_id))

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
    store: AgentStore,
    transient: bool = False,
) -> Any:
    """Run ``run_agent`` in this process, drawing the table; returns the flow's final state.

    Stopped from outside — Ctrl+C, SIGTERM, or Prefect's temporary server gone (a Ctrl+C in the
    terminal stops it too, and the run's last reports to it fail with a connection error in place
    of the interrupt) — the run is settled in ``store`` (Prefect's crash hook may not have reached
    it), the table's last frame is redrawn from the store (it said Running), and an interrupt
    ends the command with one line and exit 130 (typer made it a silent 130, the dead server a
    traceback and 1). A SIGTERM goes on up to ``main``, which says so.
    """
    from cli._prefect import quiet_prefect_console, temporary_server_stopped
    from flows.progress import listening
    from flows.run_agent import run_agent

    async def main() -> Any:
        return await run_agent(**parameters, return_state=True)

    global _run_started  # noqa: PLW0603 - one run per command; main asks whether one was going
    _run_started = True
    stopped: BaseException | None = None
    with quiet_prefect_console(), listening(live_run.on_event):
        live = Live(live_run.table(), console=err_console, refresh_per_second=8, transient=transient)
        try:
            with live:

                def redraw(_: Any) -> None:
                    live.update(live_run.table())

                with listening(redraw):
                    try:
                        return asyncio.run(main())
                    except BaseException as stop:
                        stopped = stop
                        # the stop is what the user must hear of, not an error reading the store
                        with contextlib.suppress(Exception):
                            live_run.settle_stopped(store, parameters["agent_id"], stop)
                            live.update(live_run.table())
                        server_gone = isinstance(stop, Exception) and temporary_server_stopped()
                        if not (isinstance(stop, KeyboardInterrupt) or server_gone):
                            raise
        finally:
            if stopped is not None:
                _quiet_after_a_stop()
            if not err_console.is_terminal and not transient:
                # rich ends the table's last line only on a terminal; a stop's line went on its end
                err_console.line()
    run = live_run.flow_run_id
    ended = f"run {run} ended {live_run.status}" if run else "no run started"
    if isinstance(stopped, KeyboardInterrupt):
        err_console.print(f"agentctl: interrupted: {ended}", markup=False)
        raise typer.Exit(130)
    err_console.print(f"agentctl: error: {_SERVER_STOPPED}: {ended}", markup=False)
    raise typer.Exit(1)


_run_started = False


def a_run_started() -> bool:
    """Whether this command started a run (what a stop by a signal cuts short)."""
    return _run_started


def _quiet_after_a_stop() -> None:
    """What dies with a stop besides us says so on its way out: Prefect's log worker cannot send
    its last lines to a temporary server stopped by the same signal (a SIGTERM to the process
    group: "--- Error logging to API ---"), and the Playwright driver, in the terminal's group,
    closes its pipe under a pending call ("Future exception was never retrieved"). The run's
    record and the command's line say what happened."""
    logging.raiseExceptions = False
    logging.getLogger("asyncio").disabled = True


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
