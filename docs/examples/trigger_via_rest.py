"""Trigger an agent from another system through Prefect's REST API, and read what happened.

Only HTTP is needed: find the agent's deployment by name, create a flow run from it, poll the run's
state, and read the chunk table the run published as an artifact.

    python docs/examples/trigger_via_rest.py http://127.0.0.1:4200/api \
        run-agent/record-a-sale-and-tell-zapier base_url=http://…
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import httpx

FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def call(http: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    """One API call; a busy server answers 503 or 429 for a moment, so try again a few times."""
    for _ in range(10):
        response = http.request(method, path, **kwargs)
        if response.status_code not in (429, 503):
            break
        time.sleep(1)
    response.raise_for_status()
    return response.json()


def trigger_agent(
    api_url: str,
    deployment: str,
    params: dict[str, str] | None = None,
    mode: str = "automatic",
    timeout: float = 600,
) -> dict[str, Any]:
    flow_name, deployment_name = deployment.split("/", 1)
    with httpx.Client(base_url=api_url, timeout=30) as http:
        found = call(http, "GET", f"/deployments/name/{flow_name}/{deployment_name}")
        run = call(
            http,
            "POST",
            f"/deployments/{found['id']}/create_flow_run",
            json={"parameters": {"mode": mode, "params": params or {}}},
        )
        deadline = time.monotonic() + timeout
        while run["state"]["type"] not in FINAL and time.monotonic() < deadline:
            time.sleep(1)
            run = call(http, "GET", f"/flow_runs/{run['id']}")
        artifacts = call(
            http,
            "POST",
            "/artifacts/filter",
            json={"artifacts": {"flow_run_id": {"any_": [run["id"]]}, "type": {"any_": ["table"]}}},
        )
    chunks = json.loads(artifacts[0]["data"]) if artifacts else []
    return {
        "flow_run_id": run["id"],
        "state": run["state"]["type"],
        "message": run["state"].get("message"),
        "chunks": chunks,
    }


if __name__ == "__main__":
    api, name, *pairs = sys.argv[1:]
    result = trigger_agent(api, name, dict(pair.split("=", 1) for pair in pairs))
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    sys.exit(0 if result["state"] == "COMPLETED" else 1)
