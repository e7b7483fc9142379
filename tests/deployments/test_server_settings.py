"""The Prefect servers agentctl starts run with its tuning (``deployments.server_settings``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from deployments.server import server_env
from deployments.server_settings import SERVER_TUNING, tune_servers_started_here


def _settings(api_url: str) -> Any:
    answer = httpx.get(f"{api_url}/admin/settings", timeout=30)
    answer.raise_for_status()
    return answer.json()


def _recorder_settings(api_url: str) -> Any:
    return _settings(api_url)["server"]["services"]["task_run_recorder"]


def test_a_server_started_by_agentctl_batches_its_task_run_records(prefect_server: str) -> None:
    recorder = _recorder_settings(prefect_server)
    prefix = "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_"
    assert recorder["batch_size"] == int(SERVER_TUNING[prefix + "BATCH_SIZE"])
    assert recorder["flush_interval"] == float(SERVER_TUNING[prefix + "FLUSH_INTERVAL"])
    persister = _settings(prefect_server)["server"]["services"]["event_persister"]
    assert persister["flush_interval"] == float(
        SERVER_TUNING["PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL"]
    )


def test_prefects_own_temporary_server_gets_the_same_tuning(prefect_harness: None) -> None:
    from prefect.settings import get_current_settings

    api_url = get_current_settings().api.url
    assert api_url is not None
    assert _recorder_settings(api_url)["batch_size"] == 100


def test_a_setting_the_user_chose_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE", "7")
    env = server_env(host="127.0.0.1", port=4299, home=tmp_path)
    assert env["PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE"] == "7"
    assert env["PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL"] == "1"

    environ = {"PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "5"}
    tune_servers_started_here(environ)
    assert environ == {**SERVER_TUNING, "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "5"}
