"""The pages: server-rendered HTML that works without a build step; writes go through the JSON API.

Each page reads through the same functions as the API and renders the API's models. Forms post to
the API with the app's small script (``static/app.js``), which shows a 422's message next to the
field it names; the sign-in and sign-out forms are plain HTML forms.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse

from agents_store.models import AgentStatus
from agents_store.store import SortKey
from dashboard.api_agents import agent_detail, agent_query
from dashboard.api_versions import diff_of, export_out, versions_of
from dashboard.auth import SESSION_COOKIE, Principal, safe_next
from dashboard.deps import Ctx, Dashboard, User, owned_agent
from dashboard.errors import ApiError, ErrorBody
from dashboard.pages_support import render
from dashboard.runs import pending_runs, run_status, runs_of, settle_dead_runs

__all__ = ["render_error_page", "router"]

logger = logging.getLogger("dashboard")
router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
SORTABLE: list[tuple[SortKey, str]] = [
    ("name", "Name"),
    ("description", "Description"),
    ("status", "Status"),
    ("created_at", "Created"),
    ("updated_at", "Updated"),
    ("last_run_at", "Last run"),
]


def _page(request: Request, ctx: Dashboard, user: Principal, template: str, **context: object) -> Response:
    return render(request, ctx.auth, template, context, user=user, pending=len(pending_runs(ctx, user)))


@router.get("/")
def agent_list(
    request: Request,
    ctx: Ctx,
    user: User,
    q: Annotated[str | None, Query(max_length=200)] = None,
    status: AgentStatus | Literal[""] = "",  # "": any status, the filter form's default
    sort: SortKey = "updated_at",
    order: Literal["asc", "desc", ""] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    wanted = status or None
    query = agent_query(user.user_id, q, wanted, sort, order or None, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    result = ctx.store.list_agents(query)
    pages = max(1, -(-result.total // PAGE_SIZE))
    return _page(
        request,
        ctx,
        user,
        "list.html",
        result=result,
        q=q or "",
        status=wanted.value if wanted else "",
        sort=sort,
        descending=query.descending,
        page=page,
        pages=pages,
        statuses=[s.value for s in AgentStatus],
        sortable=SORTABLE,
    )


@router.get("/agents/new")
def new_agent(request: Request, ctx: Ctx, user: User) -> Response:
    return _page(request, ctx, user, "new.html")


def _canonical(request: Request, ref: str, full_id: uuid.UUID, path: str) -> Response | None:
    """A page asked for by an id prefix or a name (as ``agentctl`` prints and takes them) redirects
    to ``path``, its full id's address, so the address bar, links and bookmarks stay stable."""
    if ref == str(full_id):
        return None
    return RedirectResponse(request.url.replace(path=path), status_code=307)


@router.get("/agents/{agent_ref}")
async def agent_page(request: Request, ctx: Ctx, user: User, agent_ref: str) -> Response:
    agent_id = await asyncio.to_thread(ctx.store.resolve, agent_ref, user_id=user.user_id)
    if (redirect := _canonical(request, agent_ref, agent_id, f"/agents/{agent_id}")) is not None:
        return redirect
    await settle_dead_runs(ctx)
    schedule_state = await _schedule_state(ctx, agent_id)

    def load() -> Response:
        agent = agent_detail(ctx, agent_id, user.user_id)
        runs = runs_of(ctx, user, ctx.store.list_runs(agent_id, limit=10))
        exports = [export_out(e) for e in ctx.store.list_exports(agent_id)[:5]]
        active = next((r for r in runs if not r.finished), None)
        return _page(
            request,
            ctx,
            user,
            "detail.html",
            agent=agent,
            runs=runs,
            exports=exports,
            active_run=active,
            schedule_state=schedule_state,
        )

    return await asyncio.to_thread(load)


async def _schedule_state(ctx: Dashboard, agent_id: uuid.UUID) -> str | None:
    """What Prefect says of the agent's schedule (``agentctl schedules``' STATE): "On" alone hid a
    schedule nothing runs (``no runner``: its runs only pile up, Late). None when there is none,
    or Prefect cannot say now (the page shows the stored switch)."""
    from deployments.operations import schedule_state

    schedule = next(iter(await asyncio.to_thread(ctx.store.list_schedules, agent_id)), None)
    if schedule is None:
        return None
    try:
        return await schedule_state(schedule)
    except Exception:  # Prefect unreachable: the page still shows the agent
        logger.warning("could not read the schedule state of agent %s from Prefect", agent_id, exc_info=True)
        return None


@router.get("/agents/{agent_ref}/versions")
def versions_page(
    request: Request,
    ctx: Ctx,
    user: User,
    agent_ref: str,
    from_version: Annotated[int | None, Query(alias="from", ge=1)] = None,
    to_version: Annotated[int | None, Query(alias="to", ge=1)] = None,
) -> Response:
    agent_id = ctx.store.resolve(agent_ref, user_id=user.user_id)
    if (redirect := _canonical(request, agent_ref, agent_id, f"/agents/{agent_id}/versions")) is not None:
        return redirect
    agent = owned_agent(ctx, agent_id, user)
    versions = versions_of(ctx, agent_id)
    diff = None
    if from_version is not None and to_version is not None:
        diff = diff_of(ctx, agent_id, from_version, to_version)
    elif len(versions) > 1:
        diff = diff_of(ctx, agent_id, versions[1].version, versions[0].version)
    return _page(request, ctx, user, "versions.html", agent=agent, versions=versions, diff=diff)


@router.get("/runs/{run_ref}")
async def run_page(request: Request, ctx: Ctx, user: User, run_ref: str) -> Response:
    flow_run_id = await asyncio.to_thread(ctx.store.resolve_run, run_ref, user_id=user.user_id)
    if (redirect := _canonical(request, run_ref, flow_run_id, f"/runs/{flow_run_id}")) is not None:
        return redirect
    await settle_dead_runs(ctx)

    def load() -> Response:
        live = run_status(ctx, flow_run_id, user)
        return _page(request, ctx, user, "run.html", run=live.run, chunks=live.chunks)

    return await asyncio.to_thread(load)


@router.get("/approvals")
async def approvals_page(request: Request, ctx: Ctx, user: User) -> Response:
    await settle_dead_runs(ctx)

    def load() -> Response:
        runs = pending_runs(ctx, user)
        return render(request, ctx.auth, "approvals.html", {"runs": runs}, user=user, pending=len(runs))

    return await asyncio.to_thread(load)


# --------------------------------------------------------------------------- signing in


@router.get("/login")
def login_page(request: Request, ctx: Ctx, next: str | None = None) -> Response:
    if ctx.access.open:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, ctx.auth, "login.html", {"next": safe_next(next), "error": None})


@router.post("/login")
async def login(request: Request, ctx: Ctx) -> Response:
    """Sign in with the dashboard token or a Supabase access token; sets the session cookie."""
    form = await request.form()
    target = safe_next(str(form.get("next") or "/"))
    ctx.auth.check_csrf(request, str(form.get("csrf_token") or ""))
    credential = str(form.get("token") or "")
    try:
        principal = ctx.auth.check_credential(credential)
    except ApiError as e:
        context = {"next": target, "error": e.body.message}
        return render(request, ctx.auth, "login.html", context, status_code=401)
    value, lifetime = ctx.auth.session_cookie(principal, credential)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=lifetime,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
async def logout(request: Request, ctx: Ctx) -> Response:
    form = await request.form()
    ctx.auth.check_csrf(request, str(form.get("csrf_token") or ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def render_error_page(request: Request, status: int, body: ErrorBody) -> Response:
    """An error as a page (404, 422…), with the one-line message."""
    dashboard: Dashboard = request.app.state.dashboard
    return render(
        request, dashboard.auth, "error.html", {"status": status, "error": body}, status_code=status
    )
