"""A local Prefect server: ``prefect server start`` on 127.0.0.1, with its UI, offline.

``agentctl server`` runs it in the foreground; tests and benchmarks start it in the background with
``running_server``. It keeps its database under ``PREFECT_HOME`` (SQLite) unless a PostgreSQL URL is
given, which is what scale-out needs (several workers, one server).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from agents_store.errors import AgentctlError, ConfigError
from deployments.server_settings import tune_servers_started_here

__all__ = ["LocalServer", "ServerDidNotStart", "free_port", "running_server", "server_command", "server_env"]


class ServerDidNotStart(AgentctlError):
    """``prefect server start`` exited or did not answer its health check in time."""


@dataclass(frozen=True)
class LocalServer:
    api_url: str
    ui_url: str
    home: Path
    log: Path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def sqlalchemy_async_url(database_url: str) -> str:
    """Prefect's server wants an async driver: postgresql+asyncpg://…"""
    scheme, sep, rest = database_url.partition("://")
    if not sep:
        raise ConfigError(f"--database-url: {database_url!r} is not a URL")
    if scheme.split("+")[0] in ("postgres", "postgresql"):
        return f"postgresql+asyncpg://{rest}"
    if scheme.split("+")[0] == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    raise ConfigError(f"--database-url: Prefect's server runs on SQLite or PostgreSQL, not {scheme!r}")


def server_env(
    *, host: str, port: int, home: Path | None = None, database_url: str | None = None, ui: bool = True
) -> dict[str, str]:
    """The environment of a server process: offline, its UI pointed at its own API, with our tuning
    (``deployments.server_settings``) where the caller's environment does not set it."""
    env = {
        **os.environ,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_UI_ENABLED": "true" if ui else "false",
        "PREFECT_UI_API_URL": f"http://{host}:{port}/api",
        "PREFECT_SERVER_API_HOST": host,
        "PREFECT_SERVER_API_PORT": str(port),
    }
    env.pop("PREFECT_API_URL", None)
    tune_servers_started_here(env)
    if home is not None:
        env["PREFECT_HOME"] = str(home)
    if database_url:
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = sqlalchemy_async_url(database_url)
    return env


def server_command(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)]


def wait_until_healthy(api_url: str, process: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise ServerDidNotStart(f"prefect server exited with status {process.returncode}; see {log}")
        if time.monotonic() > deadline:
            raise ServerDidNotStart(f"prefect server did not answer within {timeout:.0f} s; see {log}")
        time.sleep(0.3)


@contextmanager
def running_server(
    home: Path,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    database_url: str | None = None,
    ui: bool = True,
    timeout: float = 120.0,
) -> Iterator[LocalServer]:
    """A server in the background for the duration of the block (tests, benchmarks)."""
    port = port or free_port(host)
    home.mkdir(parents=True, exist_ok=True)
    log = home / "server.log"
    env = server_env(host=host, port=port, home=home, database_url=database_url, ui=ui)
    with open(log, "wb") as output:
        command = server_command(host, port)
        # A session of its own: Ctrl+C reaches the whole foreground process group, and the caller
        # still needs the server while it stops (``agentctl serve`` pauses its schedules then).
        process = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        server = LocalServer(f"http://{host}:{port}/api", f"http://{host}:{port}", home, log)
        try:
            wait_until_healthy(server.api_url, process, timeout, log)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
