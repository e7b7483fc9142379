"""Rendering pages: the Jinja environment (autoescaped), its filters, and the CSRF cookie.

Templates receive the API's response models, never store objects, so a page shows what the API
would return. Every page carries the CSRF token in a ``<meta>`` tag for the app's script and in
its forms.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from agents_store.slug import agent_slug
from dashboard.auth import CSRF_COOKIE, Authenticator, Principal
from tasks.templating import as_text

__all__ = ["csrf_for", "render", "templates"]

_HERE = Path(__file__).parent


def _ago(moment: datetime | None, now: datetime | None = None) -> str:
    """A moment as people say it: "just now", "5 min ago", "3 h ago", "2 days ago", else the date."""
    if moment is None:
        return "never"
    now = now or datetime.now(UTC)
    seconds = (now - moment).total_seconds()
    if seconds < 45:
        return "just now"
    if seconds < 3600:
        return f"{round(seconds / 60)} min ago"
    if seconds < 86400:
        return f"{round(seconds / 3600)} h ago"
    if seconds < 7 * 86400:
        days = round(seconds / 86400)
        return f"{days} day{'s' if days > 1 else ''} ago"
    return moment.astimezone(UTC).strftime("%d %b %Y")


def _utc(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


def _status_class(status: object) -> str:
    """``Awaiting Approval`` → ``st-awaiting-approval``: the CSS class that colours a status."""
    return "st-" + str(status).lower().replace(" ", "-")


def _took(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    seconds = (end - start).total_seconds()
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _pretty(data: object) -> str:
    """JSON for people: indented, non-ASCII kept (the template escapes it)."""
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(_HERE / "templates"),
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        ago=_ago,
        utc=_utc,
        status_class=_status_class,
        took=_took,
        pretty=_pretty,
        param_text=as_text,
        slug=agent_slug,
    )
    return env


templates = Jinja2Templates(env=_environment())


def _csrf_token(auth: Authenticator, request: Request) -> tuple[str, bool]:
    """The request's CSRF token, and whether it is new (no valid cookie came with the request)."""
    current = request.cookies.get(CSRF_COOKIE)
    if current and auth.valid_csrf_token(current):
        return current, False
    return auth.new_csrf_token(), True


def _set_csrf_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        CSRF_COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/"
    )


def csrf_for(auth: Authenticator, request: Request, response: Response) -> str:
    """The request's CSRF token, setting a fresh cookie on ``response`` when it has no valid one."""
    token, new = _csrf_token(auth, request)
    if new:
        _set_csrf_cookie(request, response, token)
    return token


def render(
    request: Request,
    auth: Authenticator,
    template: str,
    context: dict[str, Any],
    *,
    user: Principal | None = None,
    status_code: int = 200,
    pending: int = 0,
) -> Response:
    """A page: the template with the signed-in user, the pending-approvals count and a CSRF token."""
    token, new = _csrf_token(auth, request)
    response = templates.TemplateResponse(
        request,
        template,
        {
            "user": user,
            "pending_count": pending,
            "csrf_token": token,
            "auth_open": auth.access.open,
            **context,
        },
        status_code=status_code,
    )
    if new:
        _set_csrf_cookie(request, response, token)
    return response
