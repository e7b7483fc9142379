"""SIGTERM while a flow runs inside a long-lived process that serves other work: the dashboard.

Prefect arms its own SIGTERM handler for the length of each flow run in the main thread; it raises
``TerminationSignal`` in whatever frame the main thread is in. In a process whose one event loop also
serves the dashboard, that frame is often an asyncio callback, which catches and logs the exception:
the signal was lost, and ``systemctl stop`` waited for its SIGKILL. A host that handles SIGTERM
itself (uvicorn's graceful shutdown, which cancels the runs it started so their hooks settle them)
runs its flows within ``sigterm_handled_by``, and each of them puts that handler back.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import FrameType
from typing import Any

__all__ = ["SigtermHandler", "current_sigterm_handler", "restore_host_sigterm", "sigterm_handled_by"]

SigtermHandler = Callable[[int, FrameType | None], Any] | int | None

_host_handler: ContextVar[SigtermHandler] = ContextVar("agentctl_host_sigterm", default=None)


def current_sigterm_handler() -> SigtermHandler:
    """The handler installed now, read in the main thread (elsewhere there is none to keep).

    Read it before any run starts: while one is live, it is Prefect's.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.getsignal(signal.SIGTERM)


@contextmanager
def sigterm_handled_by(handler: SigtermHandler) -> Iterator[None]:
    """Flow runs started within put ``handler`` back for SIGTERM (``None``: leave Prefect's)."""
    token = _host_handler.set(handler)
    try:
        yield
    finally:
        _host_handler.reset(token)


def restore_host_sigterm() -> None:
    """Called first thing in a flow run: give SIGTERM back to the host that asked for it.

    Prefect puts back what it replaced when the run ends, which is the host's handler too.
    """
    handler = _host_handler.get()
    if handler is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
