"""Deployments against a real ``prefect server start``: Prefect's own CLI on our deployments, cron
schedules that fire under ``agentctl serve``, triggers (ours, and the REST example of the docs),
verification through a deployment, renames and deletes."""

from __future__ import annotations

import importlib.util
import json
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.factories import LOOM
from tests.helpers import AGENTCTL, agentctl, embedded_env, process_env, resume_as_prefect_ui, wait_for

pytestmark = pytest.mark.browser

ROOT = Path(__file__).parents[2]


def prefect(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Prefect's own CLI, unmodified."""
    return subprocess.run(
        [str(Path(AGENTCTL).parent / "prefect"), *args],
        env={**env, "PREFECT_CLI_PROMPT": "false", "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, prefect_server: str, chromium: str
) -> Iterator[dict[str, str]]:
    """``agentctl serve`` running for this module's tests, on its own store."""
    home = tmp_path_factory.mktemp("served")
    env = process_env(home, prefect_server)
    started_in = home / "started-in"  # not the checkout: runs must not depend on serve's folder
    started_in.mkdir()
    process = subprocess.Popen(
        [AGENTCTL, "serve", "--poll", "1"],
        env=env,
        cwd=started_in,
        stdout=subprocess.DEVNULL,
        stderr=open(home / "serve.log", "w"),  # noqa: SIM115 - lives as long as the process
    )
    try:
        yield env
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def import_agent(env: dict[str, str], tmp_path: Path, name: str, chunks: list[dict[str, Any]]) -> str:
    doc = {
        "name": name,
        "loom_url": LOOM,
        "params": {"page": name.lower().replace(" ", "-")},
        "settings": {"retries": 0, "retry_delay_seconds": 0, "action_timeout_ms": 3000},
        "chunks": chunks,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    result = agentctl(env, "import", str(path))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def page_chunks(base_url: str) -> list[dict[str, Any]]:
    return [
        {"name": "Open", "actions": [{"type": "goto", "url": f"{base_url}/page/{{{{ params.page }}}}"}]},
        {"name": "Click", "actions": [{"type": "click", "selector": "#real"}]},
    ]


def deployment_of(env: dict[str, str], agent_id: str) -> dict[str, Any] | None:
    found = httpx.post(
        f"{env['PREFECT_API_URL']}/deployments/filter",
        json={"deployments": {"tags": {"all_": [f"agent:{agent_id}"]}}},
        timeout=10,
    ).json()
    return found[0] if found else None


def runs_of(env: dict[str, str], agent_id: str) -> list[dict[str, Any]]:
    result = agentctl(env, "runs", agent_id, "--json")
    assert result.returncode == 0, result.stderr
    runs: list[dict[str, Any]] = json.loads(result.stdout)
    return runs


def schedule_states(env: dict[str, str]) -> dict[str, tuple[str, bool]]:
    """``agentctl schedules``: each scheduled agent's state, and whether a next run is shown."""
    result = agentctl(env, "schedules", "--json")
    assert result.returncode == 0, result.stderr
    return {s["agent_id"]: (s["state"], s["next_run"] is not None) for s in json.loads(result.stdout)}


def test_prefect_cli_deploys_lists_and_runs_our_deployments(
    tmp_path: Path, prefect_server: str, base_url: str
) -> None:
    env = process_env(tmp_path, prefect_server)
    created = prefect(env, "work-pool", "create", "agentctl", "--type", "process")
    assert created.returncode == 0 or "already exists" in created.stdout + created.stderr
    deployed = prefect(env, "deploy", "--all", "--no-prompt", cwd=ROOT)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    agent_id = import_agent(env, tmp_path, "Prefect CLI", page_chunks(base_url))
    ours = agentctl(env, "deploy", agent_id, "--pool", "agentctl")
    assert ours.returncode == 0, ours.stderr
    assert "run-agent/prefect-cli" in ours.stdout
    listed = prefect(env, "deployment", "ls")
    assert "run-agent/run-agent" in listed.stdout
    assert "run-agent/prefect-cli" in listed.stdout
    started = prefect(env, "deployment", "run", "run-agent/prefect-cli", "-p", "mode=verification")
    assert started.returncode == 0, started.stdout + started.stderr
    flow_runs = prefect(env, "flow-run", "ls")
    assert flow_runs.returncode == 0
    deployment = deployment_of(env, agent_id)
    assert deployment is not None
    assert deployment["parameters"] == {"agent_id": agent_id, "mode": "automatic"}
    assert deployment["pull_steps"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}
    ]
    generic = httpx.get(f"{prefect_server}/deployments/name/run-agent/run-agent", timeout=10).json()
    assert generic["entrypoint"] == "flows/run_agent.py:run_agent"
    assert generic["work_pool_name"] == "agentctl"

    deleted = agentctl(env, "delete", agent_id, "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert "removed its Prefect deployment (1)" in deleted.stderr
    assert deployment_of(env, agent_id) is None


def test_a_cron_schedule_fires_runs_whose_statuses_land(
    served: dict[str, str], tmp_path: Path, base_url: str
) -> None:
    agent_id = import_agent(served, tmp_path, "Every fifteen seconds", page_chunks(base_url))
    scheduled = agentctl(
        served, "schedule", agent_id, "--cron", "* * * * * */15", "--timezone", "Europe/Paris"
    )
    assert scheduled.returncode == 0, scheduled.stderr
    assert "on run-agent/every-fifteen-seconds" in scheduled.stdout
    listed = json.loads(agentctl(served, "schedules", "--json").stdout)
    assert [(s["agent_id"], s["cron"], s["timezone"]) for s in listed] == [
        (agent_id, "* * * * * */15", "Europe/Paris")
    ]
    assert listed[0]["next_run"] is not None

    def completed_run() -> dict[str, Any] | None:
        return next((r for r in runs_of(served, agent_id) if r["status"] == "Completed"), None)

    run = wait_for("a scheduled run to complete", completed_run, timeout=120, every=1)
    assert run["triggered_by"].startswith("deployment:")

    off = agentctl(served, "schedule", agent_id, "--off")
    assert off.returncode == 0, off.stderr
    assert json.loads(agentctl(served, "schedules", "--json").stdout) == []
    deployment = deployment_of(served, agent_id)
    assert deployment is not None
    assert deployment["schedules"] == []

    def chunk_statuses() -> list[str]:
        shown = json.loads(agentctl(served, "show", agent_id, "--json").stdout)
        return [c["status"] for c in shown["chunks"]]

    def settled() -> bool:
        # A run the worker had already taken before --off finishes (its record may not exist yet
        # while its process starts); only runs still waiting in Scheduled are removed.
        runs = runs_of(served, agent_id)
        return all(r["status"] != "Running" for r in runs) and chunk_statuses() == ["Completed"] * 2

    wait_for("runs in flight to finish", settled, timeout=90, every=1)

    def prefect_runs() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = httpx.post(
            f"{served['PREFECT_API_URL']}/flow_runs/filter",
            json={"deployments": {"id": {"any_": [deployment["id"]]}}},
            timeout=10,
        ).json()
        return found

    def all_final() -> list[dict[str, Any]] | None:
        runs = prefect_runs()
        final = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
        return runs if all(r["state_type"] in final for r in runs) else None

    # Prefect's own record, not ours: a run taken before --off writes its record only once its
    # process is up. After one more cron period with no schedule, the deployment has no new run.
    before = {r["id"] for r in wait_for("Prefect's runs to end", all_final, timeout=90, every=1)}
    time.sleep(16)
    assert {r["id"] for r in prefect_runs()} == before


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--cron", "61 * * * *"), "error: --cron: '61 * * * *' is not a valid cron expression"),
        (("--cron", "* * *"), "error: --cron: '* * *' has 3 fields"),
        (("--cron", "0 9 31 2 *"), "error: --cron: '0 9 31 2 *' never fires: no date matches it"),
        (
            ("--cron", "0 9 * * 1-5", "--timezone", "Mars/Olympus"),
            "error: --timezone: 'Mars/Olympus' is not a time zone",
        ),
        (("--cron", "0 9 * * *", "--mode", "fast"), "error: --mode: 'fast' is not one of"),
        (("--cron", "0 9 * * *", "--param", "nope=1"), "error: --param: nope is not a param of this agent"),
    ],
)
def test_a_bad_schedule_changes_nothing(
    tmp_path: Path, prefect_server: str, base_url: str, args: tuple[str, ...], expected: str
) -> None:
    env = process_env(tmp_path, prefect_server)
    agent_id = import_agent(env, tmp_path, "Bad schedule", page_chunks(base_url))
    result = agentctl(env, "schedule", agent_id, *args)
    assert result.returncode == 1
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads(agentctl(env, "schedules", "--json").stdout) == []
    assert deployment_of(env, agent_id) is None


def test_trigger_with_wait_and_the_documented_rest_example(
    served: dict[str, str], tmp_path: Path, base_url: str, site: Any
) -> None:
    agent_id = import_agent(served, tmp_path, "Triggered", page_chunks(base_url))
    missing = agentctl(served, "trigger", agent_id)
    if missing.returncode == 1:  # serve has not picked the new agent up yet
        assert "has no deployment yet" in missing.stderr
    wait_for("serve to deploy the new agent", lambda: deployment_of(served, agent_id), timeout=30)

    result = agentctl(served, "trigger", agent_id, "--param", "page=by-trigger", "--wait")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "flow run " in result.stdout
    assert "/runs/flow-run/" in result.stdout
    assert "Completed" in result.stdout
    assert "WARNING" not in result.stderr  # Prefect's deprecation of poll_interval showed here
    assert site.hits["by-trigger"] >= 1

    spec = importlib.util.spec_from_file_location(
        "trigger_via_rest", ROOT / "docs/examples/trigger_via_rest.py"
    )
    assert spec is not None
    assert spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    answer = example.trigger_agent(
        served["PREFECT_API_URL"], "run-agent/triggered", {"page": "by-rest"}, timeout=120
    )
    assert answer["state"] == "COMPLETED", answer
    assert [row["status"] for row in answer["chunks"]] == ["Completed", "Completed"]
    assert site.hits["by-rest"] == 1
    runs = runs_of(served, agent_id)
    assert answer["flow_run_id"] in [r["flow_run_id"] for r in runs]

    bad = agentctl(served, "trigger", agent_id, "--param", "nope=1")
    assert bad.returncode == 1
    assert "error: --param: nope is not a param" in bad.stderr

    # A run the flow would refuse is refused here: it was queued, and failed in serve's log.
    gated_chunks = page_chunks(base_url)
    gated_chunks[1]["status"] = "Needs Review"
    gated = import_agent(served, tmp_path, "Gated", gated_chunks)
    wait_for("serve to deploy the gated agent", lambda: deployment_of(served, gated), timeout=30)
    refused = agentctl(served, "trigger", gated)
    assert refused.returncode == 1
    assert "needs review" in refused.stderr
    assert "flow run" not in refused.stdout
    forced = agentctl(served, "trigger", gated, "--force", "--param", "page=forced", "--wait")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert site.hits["forced"] == 1


def test_verification_through_a_deployment_run(served: dict[str, str], tmp_path: Path, base_url: str) -> None:
    agent_id = import_agent(served, tmp_path, "Verified", page_chunks(base_url))
    wait_for("serve to deploy the new agent", lambda: deployment_of(served, agent_id), timeout=30)
    # --wait exits 0 only when every chunk completed: a person skips chunk 2 below (it said 0).
    waiting = subprocess.Popen(
        [AGENTCTL, "trigger", agent_id, "--mode", "verification", "--wait"],
        env=served,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert waiting.stdout is not None
    flow_run_id = waiting.stdout.readline().split()[2]

    def pending(order: int) -> dict[str, Any] | None:
        listed = json.loads(agentctl(served, "pending", "--json").stdout or "[]")
        return next((p for p in listed if p["flow_run_id"] == flow_run_id and p["order"] == order), None)

    wait_for("chunk 1 to wait for approval", lambda: pending(1), timeout=120, every=1)
    assert agentctl(served, "approve", flow_run_id[:8], "--note", "by cli").returncode == 0
    wait_for("chunk 2 to wait for approval", lambda: pending(2), timeout=60, every=1)
    resumed = resume_as_prefect_ui(
        served["PREFECT_API_URL"], flow_run_id, {"decision": "skip", "note": "by the UI's endpoint"}
    )
    assert resumed.status_code in (200, 201), resumed.text
    assert resumed.json()["status"] == "ACCEPT", resumed.text
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 1, out + err
    assert "Completed" in out
    assert "run completed, but skipped chunk" in err

    def finished() -> dict[str, Any] | None:
        run = next((r for r in runs_of(served, agent_id) if r["flow_run_id"] == flow_run_id), None)
        return run if run and run["status"] == "Completed" else None

    run = wait_for("the run to complete", finished, timeout=60, every=1)
    assert [n["note"] for n in run["notes"]] == ["by cli", "by the UI's endpoint"]
    assert run["mode"] == "verification"


def test_a_rename_keeps_the_deployment_and_a_delete_removes_it(
    served: dict[str, str], tmp_path: Path, base_url: str
) -> None:
    agent_id = import_agent(served, tmp_path, "Old name", page_chunks(base_url))
    first = wait_for("serve to deploy the new agent", lambda: deployment_of(served, agent_id), timeout=30)
    assert first["name"] == "old-name"
    assert agentctl(served, "edit", agent_id, "--name", "New name").returncode == 0

    def renamed() -> dict[str, Any] | None:
        found = deployment_of(served, agent_id)
        return found if found and "'New name'" in (found["description"] or "") else None

    after = wait_for("serve to update the renamed agent's deployment", renamed, timeout=30)
    assert after["id"] == first["id"]
    deleted = agentctl(served, "delete", agent_id, "--yes")
    assert deleted.returncode == 0, deleted.stderr
    # Either this command or serve's next look at the store removes it, whichever comes first.
    wait_for("the deployment to be removed", lambda: deployment_of(served, agent_id) is None, timeout=15)


def test_serve_runs_from_any_folder_stops_on_sigterm_and_resumes_its_schedules(
    tmp_path: Path, prefect_server: str, base_url: str, site: Any, chromium: str
) -> None:
    """Started outside the checkout, ``serve`` runs agents without copying code into its folder (it
    copied the whole checkout there, and every run after the first crashed); it leaves the runs of
    an agent deployed on a work pool to that pool's workers (it ran them too, racing the workers); a
    SIGTERM stops it, pausing the schedules only it ran; the next ``serve`` resumes them, and
    removes the deployment of an agent deleted in embedded mode meanwhile (it stayed, paused), but
    not the deployments of another store's agents on the same Prefect server."""
    env = process_env(tmp_path, prefect_server)
    agent_id = import_agent(env, tmp_path, "Served elsewhere", page_chunks(base_url))
    assert agentctl(env, "schedule", agent_id, "--cron", "0 3 * * *").returncode == 0
    later_id = import_agent(env, tmp_path, "Scheduled offline", page_chunks(base_url))
    offline = {k: v for k, v in env.items() if k != "PREFECT_API_URL"}
    assert agentctl(offline, "schedule", later_id, "--cron", "0 4 * * *").returncode == 0
    assert schedule_states(offline) == {agent_id: ("stored", True), later_id: ("stored", True)}
    # Deployed by `schedule`, but nothing runs its runs yet: not "on" (they would only go Late).
    assert schedule_states(env) == {agent_id: ("no runner", True), later_id: ("not deployed", False)}
    pooled_id = import_agent(env, tmp_path, "On a pool", page_chunks(base_url))
    pool = prefect(env, "work-pool", "create", "no-workers", "--type", "process")
    assert pool.returncode == 0 or "already exists" in pool.stdout + pool.stderr
    assert agentctl(env, "deploy", pooled_id, "--pool", "no-workers").returncode == 0
    started_in = tmp_path / "started-in"
    started_in.mkdir()

    def start_serve() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [AGENTCTL, "serve", "--poll", "1"],
            env=env,
            cwd=started_in,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "serve.log").open("a"),  # lives as long as the process
        )

    def paused() -> bool | None:
        deployment = deployment_of(env, agent_id)
        return None if deployment is None else bool(deployment["paused"])

    process = start_serve()
    try:
        wait_for("serve to deploy the agent", lambda: paused() is False, timeout=60)
        wait_for(
            "serve to poll for its runs",
            lambda: schedule_states(env)[agent_id] == ("on", True),
            timeout=30,
            every=1,
        )
        triggered = agentctl(env, "trigger", pooled_id, "--param", "page=pooled")
        assert triggered.returncode == 0, triggered.stderr
        pooled_run = triggered.stdout.split()[2]
        for n in (1, 2):
            result = agentctl(env, "trigger", agent_id, "--param", f"page=elsewhere-{n}", "--wait")
            log = (tmp_path / "serve.log").read_text()
            assert result.returncode == 0, result.stdout + result.stderr + log
            assert site.hits[f"elsewhere-{n}"] == 1
        assert list(started_in.iterdir()) == []
        # Serve looked for runs every second through both runs above: the pool's run is untouched.
        pooled = httpx.get(f"{prefect_server}/flow_runs/{pooled_run}", timeout=10).json()
        assert pooled["state_type"] == "SCHEDULED", pooled["state"]
        assert "pooled" not in site.hits
        log = (tmp_path / "serve.log").read_text()
        assert "kept run-agent/on-a-pool (On a pool) on work pool 'no-workers': its workers run it" in log
        # Moved to the pool while serve runs: its workers' now, so stopping serve must not pause it.
        assert agentctl(env, "deploy", later_id, "--pool", "no-workers").returncode == 0

        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        assert paused() is True
        assert deployment_of(env, pooled_id)["paused"] is False  # type: ignore[index]
        assert deployment_of(env, later_id)["paused"] is False  # type: ignore[index]
        assert schedule_states(env)[agent_id] == ("paused", False)
    finally:
        if process.poll() is None:
            process.kill()

    deleted = agentctl(offline, "delete", later_id, "--yes")  # Prefect is not asked in embedded mode
    assert deleted.returncode == 0, deleted.stderr
    assert deployment_of(env, later_id) is not None
    other_env = process_env(tmp_path / "other-store", prefect_server)
    other_id = import_agent(other_env, tmp_path, "In another store", page_chunks(base_url))
    assert agentctl(other_env, "schedule", other_id, "--cron", "0 5 * * *").returncode == 0
    process = start_serve()
    try:
        wait_for("the next serve to resume the agent's schedule", lambda: paused() is False, timeout=60)
        wait_for(
            "serve to poll again",
            lambda: schedule_states(env) == {agent_id: ("on", True)},
            timeout=30,
            every=1,
        )
        assert deployment_of(env, later_id) is None
        assert f"removed the deployment of deleted agent {later_id}" in (tmp_path / "serve.log").read_text()
        assert deployment_of(other_env, other_id) is not None
        # Deployed, but this serve runs its own store's agents only: nothing runs this one.
        assert schedule_states(other_env) == {other_id: ("no runner", True)}
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)


def test_serve_without_a_prefect_server_starts_one_whose_scheduler_fires_the_schedules(
    tmp_path: Path, base_url: str, site: Any, chromium: str
) -> None:
    """Without ``PREFECT_API_URL`` no schedule ever fired under ``serve``: Prefect's temporary server
    of embedded mode runs no scheduler. Serve now starts Prefect's server for as long as it runs."""
    env = embedded_env(tmp_path)
    agent_id = import_agent(env, tmp_path, "Offline schedule", page_chunks(base_url))
    assert agentctl(env, "schedule", agent_id, "--cron", "* * * * * */5").returncode == 0
    log = tmp_path / "serve.log"
    process = subprocess.Popen(
        [AGENTCTL, "serve", "--poll", "1"], env=env, stdout=subprocess.DEVNULL, stderr=log.open("w")
    )
    try:

        def completed_run() -> dict[str, Any] | None:
            return next((r for r in runs_of(env, agent_id) if r["status"] == "Completed"), None)

        run = wait_for("a scheduled run to complete", completed_run, timeout=120, every=1)
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0, log.read_text()
    assert run["triggered_by"].startswith("deployment:")
    assert site.hits["offline-schedule"] >= 1
    said = log.read_text()
    ui = re.search(r"Prefect UI: (http://127\.0\.0\.1:\d+)", said)
    assert ui is not None, said
    assert "could not pause" not in said  # the server outlived serve's own shutdown
    with pytest.raises(httpx.ConnectError):  # and went with it
        httpx.get(f"{ui.group(1)}/api/health", timeout=5)
