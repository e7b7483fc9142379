"""The fault site both the crash and the flaky-target tests drive, served once per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cli.background_server import serve_in_background
from tests.reliability._faults import FaultSite


@pytest.fixture(scope="module")
def fault_server() -> Iterator[tuple[FaultSite, str]]:
    site = FaultSite()
    with serve_in_background(site.app()) as url:
        yield site, url


@pytest.fixture
def fault_site(fault_server: tuple[FaultSite, str]) -> FaultSite:
    """The site, with the faults of the previous test forgotten."""
    fault_server[0].reset()
    return fault_server[0]


@pytest.fixture
def url(fault_server: tuple[FaultSite, str]) -> str:
    return fault_server[1]
