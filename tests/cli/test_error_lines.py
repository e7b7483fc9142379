"""Errors a user meets outside the store are one line on stderr too, with what to do about them: a
``PREFECT_API_URL`` that names no Prefect API, a path the OS refuses, a run id that names no run,
an empty store. Each case runs agentctl as users do, in a process of its own, against real servers
on 127.0.0.1 (a closed port, a web server that is not Prefect, a real Prefect server)."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tests.cli.conftest import CliRunner
from tests.factories import agent_doc
from tests.helpers import agentctl, process_env


def _closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


class _NotPrefect(BaseHTTPRequestHandler):
    """A web app that answers every GET with a page (a single-page app's fallback) and refuses POST
    with 501, as ``python -m http.server`` does: /health answers 200, so only asking for Prefect's
    version tells it apart."""

    def do_GET(self) -> None:
        body = b"<!doctype html><title>some app</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def not_prefect() -> Iterator[str]:
    """The base URL of a real HTTP server on 127.0.0.1 that is not Prefect."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotPrefect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def _agent(env: dict[str, str], tmp_path: Path) -> str:
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(agent_doc("Reachable", chunks=1)), encoding="utf-8")
    imported = agentctl(env, "import", str(path))
    assert imported.returncode == 0, imported.stderr
    return imported.stdout.strip()


@pytest.fixture(scope="module")
def unreachable(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], str, str]:
    """An environment whose PREFECT_API_URL names a port nothing listens on, its URL, and an agent."""
    tmp_path = tmp_path_factory.mktemp("unreachable")
    url = f"http://127.0.0.1:{_closed_port()}/api"
    env = process_env(tmp_path, url)
    return env, url, _agent(env, tmp_path)


@pytest.mark.parametrize("command", ["run", "logs", "schedules", "trigger", "delete"])
def test_a_prefect_api_url_where_nothing_listens_is_one_line_naming_it_and_the_fix(
    unreachable: tuple[dict[str, str], str, str], command: str
) -> None:
    env, url, agent_id = unreachable
    args = {
        "run": ["run", agent_id],
        "logs": ["logs", str(uuid.uuid4())],
        "schedules": ["schedules"],
        "trigger": ["trigger", agent_id],
        "delete": ["delete", agent_id, "--yes"],
    }[command]
    result = agentctl(env, *args)
    assert result.returncode == 1
    line = _one_line(result.stderr)
    assert line.startswith(f"agentctl: error: PREFECT_API_URL={url}: no server answers there"), line
    assert "`agentctl server`" in line
    assert result.stdout == ""  # `run` drew no table of a run that never started
    if command == "delete":  # checked before deleting anything
        assert agentctl(env, "show", agent_id).returncode == 0


def test_a_prefect_api_url_at_a_server_that_is_not_prefect_says_so(tmp_path: Path, not_prefect: str) -> None:
    url = f"{not_prefect}/api"
    result = agentctl(process_env(tmp_path, url), "logs", str(uuid.uuid4()))
    assert result.returncode == 1
    line = _one_line(result.stderr)
    assert line.startswith(f"agentctl: error: PREFECT_API_URL={url}: that is not a Prefect API"), line
    assert "http://127.0.0.1:4200/api" in line  # what `agentctl server` prints


def test_a_prefect_api_url_without_api_says_the_url_must_end_in_api(
    tmp_path: Path, prefect_server: str
) -> None:
    root = prefect_server.removesuffix("/api")
    result = agentctl(process_env(tmp_path, root), "logs", str(uuid.uuid4()))
    assert result.returncode == 1
    line = _one_line(result.stderr)
    assert line.startswith(f"agentctl: error: PREFECT_API_URL={root}: that is not a Prefect API (GET /"), line
    assert line.endswith(f"the URL must end in /api: export PREFECT_API_URL={prefect_server}")


def test_logs_of_a_full_id_that_is_no_run_is_an_error(tmp_path: Path, prefect_server: str) -> None:
    run_id = uuid.uuid4()
    result = agentctl(process_env(tmp_path, prefect_server), "logs", str(run_id))
    assert result.returncode == 1
    assert _one_line(result.stderr) == (
        f"agentctl: error: no run {run_id}: neither this store nor Prefect has it"
    )


def test_export_to_a_missing_folder_or_a_folder_is_one_line_naming_path_and_option(
    agentctl: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(agent_doc("Exported", chunks=1)), encoding="utf-8")
    agent_id = agentctl("import", str(path)).out.strip()
    missing = tmp_path / "no" / "such" / "x.yaml"
    result = agentctl("export", agent_id, "-o", str(missing))
    assert result.code == 1
    assert _one_line(result.err) == (
        f"agentctl: error: -o: {missing}: No such file or directory (no folder {missing.parent})"
    )
    result = agentctl("export", agent_id, f"--output={tmp_path}")
    assert result.code == 1
    assert _one_line(result.err) == f"agentctl: error: --output: {tmp_path}: Is a directory"


def test_an_agentctl_home_that_cannot_be_a_folder_is_one_line_naming_it(
    agentctl: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("AGENTCTL_HOME", str(a_file))
    result = agentctl("list")
    assert result.code == 1
    assert _one_line(result.err) == (
        f"agentctl: error: AGENTCTL_HOME: {a_file}: File exists, and it is not a folder"
    )
    monkeypatch.setenv("AGENTCTL_HOME", "/proc/no-such-home")  # the kernel's: no folder made there
    result = agentctl("list")
    assert result.code == 1
    assert (
        _one_line(result.err)
        == "agentctl: error: AGENTCTL_HOME: /proc/no-such-home: No such file or directory"
    )


def test_list_of_an_empty_store_says_which_store_and_how_to_import_one(
    agentctl: CliRunner, tmp_path: Path
) -> None:
    result = agentctl("list")
    assert result.code == 0
    assert result.out == ""
    default = f"sqlite:///{(tmp_path / 'home' / 'agentctl.db').resolve()}"
    assert result.err.strip() == f"no agents yet in {default}: import one with `agentctl import FILE`"
    # A mistyped --database-url makes a new, empty SQLite file: the message shows which one.
    typo = tmp_path / "agnets.db"
    mistyped = agentctl("--database-url", f"sqlite:///{typo}", "list")
    assert (
        mistyped.err.strip() == f"no agents yet in sqlite:///{typo}: import one with `agentctl import FILE`"
    )
    filtered = agentctl("list", "--filter", "nothing")
    assert filtered.err.strip() == "no agent matches this filter"


def test_delete_removes_the_folders_of_the_agents_runs(agentctl: CliRunner, tmp_path: Path) -> None:
    """A run's folder holds its saved browser sessions (cookies) and screenshots."""
    from datetime import UTC, datetime

    from agents_store.backends import open_store
    from agents_store.settings import get_settings
    from agents_store.store import RunRecord, RunStatus

    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(agent_doc("Signs in", chunks=1)), encoding="utf-8")
    deleted_id, kept_id = (agentctl("import", str(path)).out.strip() for _ in range(2))
    settings = get_settings()
    store = open_store(settings.resolved_database_url())
    folders: dict[str, list[Path]] = {deleted_id: [], kept_id: []}
    for agent_id, count in ((deleted_id, 2), (kept_id, 1)):
        for _ in range(count):
            run_id = uuid.uuid4()
            store.record_run(
                RunRecord(
                    flow_run_id=run_id,
                    agent_id=uuid.UUID(agent_id),
                    agent_version=1,
                    mode="automatic",
                    status=RunStatus.COMPLETED,
                    started_at=datetime.now(UTC),
                )
            )
            folder = settings.runs_dir() / str(run_id)
            folder.mkdir(parents=True)
            (folder / "session-after-01.json").write_text('{"cookies": []}', encoding="utf-8")
            folders[agent_id].append(folder)
    store.close()
    result = agentctl("delete", deleted_id, "--yes")
    assert result.code == 0, result.err
    assert "removed 2 run folders (saved sessions, screenshots)" in result.err
    assert [f for f in folders[deleted_id] if f.exists()] == []
    assert all(f.exists() for f in folders[kept_id])
