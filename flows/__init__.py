"""An agent as a Prefect flow run: the plan, the flow, and the state written back to the store."""

import os

# Offline by default, before Prefect is imported by this package: no analytics, no telemetry calls.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
