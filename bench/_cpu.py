"""CPU time of this process and everything it started, by part: where a run's work goes.

Wall-time ratios move with whatever else the machine does; CPU seconds spent by each part (the
engine's own process, the Prefect server it talks to, Chromium and Playwright's driver) do not, so
they say which part an overhead belongs to even on a busy 2-core machine. Linux only (``/proc``).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["PARTS", "CpuSample", "cpu_by_part", "until_quiet"]

PARTS = ("engine process", "Prefect server", "Chromium", "Playwright driver")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: str) -> tuple[str, str, float] | None:
    """(parent pid, command name, CPU seconds) of a process, or None when it is gone.

    The CPU seconds include those of its exited children it has reaped: Chromium starts a
    renderer per browser context and its zygote reaps it when the context closes, so a run's
    renderer time stays counted (in its parent's) after the renderer is gone.
    """
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            head, tail = handle.read().rsplit(")", 1)
    except OSError:
        return None
    fields = tail.split()
    user, system, children_user, children_system = (int(value) for value in fields[11:15])
    return fields[1], head.split("(", 1)[1], (user + system + children_user + children_system) / _TICKS


def _part(pid: str, name: str) -> str:
    """Which part a process belongs to, by its command line (its command name once it has exited:
    an exited renderer waiting to be reaped has no command line, and was counted as the server's)."""
    if pid == str(os.getpid()):
        return "engine process"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            command = handle.read().replace(b"\0", b" ").decode(errors="replace") or name
    except OSError:
        return "gone"
    if "chrom" in command:
        return "Chromium"
    if "node" in command and "playwright" in command:
        return "Playwright driver"
    return "Prefect server"  # the only other process the benchmarks start (deployments.server)


def _descendants() -> dict[str, tuple[str, float]]:
    """(part, CPU seconds) of this process and each of its live descendants, by pid."""
    stats = {pid: stat for pid in os.listdir("/proc") if pid.isdigit() and (stat := _stat(pid))}
    mine = {str(os.getpid())}
    grew = True
    while grew:
        grew = False
        for pid, (parent, _, _) in stats.items():
            if parent in mine and pid not in mine:
                mine.add(pid)
                grew = True
    return {pid: (_part(pid, stats[pid][1]), stats[pid][2]) for pid in mine}


@dataclass
class CpuSample:
    """CPU seconds by part between ``cpu_by_part``'s start and end (filled in at the end)."""

    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


@contextmanager
def cpu_by_part() -> Iterator[CpuSample]:
    """Measure the CPU the block costs this process and its descendants, grouped by part.

    A process reaped inside the block has its whole CPU time added to its parent's; the time it
    had used before the block is taken off again, so the closing of an earlier run's renderer is
    not charged to this block.
    """
    before = _descendants()
    sample = CpuSample()
    yield sample
    after = _descendants()
    totals = dict.fromkeys(PARTS, 0.0)
    for pid, (part, seconds) in after.items():
        if part in totals:
            totals[part] += seconds - before.get(pid, (part, 0.0))[1]
    for pid, (part, seconds) in before.items():
        if pid not in after and part in totals:
            totals[part] -= seconds
    sample.seconds = totals


def _seconds_of(part: str) -> float:
    return sum(seconds for of, seconds in _descendants().values() if of == part)


async def until_quiet(
    part: str = "Prefect server",
    *,
    at_least: float = 1.0,
    at_most: float = 10.0,
    window: float = 0.5,
    busy: float = 0.05,
) -> float:
    """Wait until ``part`` uses under ``busy`` of a core over ``window`` s; returns the seconds waited.

    Prefect's server records a run's events and task runs after the run has returned. Measured
    next, a plain script shared the cores with that work (it was slower by a varying amount, and so
    the engine's ratio better by as much: 1.08-1.15x for the same code); a fixed pause either wasted
    time or was too short. Waited for in every side's measurement, it is charged to the run that
    caused it, in its CPU by part and not in its wall time.
    """
    started = time.perf_counter()
    await asyncio.sleep(at_least)
    before = _seconds_of(part)
    while time.perf_counter() - started < at_most:
        await asyncio.sleep(window)
        now = _seconds_of(part)
        if now - before < busy * window:
            break
        before = now
    return time.perf_counter() - started
