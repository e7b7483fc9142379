from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from github import Github

from agents_store.backends.sqlite import SqliteStore
from export._github_api import connect
from tests.github_double import BareRepo, GitHubDouble


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(f"sqlite:///{tmp_path / 'agents.db'}")
    yield store
    store.close()


@pytest.fixture
def client(github_double: GitHubDouble) -> Github:
    """PyGithub itself, as octo, against the double (no throttling: it is local)."""
    return connect("ghp_octo", base_url=github_double.api_url, throttle=False)


def git_log(bare: BareRepo, *args: str) -> list[str]:
    """``git log --format=%H`` (plus ``args``) on the double's bare repository: the shas, newest first."""
    return bare.out("log", "--format=%H", *args).split()


def git_show(bare: BareRepo, rev: str) -> str:
    return bare.out("show", rev)


def changed_files(bare: BareRepo, commit: str) -> list[str]:
    """``git show --name-status`` of one commit, as ``A path`` / ``M path`` / ``D path`` lines."""
    return bare.out("show", "--format=", "--name-status", "--no-renames", commit).splitlines()


def run_git(*args: str, input_bytes: bytes | None = None) -> str:
    done = subprocess.run(["git", *args], input=input_bytes, capture_output=True, check=True, timeout=30)
    return done.stdout.decode().strip()
