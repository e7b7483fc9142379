"""In-process progress events, so a command running a flow can draw its live chunk table.

The store stays the record; these events only spare a local caller from polling it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["ProgressEvent", "listening", "publish"]

logger = logging.getLogger("agentctl.progress")


@dataclass(frozen=True)
class ProgressEvent:
    flow_run_id: uuid.UUID
    kind: str  # "plan", "chunk", "run"
    order: int | None = None
    status: str | None = None
    attempt: int | None = None
    message: str | None = None
    orders: tuple[int, ...] = ()


Listener = Callable[[ProgressEvent], None]
_listeners: list[Listener] = []


def publish(event: ProgressEvent) -> None:
    for listener in list(_listeners):
        try:
            listener(event)
        except Exception:  # a broken display must not break the run
            logger.exception("progress listener failed")


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)
