"""Pytest fixtures for the GitHub double: one server per session, a clean state per test."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.github_double.app import GitHubDouble
from tests.github_double.server import serve

__all__ = ["github_double"]


@pytest.fixture(scope="session")
def _github_double_server() -> Iterator[GitHubDouble]:
    with tempfile.TemporaryDirectory(prefix="github-double-") as root, serve(Path(root)) as double:
        yield double


@pytest.fixture
def github_double(_github_double_server: GitHubDouble, tmp_path: Path) -> GitHubDouble:
    """The running double, reset: user ``octo`` (token ``ghp_octo``), no repositories."""
    _github_double_server.reset(tmp_path / "github")
    return _github_double_server
