"""Every error the API answers has one shape, ``{"error": {"code", "message", "field", "problems"}}``.

``ApiError`` is what the dashboard raises itself; the project's own errors (``AgentctlError``) are
mapped to a status here, once, so a router never picks a status code for a store error. Pages get
the same errors rendered as an HTML page (and a sign-in redirect instead of a 401).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from agents_store.errors import (
    AgentctlError,
    AgentInUse,
    AgentNotFound,
    AmbiguousId,
    ConfigError,
    ExecutionError,
    ExportAuthError,
    ExportConflict,
    ExportError,
    ExportRejected,
    InvalidAgent,
    PrefectUnavailable,
    RateLimited,
    RepositoryNotFound,
    StoreUnavailable,
    VersionConflict,
    VersionNotFound,
)
from flows.errors import RunNotPaused
from flows.prefect_ui import prefect_unavailable_behind
from tasks.errors import TemplateError

__all__ = [
    "ApiError",
    "ErrorBody",
    "ErrorResponse",
    "PageRenderer",
    "about_field",
    "error_responses",
    "install_error_handlers",
]

logger = logging.getLogger("dashboard")  # not under "agentctl": runs give that logger Prefect's API handler


class ErrorBody(BaseModel):
    code: str
    """A stable word for programs: not_found, invalid, version_conflict, unauthorized, csrf…"""
    message: str
    """One line for people; for an invalid agent it names chunk, action and field."""
    field: str | None = None
    """The request field at fault (``name``, ``actions_yaml``, ``params.base_url``…), when one is."""
    problems: list[str] = []
    """Every problem, one line each, when there are several."""


class ErrorResponse(BaseModel):
    error: ErrorBody


class ApiError(Exception):
    """An error answered as ``status`` with the one error shape."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        problems: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = ErrorBody(code=code, message=message, field=field, problems=problems or [message])
        self.headers = headers


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route: each status documented with the error shape."""
    return {status: {"model": ErrorResponse} for status in statuses}


@contextmanager
def about_field(field: str) -> Iterator[None]:
    """Report an invalid document or value as a 422 about request field ``field``."""
    try:
        yield
    except InvalidAgent as e:
        raise ApiError(422, "invalid", str(e), field=field, problems=e.problems) from e
    except ConfigError as e:
        raise ApiError(422, "invalid", str(e), field=field) from e


def _status_of(error: AgentctlError) -> tuple[int, str]:
    """The HTTP status and code of one of our errors (most specific class first)."""
    table: list[tuple[type[AgentctlError], int, str]] = [
        (AgentNotFound, 404, "not_found"),
        (VersionNotFound, 404, "not_found"),
        (RepositoryNotFound, 404, "repository_not_found"),
        (AmbiguousId, 409, "ambiguous"),
        (VersionConflict, 409, "version_conflict"),
        (AgentInUse, 409, "agent_in_use"),
        (InvalidAgent, 422, "invalid"),
        (ConfigError, 422, "invalid"),
        (StoreUnavailable, 503, "store_unavailable"),
        (PrefectUnavailable, 503, "prefect_unavailable"),
        (ExportAuthError, 400, "export_auth"),
        (ExportRejected, 422, "export_rejected"),
        (ExportConflict, 409, "export_conflict"),
        (RateLimited, 429, "rate_limited"),
        (ExportError, 502, "export_failed"),
        (TemplateError, 422, "invalid"),
        (RunNotPaused, 409, "not_paused"),
        (ExecutionError, 409, "run_refused"),
    ]
    for kind, status, code in table:
        if isinstance(error, kind):
            return status, code
    return 400, "error"


_FIELD_PREFIXES = ("mode", "chunks", "from_chunk", "params", "name", "description", "loom_url")


def _field_of(error: AgentctlError) -> str | None:
    """The field a ``ConfigError`` from the store or the planner names first (``params: …``)."""
    head = str(error).split(":", 1)[0]
    return head if head in _FIELD_PREFIXES else None


def _body_of(exc: Exception) -> tuple[int, ErrorBody, dict[str, str] | None]:
    if isinstance(exc, ApiError):
        return exc.status, exc.body, exc.headers
    if isinstance(exc, RequestValidationError):
        broken = next((d for d in exc.errors() if d.get("type") == "json_invalid"), None)
        if broken is not None:  # FastAPI reports a body that is not JSON as a 422 at a character offset
            at = broken.get("loc", ("body", "?"))[-1]
            reason = (broken.get("ctx") or {}).get("error", "not JSON")
            message = f"the request body is not valid JSON (at character {at}: {reason})"
            return 400, ErrorBody(code="bad_request", message=message, problems=[message]), None
        problems = []
        field = None
        seen: set[str] = set()
        for detail in exc.errors():
            # A value matching no member of a union (``AgentStatus | Literal[""]``) fails once per
            # member, each named in its loc (``str-enum[AgentStatus]``): one problem per field, the
            # first member's, without those names — they are pydantic's, not the request's.
            loc = [
                str(part)
                for part in detail.get("loc", ())
                if part not in ("body", "query", "path") and "[" not in str(part)
            ]
            where = ".".join(loc)
            if where in seen:
                continue
            seen.add(where)
            field = field or where or None
            problems.append(f"{where}: {detail.get('msg', 'invalid')}" if where else detail.get("msg", ""))
        message = problems[0] if len(problems) == 1 else f"{len(problems)} problems: " + "; ".join(problems)
        return 422, ErrorBody(code="invalid", message=message, field=field, problems=problems), None
    if isinstance(exc, AgentctlError):
        status, code = _status_of(exc)
        problems = exc.problems if isinstance(exc, InvalidAgent) else [str(exc)]
        body = ErrorBody(code=code, message=str(exc), field=_field_of(exc), problems=problems)
        return status, body, None
    if isinstance(exc, StarletteHTTPException):
        # 400: FastAPI could not parse the body (not JSON); problems as in every other error.
        codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}
        code = codes.get(exc.status_code, "http_error")
        message = str(exc.detail)
        return exc.status_code, ErrorBody(code=code, message=message, problems=[message]), None
    return 500, ErrorBody(code="internal", message="internal error: see the dashboard's log"), None


PageRenderer = Callable[[Request, int, ErrorBody], Response]


def install_error_handlers(app: FastAPI, render_page: PageRenderer) -> None:
    """Answer errors as JSON under ``/api`` and as pages elsewhere (a 401 page → the sign-in form)."""

    async def handle(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, AgentctlError | ApiError | RequestValidationError | StarletteHTTPException):
            # Prefect's client failed because Prefect went away after the route's up-front check (or
            # a route has none): said as the CLI says it, a 503, not a 500.
            unavailable = await asyncio.to_thread(prefect_unavailable_behind, exc)
            exc = unavailable if unavailable is not None else exc
        status, body, headers = _body_of(exc)
        if status >= 500:
            logger.error("%s %s failed: %s", request.method, request.url.path, body.message, exc_info=exc)
        if request.url.path.startswith("/api"):
            return JSONResponse(
                ErrorResponse(error=body).model_dump(mode="json"), status_code=status, headers=headers
            )
        if status == 401:
            from urllib.parse import quote

            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        return render_page(request, status, body)

    # Prefect's client fails with an httpx error or a RuntimeError: handled as ours are, where the
    # handler of ``Exception`` would answer and then re-raise to the server.
    for kind in (
        ApiError,
        RequestValidationError,
        AgentctlError,
        StarletteHTTPException,
        httpx.HTTPError,
        RuntimeError,
        Exception,
    ):
        app.add_exception_handler(kind, handle)
