"""Prefect from the command line: which server we talk to, run links, and a quiet console."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from cli._context import err_console
from flows.prefect_ui import embedded_mode, flow_run_url

__all__ = ["embedded_mode", "flow_run_url", "note_prefect_mode", "quiet_prefect_console"]

_noted = False


def note_prefect_mode() -> None:
    """Say once per command which Prefect this command uses."""
    global _noted  # noqa: PLW0603 - one note per process is the point
    if _noted:
        return
    _noted = True
    if embedded_mode():
        err_console.print(
            "PREFECT_API_URL is not set: Prefect's embedded mode (a temporary server, 15-25 s to start)."
            " Run `agentctl server` and export PREFECT_API_URL to keep a UI and skip that wait.",
            markup=False,
            style="dim",
        )


@contextmanager
def quiet_prefect_console(level: int = logging.WARNING) -> Iterator[None]:
    """Keep Prefect's INFO lines off the terminal (they still go to Prefect's API and UI)."""
    from prefect.logging.handlers import PrefectConsoleHandler

    handlers: list[tuple[logging.Handler, int]] = []
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        if isinstance(logger, logging.Logger):
            for handler in logger.handlers:
                if isinstance(handler, PrefectConsoleHandler) and all(handler is not h for h, _ in handlers):
                    handlers.append((handler, handler.level))
                    handler.setLevel(max(level, handler.level))
    try:
        yield
    finally:
        for handler, previous in handlers:
            handler.setLevel(previous)
