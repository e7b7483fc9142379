"""How the Prefect servers agentctl starts are configured: ``agentctl server``, the servers of tests
and benchmarks, and the temporary server of Prefect's embedded mode.

Kept free of imports so the command line can apply it before anything imports Prefect.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

__all__ = ["SERVER_TUNING", "tune_servers_started_here"]

SERVER_TUNING: dict[str, str] = {
    # Prefect's task-run recorder writes each task-run event (three per chunk) in a transaction of
    # its own by default. On SQLite those writes hold the one write lock so often that creating the
    # next flow run meets "database is locked": the API answers 503 and Prefect's client waits 2, 4,
    # 8 s before trying again (seen here: 7 of 8 back-to-back runs of 100 chunks started 2-6 s late).
    # Batched, the recorder writes at most once a second, the stalls were gone, and the server spent
    # about half the CPU per run. Task runs then show in Prefect's UI up to a second late; chunk
    # status in our store is written by the run itself and is not delayed.
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "100",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
    # The event persister writes every 20 events or every 5 s: a run's last events reached the
    # database (and the UI's event feed) up to 5 s after it ended, in the middle of the next run.
    # Within a second, as the task runs; the server's CPU per run did not change (0.74 against
    # 0.85 s for 20 chunks), and back-to-back runs met no 503.
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "1",
}
"""Settings of Prefect's server that agentctl changes from Prefect's defaults, and why."""


def tune_servers_started_here(environ: MutableMapping[str, str] = os.environ) -> None:
    """Give the servers this process starts (embedded mode, Prefect's test harness) our tuning.

    Prefect starts those servers with this process's environment; a value set already wins.
    """
    for name, value in SERVER_TUNING.items():
        environ.setdefault(name, value)
