"""``http`` actions: Make.com / Zapier webhooks and any REST call, on an injected ``httpx.AsyncClient``.

Every request carries an ``Idempotency-Key`` derived from (flow run, chunk, action): a retried chunk
sends the same key again, so a receiver that honours it does not repeat the side effect, while two
actions — or two runs — never share one. A 429/503 answer with ``Retry-After`` is waited out and
retried within the action (bounded), as the receiver asked; other failures fail the action and the
chunk's own retries take over.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import logging
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from agents_store.models import HttpAction
from tasks.errors import ActionTimeout, HttpActionFailed

__all__ = ["HttpResult", "action_client", "idempotency_key", "run_http_action"]

logger = logging.getLogger("agentctl.http")

_IDEMPOTENCY_NAMESPACE = uuid.UUID("6d1f1c2e-4b53-4e0f-9a39-1c6b1a0c7e55")
DEFAULT_TIMEOUT_MS = 30_000
MAX_RETRY_AFTER_SECONDS = 30.0
MAX_RETRY_AFTER_ROUNDS = 3
MAX_REDIRECTS = 20

UrlGuard = Callable[[str], None]
"""Raises (``UnsafeAction``) when the request may not go to that URL: a secret bound to other hosts."""


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's own default (certifi, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``), built once per process.

    Building it parses the whole CA bundle (10–70 ms here, more on a loaded machine): once per run
    it sat on every run's start, though most agents make no HTTPS call at all.
    """
    return httpx.create_ssl_context()


def action_client() -> httpx.AsyncClient:
    """The HTTP client of one run: redirects followed (counted by ``run_http_action``), TLS verified."""
    return httpx.AsyncClient(follow_redirects=True, verify=_tls_context())


def idempotency_key(flow_run_id: uuid.UUID | str, chunk_id: uuid.UUID | str, action_index: int) -> str:
    """The same for every attempt of one action in one run; different for any other action or run."""
    return str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{flow_run_id}/{chunk_id}/{action_index}"))


@dataclass
class HttpResult:
    status: int
    body: Any
    """The parsed JSON answer, or its text when it is not JSON."""

    def as_var(self) -> dict[str, Any]:
        """What ``var`` saves: reach into it with ``{{ vars.NAME.json.field }}``."""
        is_json = not isinstance(self.body, str)
        return {
            "status": self.status,
            "json": self.body if is_json else None,
            "text": None if is_json else self.body,
        }


def _check_ascii(action: HttpAction, headers: dict[str, str]) -> None:
    """HTTP headers carry ASCII only: say which header, not Python's codec error (nor the value,
    which may hold a secret)."""
    for name, value in headers.items():
        for what, text in (("name", name), ("value", value)):
            try:
                text.encode("ascii")
            except UnicodeEncodeError as e:
                header = name.encode("ascii", "replace").decode()
                raise HttpActionFailed(
                    f"{action.method} {_safe_url(action.url)}: the {what} of header {header!r} holds a "
                    f"non-ASCII character at position {e.start + 1}: HTTP headers carry ASCII text only "
                    "(percent-encode or base64 the value)"
                ) from None


async def run_http_action(
    action: HttpAction, client: httpx.AsyncClient, *, key: str, guard: UrlGuard | None = None
) -> HttpResult:
    """Send one rendered ``http`` action.

    ``guard`` is asked about the URL before anything is sent, and about every redirect before it is
    followed (a 307 would resend the headers and body, secrets included, to wherever it points).

    Raises:
        UnsafeAction: ``guard`` refused the URL or a redirect; nothing was sent there.
        HttpActionFailed: an unexpected status, or no connection.
        ActionTimeout: no answer within the action's timeout.
    """
    headers = {"Idempotency-Key": key, **(action.headers or {})}
    _check_ascii(action, headers)
    timeout = (action.timeout_ms or DEFAULT_TIMEOUT_MS) / 1000
    kwargs: dict[str, Any] = {"headers": headers, "timeout": timeout}
    if action.json_body is not None:
        kwargs["json"] = action.json_body
    elif action.form is not None:
        kwargs["data"] = action.form
    elif action.body is not None:
        kwargs["content"] = action.body.encode("utf-8")
    url = action.url
    for round_number in range(MAX_RETRY_AFTER_ROUNDS + 1):
        try:
            # One deadline for the whole call: httpx's timeout bounds each read, so a receiver that
            # trickled its answer a byte at a time held the chunk far past ``timeout_ms``.
            async with asyncio.timeout(timeout):
                response = await _send(client, action.method, url, kwargs, guard)
        except (httpx.TimeoutException, TimeoutError) as e:
            raise ActionTimeout(f"{action.method} {_safe_url(url)}: no answer within {timeout:g} s") from e
        except httpx.HTTPError as e:
            raise HttpActionFailed(f"{action.method} {_safe_url(url)}: {type(e).__name__}: {e}") from e
        logger.debug("%s %s → %s", action.method, _safe_url(url), response.status_code)
        wait = _retry_after(response)
        if (
            wait is not None
            and round_number < MAX_RETRY_AFTER_ROUNDS
            and not _expected(action, response.status_code)
        ):
            logger.info(
                "%s %s answered %s; retrying after %.1f s as it asked",
                action.method,
                _safe_url(url),
                response.status_code,
                wait,
            )
            await asyncio.sleep(wait)
            continue
        break
    if not _expected(action, response.status_code):
        expected = ", ".join(map(str, action.expect_status)) if action.expect_status else "2xx"
        asked = response.headers.get("Retry-After") if _retry_after(response) is not None else None
        waited = (
            f" (it asked to retry after {asked}; waited {MAX_RETRY_AFTER_ROUNDS} times, at most "
            f"{MAX_RETRY_AFTER_SECONDS:g} s each)"
            if asked
            else ""
        )
        said = _excerpt(response.text)
        raise HttpActionFailed(
            f"{action.method} {_safe_url(url)} answered {response.status_code}, expected {expected}"
            f"{waited}{': ' + said if said else ''}",
            status=response.status_code,
            details={"status": response.status_code},
        )
    return HttpResult(status=response.status_code, body=_body(response))


async def _send(
    client: httpx.AsyncClient, method: str, url: str, kwargs: dict[str, Any], guard: UrlGuard | None
) -> httpx.Response:
    """One request, its redirects followed here (not by httpx) when ``guard`` must see each hop."""
    if guard is None:
        return await client.request(method, url, **kwargs)
    guard(url)
    response = await client.request(method, url, follow_redirects=False, **kwargs)
    for _ in range(MAX_REDIRECTS):
        following = response.next_request
        if following is None:
            break
        guard(str(following.url))
        response = await client.send(following, follow_redirects=False)
    return response


def _expected(action: HttpAction, status: int) -> bool:
    if action.expect_status:
        return status in action.expect_status
    return 200 <= status < 300


def _retry_after(response: httpx.Response) -> float | None:
    if response.status_code not in (429, 503):
        return None
    header = response.headers.get("Retry-After")
    if header is None:
        return None
    try:
        seconds = float(header)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return None
        seconds = (parsed - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def _body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def _excerpt(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _safe_url(url: str) -> str:
    """The URL without its query string, which often carries tokens."""
    return url.split("?", 1)[0]
