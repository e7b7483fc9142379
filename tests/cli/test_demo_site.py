"""The demo app's sign-in, which `agentctl demo` drives with a password the user may choose."""

from __future__ import annotations

import httpx
import pytest

from cli.demo.site import DemoState, create_demo_app


@pytest.mark.parametrize("password", ["S3cr3t-Pässw0rd!", "ascii-only"])
async def test_the_demo_signs_in_with_any_password_and_refuses_a_wrong_one(password: str) -> None:
    """A non-ASCII password was a 500 (compare_digest refuses such str), and the demo's sign-in
    chunk failed with a timeout waiting for the records page."""
    app = create_demo_app(DemoState(password=password))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://demo") as client:
        right = await client.post("/login", data={"username": "demo", "password": password})
        wrong = await client.post("/login", data={"username": "demo", "password": f"{password}ü"})
    assert (right.status_code, right.headers["location"]) == (303, "/records")
    assert (wrong.status_code, wrong.headers["location"]) == (303, "/?error=1")
