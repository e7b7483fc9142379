"""The double served by uvicorn on 127.0.0.1 and a free port, in a background thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from tests.github_double.app import GitHubDouble

__all__ = ["serve"]


@contextmanager
def serve(root: Path) -> Iterator[GitHubDouble]:
    """Start the double, yield it (its ``api_url`` is the ``--base-url``), stop it on exit."""
    double = GitHubDouble(root)
    config = uvicorn.Config(
        double.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="github-double", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the GitHub double did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    double.base_url = f"http://127.0.0.1:{port}"
    try:
        yield double
    finally:
        server.should_exit = True
        thread.join(10)
