"""Errors of running an agent as a whole (the tree is drawn in ``agents_store/errors.py``)."""

from __future__ import annotations

from agents_store.errors import ExecutionError

__all__ = ["ChunkFailed", "PauseTimedOut", "RunAborted", "RunCancelled", "RunNotPaused", "RunRefused"]


class RunRefused(ExecutionError):
    """The run may not start as asked (e.g. a selected chunk still needs review)."""


class ChunkFailed(ExecutionError):
    """A chunk failed after its last attempt; the run stopped there."""

    def __init__(self, message: str, *, order: int) -> None:
        super().__init__(message)
        self.order = order


class RunAborted(ExecutionError):
    """Someone aborted the run at an approval or step pause."""


class RunCancelled(ExecutionError):
    """Someone cancelled the run in Prefect (its UI, CLI or API); it stopped before its next chunk."""


class PauseTimedOut(ExecutionError):
    """Nobody answered an approval or step pause within the pause timeout."""


class RunNotPaused(ExecutionError):
    """A decision was sent to a run that is not waiting for one."""
