"""``/api/session``: who is signed in, and the CSRF token a cookie session's writes must carry."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from dashboard.deps import Ctx, User
from dashboard.errors import error_responses
from dashboard.pages_support import csrf_for
from dashboard.schemas import SessionOut

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["session"], responses=error_responses(401))


@router.get("/session", response_model=SessionOut, summary="Who is signed in")
def session(ctx: Ctx, user: User, request: Request, response: Response) -> SessionOut:
    """The signed-in user, and a CSRF token (also set as the ``agentctl_csrf`` cookie)."""
    token = csrf_for(ctx.auth, request, response)
    return SessionOut(user_id=user.user_id, name=user.name, via=user.via, csrf_token=token)
