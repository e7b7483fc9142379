"""The demo web app that ``agentctl demo`` runs the demo agent against, on 127.0.0.1.

A sign-in page, a form that creates records, the table that lists them with their total, and a
Zapier-style catch hook that honours ``Idempotency-Key``. Everything lives in memory; the app is the
stand-in for the web apps and webhook receivers real agents drive.
"""

from __future__ import annotations

import html
import secrets
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

__all__ = ["DemoState", "create_demo_app"]

CATEGORIES = ("sales", "office", "travel")


@dataclass
class DemoState:
    """What the demo app remembers: its one user, the records, and every hook it received."""

    username: str = "demo"
    password: str = "demo-password"  # noqa: S105 - the demo app's own throw-away password
    sessions: set[str] = field(default_factory=set)
    records: list[dict[str, str]] = field(default_factory=list)
    hooks: list[dict[str, Any]] = field(default_factory=list)
    replies: dict[str, dict[str, Any]] = field(default_factory=dict)


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;color:#222}}
table{{border-collapse:collapse;width:100%}}
td,th{{border-bottom:1px solid #ddd;padding:.3rem;text-align:left}}
form{{display:flex;gap:.5rem;flex-wrap:wrap;margin:1rem 0}}.error{{color:#b00}}</style></head>
<body>{body}</body></html>"""
    )


def create_demo_app(state: DemoState | None = None) -> FastAPI:
    state = state or DemoState()
    app = FastAPI(title="agentctl demo app", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.demo = state

    def signed_in(request: Request) -> bool:
        return request.cookies.get("demo_session") in state.sessions

    @app.get("/", response_class=HTMLResponse)
    async def login_page(error: str | None = None) -> HTMLResponse:
        message = '<p class="error" id="login-error">Wrong user name or password.</p>' if error else ""
        return _page(
            "Sign in — Records",
            f"""<h1>Records</h1>{message}
<form id="login-form" method="post" action="/login">
  <label>User <input id="username" name="username" autocomplete="username"></label>
  <label>Password
    <input id="password" name="password" type="password" autocomplete="current-password"></label>
  <button id="login" type="submit">Sign in</button>
</form>""",
        )

    @app.post("/login")
    async def login(username: str = Form(""), password: str = Form("")) -> Response:
        # As bytes: compare_digest refuses str with non-ASCII characters (a 500 for "Pässw0rd").
        ok = secrets.compare_digest(username.encode(), state.username.encode()) and secrets.compare_digest(
            password.encode(), state.password.encode()
        )
        if not ok:
            return RedirectResponse("/?error=1", status_code=303)
        token = secrets.token_urlsafe(16)
        state.sessions.add(token)
        response = RedirectResponse("/records", status_code=303)
        response.set_cookie("demo_session", token, httponly=True, samesite="lax")
        return response

    @app.get("/records", response_class=HTMLResponse)
    async def records_page(request: Request) -> Response:
        if not signed_in(request):
            return RedirectResponse("/", status_code=303)
        rows = "".join(
            f'<tr><td class="title">{html.escape(r["title"])}</td>'
            f'<td class="amount">{html.escape(r["amount"])}</td>'
            f'<td class="category">{html.escape(r["category"])}</td></tr>'
            for r in state.records
        )
        options = "".join(f'<option value="{c}">{c.title()}</option>' for c in CATEGORIES)
        return _page(
            "Records",
            f"""<h1>Records</h1>
<form id="record-form" method="post" action="/records">
  <input id="title" name="title" placeholder="Title" required>
  <input id="amount" name="amount" placeholder="Amount" required>
  <select id="category" name="category">{options}</select>
  <button id="add-record" type="submit">Add record</button>
</form>
<table id="records"><thead><tr><th>Title</th><th>Amount</th><th>Category</th></tr></thead>
<tbody>{rows}</tbody></table>
<p>Total: <span id="total">{_total(state.records)}</span></p>""",
        )

    @app.post("/records")
    async def add_record(
        request: Request, title: str = Form(...), amount: str = Form(...), category: str = Form("sales")
    ) -> Response:
        if not signed_in(request):
            return RedirectResponse("/", status_code=303)
        state.records.append({"title": title.strip(), "amount": amount.strip(), "category": category})
        return RedirectResponse("/records", status_code=303)

    @app.post("/hooks/{name}")
    async def receive_hook(name: str, request: Request) -> JSONResponse:
        key = request.headers.get("idempotency-key")
        if key and key in state.replies:
            return JSONResponse(state.replies[key], status_code=200, headers={"Idempotent-Replayed": "true"})
        try:
            payload = await request.json()
        except ValueError:
            payload = (await request.body()).decode("utf-8", "replace")
        hook = {"id": len(state.hooks) + 1, "hook": name, "idempotency_key": key, "payload": payload}
        state.hooks.append(hook)
        reply = {"id": hook["id"], "status": "received"}
        if key:
            state.replies[key] = reply
        return JSONResponse(reply, status_code=201)

    @app.get("/hooks/{name}")
    async def list_hooks(name: str) -> JSONResponse:
        return JSONResponse([h for h in state.hooks if h["hook"] == name])

    return app


def _total(records: list[dict[str, str]]) -> str:
    total = Decimal(0)
    for record in records:
        try:
            total += Decimal(record["amount"])
        except InvalidOperation:
            continue
    return f"{total:.2f}"
