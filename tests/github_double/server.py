"""The double served by uvicorn on 127.0.0.1 and a free port, in a background thread."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cli.background_server import serve_in_background
from tests.github_double.app import GitHubDouble

__all__ = ["serve"]


@contextmanager
def serve(root: Path) -> Iterator[GitHubDouble]:
    """Start the double, yield it (its ``api_url`` is the ``--base-url``), stop it on exit."""
    double = GitHubDouble(root)
    with serve_in_background(double.app) as url:
        double.base_url = url
        yield double
