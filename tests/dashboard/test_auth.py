"""Who may do what: local mode, the team token, per-user Supabase tokens, sessions, CSRF, redirects."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from agents_store.errors import ConfigError
from agents_store.models import Agent
from agents_store.store import AgentStore, RunRecord, RunStatus
from tests.dashboard.conftest import (
    ALICE,
    BOB,
    JWT_SECRET,
    TOKEN,
    AppFactory,
    agent_yaml,
    client_for,
    supabase_jwt,
    with_csrf,
)
from tests.dashboard.test_api_agents import error_of

MakeAgent = Callable[..., Agent]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def sign_in(client: httpx.AsyncClient, credential: str, next_path: str = "/") -> httpx.Response:
    """The sign-in form as a browser submits it (CSRF field from the page)."""
    page = await client.get("/login", params={"next": next_path})
    assert page.status_code == 200
    csrf = client.cookies["agentctl_csrf"]
    assert f'name="csrf_token" value="{csrf}"' in page.text
    return await client.post("/login", data={"token": credential, "csrf_token": csrf, "next": next_path})


async def test_token_mode_requires_the_token_everywhere(make_app: AppFactory, local_agent: MakeAgent) -> None:
    agent = local_agent()
    async with client_for(make_app(token=TOKEN)) as client:
        for path in (
            "/api/agents",
            f"/api/agents/{agent.id}",
            "/api/approvals",
            "/api/openapi.json",
            "/api/session",
        ):
            error = error_of(await client.get(path), 401)
            assert error["code"] == "unauthorized", path
        missing = await client.get("/api/agents")
        assert missing.headers["www-authenticate"] == "Bearer"
        assert (
            error_of(await client.get("/api/agents", headers=bearer("wrong")), 401)["code"] == "unauthorized"
        )
        basic = error_of(await client.get("/api/agents", headers={"Authorization": "Basic eDp5"}), 401)
        assert "Bearer <token>" in str(basic["message"])
        for page in ("/", f"/agents/{agent.id}", "/approvals", "/agents/new"):
            redirect = await client.get(page)
            assert redirect.status_code == 303, page
            assert redirect.headers["location"].startswith("/login?next=%2F")

        listed = await client.get("/api/agents", headers=bearer(TOKEN))
        assert [a["name"] for a in listed.json()["items"]] == ["Pay invoices"]
        created = await client.post(
            "/api/agents", json={"document": agent_yaml("By bearer")}, headers=bearer(TOKEN)
        )
        assert created.status_code == 201, created.text  # no CSRF token needed with a bearer token
        schema = (await client.get("/api/openapi.json", headers=bearer(TOKEN))).json()
        assert "/api/agents/{agent_id}/chunks/{chunk_id}" in schema["paths"]
        assert "ErrorResponse" in schema["components"]["schemas"]


async def test_pages_sign_in_with_the_token_into_an_http_only_session(
    make_app: AppFactory, local_agent: MakeAgent
) -> None:
    agent = local_agent()
    app = make_app(token=TOKEN)
    async with client_for(app) as client:
        wrong = await sign_in(client, "not-the-token")
        assert wrong.status_code == 401
        assert "the token is not valid" in wrong.text

        answer = await sign_in(client, TOKEN, f"/agents/{agent.id}")

        assert answer.status_code == 303
        assert answer.headers["location"] == f"/agents/{agent.id}"
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith("agentctl_session=")
        assert "HttpOnly" in cookie
        assert "samesite=lax" in cookie.lower()
        page = await client.get(f"/agents/{agent.id}")
        assert page.status_code == 200
        assert "Pay invoices" in page.text
        assert (await client.get("/api/agents")).status_code == 200  # the session works for the API too

        tampered = client.cookies["agentctl_session"][:-4] + "AAAA"
        async with client_for(app) as other:
            other.cookies.set("agentctl_session", tampered)
            assert (await other.get("/api/agents")).status_code == 401

        csrf = client.cookies["agentctl_csrf"]
        out = await client.post("/logout", data={"csrf_token": csrf})
        assert out.status_code == 303
        assert (await client.get("/")).status_code == 303


async def test_cookie_writes_need_the_csrf_token(make_app: AppFactory, local_agent: MakeAgent) -> None:
    agent = local_agent()
    async with client_for(make_app(token=TOKEN)) as client:
        await sign_in(client, TOKEN)
        body = {"version": 1, "name": "Changed"}

        no_token = error_of(await client.patch(f"/api/agents/{agent.id}", json=body), 403)
        assert no_token["code"] == "csrf"
        forged = await client.patch(
            f"/api/agents/{agent.id}", json=body, headers={"X-CSRF-Token": "forged.value"}
        )
        assert error_of(forged, 403)["code"] == "csrf"
        assert error_of(await client.delete(f"/api/agents/{agent.id}"), 403)["code"] == "csrf"
        login_without = await client.post("/login", data={"token": TOKEN, "next": "/"})
        assert login_without.status_code == 403
        assert "no valid CSRF token" in login_without.text

        await with_csrf(client)
        ok = await client.patch(f"/api/agents/{agent.id}", json=body)
        assert ok.status_code == 200, ok.text


async def test_local_mode_writes_need_the_csrf_token_too(
    make_app: AppFactory, local_agent: MakeAgent
) -> None:
    agent = local_agent()
    async with client_for(make_app()) as client:
        assert (await client.get("/api/agents")).status_code == 200
        assert error_of(await client.delete(f"/api/agents/{agent.id}"), 403)["code"] == "csrf"
        refused = error_of(await client.get("/api/agents", headers=bearer("anything")), 401)
        assert "local mode" in str(refused["message"])
        assert (await client.get("/login?next=/agents")).headers["location"] == "/agents"


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"]
)
async def test_no_open_redirect_after_sign_in(make_app: AppFactory, target: str) -> None:
    async with client_for(make_app(token=TOKEN)) as client:
        answer = await sign_in(client, TOKEN, target)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/"


async def test_users_never_see_each_others_agents(make_app: AppFactory, store: AgentStore) -> None:
    alice, bob = bearer(supabase_jwt(ALICE, email="alice@example.test")), bearer(supabase_jwt(BOB))
    async with client_for(make_app(jwt_secret=JWT_SECRET)) as client:
        created = await client.post(
            "/api/agents", json={"document": agent_yaml("Alice's agent")}, headers=alice
        )
        assert created.status_code == 201, created.text
        agent = created.json()
        assert store.get(uuid.UUID(agent["id"])).user_id == ALICE
        run_id = uuid.uuid4()
        store.record_run(
            RunRecord(
                flow_run_id=run_id,
                agent_id=uuid.UUID(agent["id"]),
                agent_version=1,
                mode="automatic",
                status=RunStatus.FAILED,
                started_at=datetime.now(UTC),
            )
        )
        chunk = agent["chunks"][0]["id"]
        a = agent["id"]

        assert (await client.get("/api/agents", headers=bob)).json()["total"] == 0
        assert (await client.get("/api/approvals", headers=bob)).json() == []
        for method, path, body in (
            ("GET", f"/api/agents/{a}", None),
            ("PATCH", f"/api/agents/{a}", {"version": 1, "name": "Bob's now"}),
            ("DELETE", f"/api/agents/{a}", None),
            ("POST", f"/api/agents/{a}/duplicate", None),
            ("GET", f"/api/agents/{a}/document", None),
            ("PATCH", f"/api/agents/{a}/chunks/{chunk}", {"version": 1, "name": "x"}),
            ("PUT", f"/api/agents/{a}/chunks/order", {"version": 1, "chunk_ids": [chunk]}),
            ("GET", f"/api/agents/{a}/versions", None),
            ("GET", f"/api/agents/{a}/versions/1", None),
            ("GET", f"/api/agents/{a}/diff?from=1&to=1", None),
            ("POST", f"/api/agents/{a}/revert", {"version": 1, "to_version": 1}),
            ("GET", f"/api/agents/{a}/schedule", None),
            ("PUT", f"/api/agents/{a}/schedule", {"cron": "0 9 * * *"}),
            ("DELETE", f"/api/agents/{a}/schedule", None),
            ("GET", f"/api/agents/{a}/exports", None),
            ("POST", f"/api/agents/{a}/exports/github", {"repo": "octo/agents"}),
            ("POST", f"/api/agents/{a}/runs", {}),
            ("GET", f"/api/agents/{a}/runs", None),
            ("GET", f"/api/runs/{run_id}", None),
            ("GET", f"/api/runs/{run_id}/logs", None),
            ("GET", f"/api/runs/{run_id}/files/shot.png", None),
            ("POST", f"/api/runs/{run_id}/decision", {"decision": "approve"}),
        ):
            answer = await client.request(method, path, json=body, headers=bob)
            assert error_of(answer, 404)["code"] == "not_found", (method, path)
            assert "Alice" not in answer.text
        assert (await client.get(f"/api/agents/{a}", headers=alice)).json()["name"] == "Alice's agent"
        assert (await client.get(f"/api/runs/{run_id}", headers=alice)).json()["run"]["status"] == "Failed"
        assert (await client.get("/api/session", headers=alice)).json()["name"] == "alice@example.test"


@pytest.mark.parametrize(
    "token",
    [
        supabase_jwt(ALICE, expires_in=-10),
        supabase_jwt(ALICE, aud="anon"),
        supabase_jwt(ALICE, sub="not-a-uuid"),
        supabase_jwt(ALICE)[:-3] + "abc",
    ],
    ids=["expired", "wrong-audience", "sub-not-a-uuid", "bad-signature"],
)
async def test_invalid_supabase_tokens_are_401(make_app: AppFactory, token: str) -> None:
    async with client_for(make_app(jwt_secret=JWT_SECRET)) as client:
        error = error_of(await client.get("/api/agents", headers=bearer(token)), 401)
        assert error["code"] == "unauthorized"


async def test_a_supabase_user_signs_in_to_the_pages(make_app: AppFactory) -> None:
    async with client_for(make_app(jwt_secret=JWT_SECRET)) as client:
        answer = await sign_in(client, supabase_jwt(BOB, email="bob@example.test", expires_in=600))
        assert answer.status_code == 303
        max_age = int(answer.headers["set-cookie"].split("Max-Age=")[1].split(";")[0])
        assert 590 <= max_age <= 600  # the session ends with the access token
        assert (await client.get("/api/session")).json()["user_id"] == str(BOB)
        assert "bob@example.test" in (await client.get("/")).text


def test_refuses_to_serve_the_network_without_a_sign_in(make_app: AppFactory) -> None:
    with pytest.raises(ConfigError, match="AGENTCTL_DASHBOARD_TOKEN"):
        make_app(host="0.0.0.0")
    with pytest.raises(ConfigError):
        make_app(host="192.168.1.20")
    assert make_app(host="0.0.0.0", token=TOKEN) is not None
    assert make_app(host="10.0.0.5", jwt_secret=JWT_SECRET) is not None
    assert make_app(host="localhost") is not None


async def test_local_mode_answers_loopback_names_only(make_app: AppFactory) -> None:
    """A page elsewhere cannot reach the local dashboard through a DNS name of its own (rebinding)."""
    async with client_for(make_app()) as client:
        rebound = await client.get("/api/agents", headers={"Host": "evil.example:8765"})
        assert error_of(rebound, 400)["code"] == "bad_host"
        for host in ("127.0.0.1:8765", "localhost:8765", "127.0.0.1"):
            assert (await client.get("/api/agents", headers={"Host": host})).status_code == 200


async def test_names_render_inert_and_pages_forbid_inline_scripts(
    api: httpx.AsyncClient, local_agent: MakeAgent
) -> None:
    evil = "<script>alert(1)</script>"
    agent = local_agent(evil, description='<img src=x onerror="alert(2)">')
    for path in ("/", f"/agents/{agent.id}", f"/agents/{agent.id}/versions"):
        page = await api.get(path)
        assert page.status_code == 200
        assert "<script>alert(1)</script>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        assert "<img src=x" not in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"
    listed = (await api.get("/api/agents")).json()
    assert listed["items"][0]["name"] == evil  # the API returns data; only pages render it


async def test_a_local_dashboard_restarted_accepts_the_open_pages_csrf_token(make_app: AppFactory) -> None:
    """The local mode's key was random per process: after a restart every button of a page opened
    before answered 403 until the page was reloaded."""
    from agents_store.settings import get_settings

    async with client_for(make_app()) as before:
        csrf = (await before.get("/api/session")).json()["csrf_token"]
        cookie = before.cookies["agentctl_csrf"]
    async with client_for(make_app(), cookies={"agentctl_csrf": cookie}) as after:  # the restart
        answer = await after.post("/api/agents", json={"document": "x"}, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 422, answer.text  # past the CSRF check, to the document's own error
    key_file = get_settings().home / "dashboard.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
