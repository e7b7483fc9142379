"""Access (issue 11, item 6): who may reach what on the dashboard.

(a) bound beyond loopback it will not start without a sign-in, and then refuses anonymous requests;
(b) a table over every route of the app — a new route without an entry fails the test — where user B
    gets 404 on user A's agents and runs, and no token or a wrong one gets 401;
(c) credentials are compared in constant time; (d) no open redirect; (e) hostile names render inert
    in a real Chromium. Row-level security on Supabase is tested in ``tests/supabase/test_rls.py``.
"""

from __future__ import annotations

import ast
import inspect
import socket
import textwrap
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Mount

from agents_store.documents import parse_definition
from agents_store.errors import ConfigError
from agents_store.store import AgentStore, RunRecord, RunStatus
from cli.background_server import serve_in_background
from dashboard import auth as auth_module
from tests.conftest import require
from tests.dashboard.conftest import (
    ALICE,
    BOB,
    JWT_SECRET,
    TOKEN,
    AppFactory,
    client_for,
    make_app,
    store,
    supabase_jwt,
)
from tests.factories import agent_doc

__all__ = ["make_app", "store"]  # fixtures, imported for pytest

# --------------------------------------------------------------------------- the route table

# What each route is about: "agent" and "run" routes answer another user 404; "mine" lists show only
# the caller's; "public" routes need no sign-in. A route missing here fails
# test_the_table_covers_every_route: decide what it guards before adding it.
AGENT, RUN, MINE, PUBLIC = "agent", "run", "mine", "public"
ROUTES: dict[tuple[str, str], tuple[str, dict[str, Any] | None]] = {
    ("GET", "/api/session"): (MINE, None),
    ("GET", "/api/openapi.json"): (MINE, None),
    ("GET", "/api/agents"): (MINE, None),
    ("POST", "/api/agents"): (MINE, {"document": "x"}),
    ("GET", "/api/agents/{agent_id}"): (AGENT, None),
    ("PATCH", "/api/agents/{agent_id}"): (AGENT, {"version": 1, "name": "Bob's now"}),
    ("DELETE", "/api/agents/{agent_id}"): (AGENT, None),
    ("POST", "/api/agents/{agent_id}/duplicate"): (AGENT, None),
    ("GET", "/api/agents/{agent_id}/document"): (AGENT, None),
    ("PATCH", "/api/agents/{agent_id}/chunks/{chunk_id}"): (AGENT, {"version": 1, "name": "x"}),
    ("PUT", "/api/agents/{agent_id}/chunks/order"): (AGENT, {"version": 1, "chunk_ids": []}),
    ("GET", "/api/agents/{agent_id}/versions"): (AGENT, None),
    ("GET", "/api/agents/{agent_id}/versions/{version}"): (AGENT, None),
    ("GET", "/api/agents/{agent_id}/diff"): (AGENT, None),
    ("POST", "/api/agents/{agent_id}/revert"): (AGENT, {"version": 1, "to_version": 1}),
    ("GET", "/api/agents/{agent_id}/schedule"): (AGENT, None),
    ("PUT", "/api/agents/{agent_id}/schedule"): (AGENT, {"cron": "0 9 * * *"}),
    ("DELETE", "/api/agents/{agent_id}/schedule"): (AGENT, None),
    ("GET", "/api/agents/{agent_id}/exports"): (AGENT, None),
    ("POST", "/api/agents/{agent_id}/exports/github"): (AGENT, {"repo": "octo/agents"}),
    ("POST", "/api/agents/{agent_id}/runs"): (AGENT, {}),
    ("GET", "/api/agents/{agent_id}/runs"): (AGENT, None),
    ("GET", "/api/runs"): (MINE, None),
    ("GET", "/api/runs/{flow_run_id}"): (RUN, None),
    ("GET", "/api/runs/{flow_run_id}/logs"): (RUN, None),
    ("GET", "/api/runs/{flow_run_id}/files/{path:path}"): (RUN, None),
    ("POST", "/api/runs/{flow_run_id}/decision"): (RUN, {"decision": "approve"}),
    ("GET", "/api/approvals"): (MINE, None),
    ("GET", "/"): (MINE, None),
    ("GET", "/agents/new"): (MINE, None),
    ("GET", "/agents/{agent_ref}"): (AGENT, None),
    ("GET", "/agents/{agent_ref}/versions"): (AGENT, None),
    ("GET", "/runs/{run_ref}"): (RUN, None),
    ("GET", "/approvals"): (MINE, None),
    ("GET", "/login"): (PUBLIC, None),
    ("POST", "/login"): (PUBLIC, None),  # checks the credential itself; CSRF-protected
    ("POST", "/logout"): (PUBLIC, None),  # only clears the caller's cookie; CSRF-protected
    ("GET", "/static"): (PUBLIC, None),  # the stylesheet and script
}


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app answers, through included routers (FastAPI nests them lazily)."""
    found: set[tuple[str, str]] = set()

    def walk(routes: list[Any]) -> None:
        for route in routes:
            if hasattr(route, "original_router"):
                walk(route.original_router.routes)
            elif isinstance(route, APIRoute):
                found.update((m, route.path) for m in route.methods - {"HEAD"})
            elif isinstance(route, Mount):
                found.add(("GET", route.path))
            else:
                raise AssertionError(f"a route of an unknown kind: {route!r}")

    walk(app.routes)
    return found


def test_the_table_covers_every_route(make_app: AppFactory) -> None:
    routes = app_routes(make_app(jwt_secret=JWT_SECRET))
    assert routes - set(ROUTES) == set(), "new routes: add them to ROUTES with what they guard"
    assert set(ROUTES) - routes == set(), "ROUTES lists routes the app no longer has"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _fill(path: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        path = path.replace("{" + key + "}", value)
    return path


@pytest.mark.slow
async def test_every_route_refuses_strangers_and_other_users(make_app: AppFactory, store: AgentStore) -> None:
    """Per route: no token and a wrong one are 401 (pages: the sign-in redirect); Bob gets 404 on
    Alice's agent and run — as if they did not exist — and his lists do not show them."""
    store.ensure_user(ALICE, "alice")
    agent = store.create(parse_definition(agent_doc("Alice's agent", chunks=2)), user_id=ALICE)
    run_id = uuid.uuid4()
    store.record_run(
        RunRecord(
            flow_run_id=run_id,
            agent_id=agent.id,
            agent_version=1,
            mode="automatic",
            status=RunStatus.FAILED,  # a finished run: pages do not ask Prefect about it
            started_at=datetime.now(UTC),
        )
    )
    values = {
        "agent_id": str(agent.id),
        "chunk_id": str(agent.chunks[0].id),
        "version": "1",
        "flow_run_id": str(run_id),
        "agent_ref": str(agent.id),
        "run_ref": str(run_id),
        "path:path": "shot.png",
    }
    alice, bob = _bearer(supabase_jwt(ALICE)), _bearer(supabase_jwt(BOB))
    forged = supabase_jwt(ALICE)[:-4] + "AAAA"
    app = make_app(jwt_secret=JWT_SECRET)
    async with client_for(app) as client:
        for (method, template), (kind, body) in sorted(ROUTES.items()):
            if kind == PUBLIC:
                continue
            path = _fill(template, values)
            if template.endswith("/diff"):
                path += "?from=1&to=1"
            api = path.startswith("/api")
            for headers in ({}, _bearer("wrong"), _bearer(forged), _bearer(TOKEN)):
                answer = await client.request(method, path, json=body, headers=headers)
                if api:
                    assert answer.status_code == 401, (method, path, headers, answer.text)
                    assert answer.json()["error"]["code"] == "unauthorized"
                else:
                    assert answer.status_code in (303, 401), (method, path, answer.status_code)
                    if answer.status_code == 303:
                        assert answer.headers["location"].startswith("/login?next=")
                assert "Alice" not in answer.text
            answer = await client.request(method, path, json=body, headers=bob)
            if kind in (AGENT, RUN):
                assert answer.status_code == 404, (method, path, answer.text)
                if api:
                    assert answer.json()["error"]["code"] == "not_found"
            else:
                assert answer.status_code < 500, (method, path, answer.text)
            assert "Alice" not in answer.text, (method, path)
        assert (await client.get("/api/agents", headers=bob)).json()["total"] == 0
        assert (await client.get("/api/runs", headers=bob)).json() == []
        assert (await client.get("/api/approvals", headers=bob)).json() == []
        # Alice still has all of it: nothing Bob sent changed it.
        mine = await client.get(f"/api/agents/{agent.id}", headers=alice)
        assert (mine.status_code, mine.json()["name"], mine.json()["version"]) == (200, "Alice's agent", 1)
        assert [r["flow_run_id"] for r in (await client.get("/api/runs", headers=alice)).json()] == [
            str(run_id)
        ]
        # The pages take id prefixes and names: Bob's lookups never find Alice's, nor redirect to them.
        for page in (f"/agents/{str(agent.id)[:8]}", "/agents/Alice's agent", f"/runs/{str(run_id)[:8]}"):
            answer = await client.get(page, headers=bob)
            assert answer.status_code == 404, (page, answer.status_code, answer.headers.get("location"))
            assert str(agent.id) not in answer.text
            assert str(run_id) not in answer.text
        mine_by_prefix = await client.get(f"/runs/{str(run_id)[:8]}", headers=alice)
        assert mine_by_prefix.status_code == 307
        assert mine_by_prefix.headers["location"].endswith(f"/runs/{run_id}")


# --------------------------------------------------------------------------- (a) beyond loopback


def _non_loopback_address() -> str | None:
    """An address of this machine other than loopback (the one it would use to reach the world)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent for a UDP connect
            address: str = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


def test_network_binding_needs_a_sign_in_and_then_refuses_anonymous_requests(
    make_app: AppFactory, store: AgentStore
) -> None:
    address = _non_loopback_address()
    require(address is not None, "a non-loopback IPv4 address on this machine")
    assert address is not None
    with pytest.raises(ConfigError, match="AGENTCTL_DASHBOARD_TOKEN"):
        make_app(host=address)  # local mode on the network: refused before it listens
    store.create(parse_definition(agent_doc("Shared", chunks=1)))
    with serve_in_background(make_app(host=address, token=TOKEN), host=address) as url:
        assert url.startswith(f"http://{address}:")
        with httpx.Client(base_url=url, timeout=30) as client:
            for path in ("/api/agents", "/api/session", "/api/openapi.json"):
                answer = client.get(path)
                assert answer.status_code == 401, path
                assert answer.json()["error"]["code"] == "unauthorized"
            page = client.get("/", follow_redirects=False)
            assert page.status_code == 303
            assert page.headers["location"].startswith("/login")
            assert "Shared" not in page.text
            listed = client.get("/api/agents", headers=_bearer(TOKEN))
            assert [a["name"] for a in listed.json()["items"]] == ["Shared"]


# --------------------------------------------------------------------------- (c) constant time


def _equality_on_secrets(function: Any) -> list[str]:
    """``==``/``!=`` comparisons in ``function`` that touch a credential, token, MAC or cookie."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    secretish = ("token", "credential", "mac", "cookie", "sent", "secret")
    found = []
    for node in ast.walk(tree):
        sides = [node.left, *node.comparators] if isinstance(node, ast.Compare) else []
        if any(isinstance(side, ast.Constant) for side in sides):
            continue  # a count or a length against a literal leaks nothing secret
        if isinstance(node, ast.Compare) and any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            names |= {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
            if any(word in name.lower() for name in names for word in secretish):
                found.append(ast.unparse(node))
    return found


def _calls_compare_digest(function: Any) -> bool:
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    return any(isinstance(n, ast.Attribute) and n.attr == "compare_digest" for n in ast.walk(tree))


@pytest.mark.parametrize(
    "function",
    [
        auth_module.Authenticator.check_credential,
        auth_module.Authenticator._unsign,
        auth_module.Authenticator.valid_csrf_token,
        auth_module.Authenticator.check_csrf,
    ],
    ids=lambda f: f.__name__,
)
def test_secrets_are_compared_in_constant_time(function: Any) -> None:
    """Every comparison of a token, a cookie's MAC or a CSRF token uses hmac.compare_digest, never ==."""
    assert _calls_compare_digest(function), f"{function.__qualname__} does not use compare_digest"
    assert _equality_on_secrets(function) == [], f"{function.__qualname__} compares a secret with =="


def test_the_constant_time_check_catches_equality() -> None:
    """The check above is not vacuous: a comparison with == is found."""

    def leaky(self: Any, credential: str) -> bool:
        return bool(credential == self.access.token)

    assert _equality_on_secrets(leaky) == ["credential == self.access.token"]
    assert not _calls_compare_digest(leaky)


# --------------------------------------------------------------------------- (d) open redirect

EVIL_TARGETS = [
    "https://evil.example",
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "https:evil.example",
    "%2F%2Fevil.example",
    "///evil.example",
    "javascript:alert(1)",
]


def _on_site(location: str) -> bool:
    return location.startswith("/") and not location.startswith(("//", "/\\")) and "evil" not in location


@pytest.mark.parametrize("target", EVIL_TARGETS)
async def test_no_redirect_leaves_the_site(make_app: AppFactory, target: str) -> None:
    """The sign-in's ``next`` (form and query), in token mode and local mode, and the 401 redirect."""
    async with client_for(make_app(token=TOKEN)) as client:
        page = await client.get("/login", params={"next": target})
        assert "evil.example" not in page.text
        csrf = client.cookies["agentctl_csrf"]
        answer = await client.post("/login", data={"token": TOKEN, "csrf_token": csrf, "next": target})
        assert answer.status_code == 303
        assert _on_site(answer.headers["location"]), answer.headers["location"]
        signed_in = await client.get("/login", params={"next": target})
        assert "evil.example" not in signed_in.headers.get("location", "")
    async with client_for(make_app()) as local:
        answer = await local.get("/login", params={"next": target})
        assert answer.status_code == 303
        assert _on_site(answer.headers["location"]), answer.headers["location"]
    async with client_for(make_app(token=TOKEN)) as anonymous:
        answer = await anonymous.get("//evil.example/")
        if answer.status_code == 303:
            assert answer.headers["location"].startswith("/login?next=")


async def test_forged_cookies_and_csrf_tokens_with_non_ascii_text_are_refused_not_a_crash(
    make_app: AppFactory,
) -> None:
    """compare_digest raises TypeError on str with non-ASCII characters: such a forged session
    cookie or CSRF token was a 500 where a stranger gets 401 or 403. (Sent as UTF-8 bytes, as a
    browser or a script may; httpx itself writes str headers as ASCII only.)"""
    async with client_for(make_app(token=TOKEN)) as forged:
        answer = await forged.get("/api/agents", headers={"Cookie": "agentctl_session=é.é".encode()})
        assert answer.status_code == 401
    async with client_for(make_app()) as local:
        csrf = (await local.get("/api/session")).json()["csrf_token"]
        for cookie, sent in ((csrf, "é"), (csrf, f"{csrf}é"), ("nonce.é", "nonce.é")):
            answer = await local.post(
                "/api/agents",
                json={"document": "x"},
                headers={"Cookie": f"agentctl_csrf={cookie}".encode(), "X-CSRF-Token": sent.encode()},
            )
            assert (answer.status_code, answer.json()["error"]["code"]) == (403, "csrf"), (cookie, sent)


# --------------------------------------------------------------------------- (e) XSS, in Chromium

EVIL_NAME = "<script>alert(1)</script>"
EVIL_DESCRIPTION = "<img src=x onerror=alert(1)>"


async def _paused_flow_run() -> uuid.UUID:
    """A flow run that Prefect has as Paused, so the dashboard keeps the run record's pause."""
    from prefect import flow, get_client
    from prefect.states import Paused

    @flow(name="hostile-pause")
    def pausing() -> None:
        """Never runs: only its flow run, created paused, is needed."""

    async with get_client() as client:
        created = await client.create_flow_run(pausing, state=Paused(timeout_seconds=3600))
    return created.id


@pytest.fixture
async def hostile_dashboard(
    make_app: AppFactory, store: AgentStore, prefect_harness: None
) -> AsyncIterator[tuple[str, Any]]:
    doc = agent_doc(EVIL_NAME, chunks=1)
    doc["description"] = EVIL_DESCRIPTION
    doc["chunks"][0]["name"] = f"{EVIL_NAME} chunk"
    doc["chunks"][0]["actions"] = [{"type": "fill", "selector": EVIL_DESCRIPTION, "value": EVIL_NAME}]
    agent = store.create(parse_definition(doc))
    store.record_run(
        RunRecord(
            flow_run_id=await _paused_flow_run(),
            agent_id=agent.id,
            agent_version=1,
            mode="verification",
            status=RunStatus.PAUSED,
            started_at=datetime.now(UTC),
            awaiting={
                "kind": "approval",
                "order": 1,
                "chunk_id": str(agent.chunks[0].id),
                "key": f"approve-{agent.chunks[0].id}",
                "since": datetime.now(UTC).isoformat(),
                "description": f"will fill {EVIL_DESCRIPTION} with {EVIL_NAME}",
            },
        )
    )
    with serve_in_background(make_app()) as url:
        yield url, agent


@pytest.mark.browser
@pytest.mark.slow
async def test_hostile_names_render_inert_in_chromium(
    chromium: str, hostile_dashboard: tuple[str, Any]
) -> None:
    from playwright.async_api import async_playwright, expect

    from tasks.browser.session import LAUNCH_ARGS

    url, agent = hostile_dashboard
    dialogs: list[str] = []
    async with async_playwright() as playwright:
        executable = None if chromium == "playwright" else chromium
        browser = await playwright.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)
        try:
            page = await browser.new_page()
            page.set_default_timeout(20_000)
            page.on("dialog", lambda dialog: dialogs.append(dialog.message))
            for path, texts in (
                ("/", [EVIL_NAME, EVIL_DESCRIPTION]),
                (f"/agents/{agent.id}", [EVIL_NAME, EVIL_DESCRIPTION, f"{EVIL_NAME} chunk"]),
                (f"/agents/{agent.id}/versions", [EVIL_NAME]),
                ("/approvals", [EVIL_NAME]),
            ):
                await page.goto(url + path)
                body = page.locator("body")
                for text in texts:
                    await expect(body).to_contain_text(text)  # shown literally, as text
                assert await page.locator("script:not([src])").count() == 0, path
                assert await page.locator("img[src=x]").count() == 0, path

            # The chunk YAML editor shows the hostile actions as text, and an error naming them stays text.
            await page.goto(f"{url}/agents/{agent.id}")
            await page.locator('tr[data-order="1"]').get_by_role("button", name="Edit").click()
            editor = page.locator(f"#edit-{agent.chunks[0].id}")
            actions = editor.get_by_label("Actions (YAML, one per line)")
            await expect(actions).to_have_value(
                "- {type: fill, selector: <img src=x onerror=alert(1)>, value: <script>alert(1)</script>}\n"
            )
            await actions.fill(f"- {{type: '{EVIL_DESCRIPTION}', selector: '{EVIL_NAME}'}}\n")
            await editor.get_by_role("button", name="Save chunk").click()
            error = editor.locator('[data-error-for="actions_yaml"]')
            await expect(error).to_contain_text("unknown action type '<img src=x onerror=alert(1)>'")
            assert await page.locator("img[src=x]").count() == 0
            await page.wait_for_timeout(500)  # an injected handler would have fired by now
        finally:
            await browser.close()
    assert dialogs == []
