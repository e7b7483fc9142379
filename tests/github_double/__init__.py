"""A test double of GitHub's REST API backed by real bare git repositories (see ``app``)."""

from tests.github_double.app import GitHubDouble, HostedRepo
from tests.github_double.bare import BareRepo

__all__ = ["BareRepo", "GitHubDouble", "HostedRepo"]
