"""Which Prefect a process talks to, and links into its UI, for every way in (CLI and dashboard).

A link is only worth giving when a UI outlives the process: in embedded mode (no ``PREFECT_API_URL``)
Prefect's temporary server stops with it, so there is no page to link to.
"""

from __future__ import annotations

import os
import uuid

__all__ = ["embedded_mode", "flow_run_url", "task_run_url"]


def embedded_mode() -> bool:
    """True without ``PREFECT_API_URL``: Prefect then starts a temporary server in this process."""
    from prefect.settings import get_current_settings

    return not get_current_settings().api.url and not os.environ.get("PREFECT_API_URL")


def _ui_url() -> str | None:
    if embedded_mode():
        return None
    from prefect.settings import get_current_settings

    ui = get_current_settings().ui_url
    return ui.rstrip("/") if ui else None


def flow_run_url(flow_run_id: uuid.UUID | str) -> str | None:
    """The flow run's page in the Prefect UI, when a UI outlives this process."""
    ui = _ui_url()
    return f"{ui}/runs/flow-run/{flow_run_id}" if ui else None


def task_run_url(task_run_id: uuid.UUID | str) -> str | None:
    """A task run's page (one chunk's attempts) in the Prefect UI, when a UI outlives this process."""
    ui = _ui_url()
    return f"{ui}/runs/task-run/{task_run_id}" if ui else None
