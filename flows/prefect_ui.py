"""Which Prefect a process talks to, whether it answers, and links into its UI, for every way in
(CLI and dashboard).

A link is only worth giving when a UI outlives the process: in embedded mode (no ``PREFECT_API_URL``)
Prefect's temporary server stops with it, so there is no page to link to.
"""

from __future__ import annotations

import os
import sys
import uuid
from urllib.parse import urlsplit, urlunsplit

from agents_store.errors import PrefectUnavailable, error_chain

__all__ = [
    "embedded_mode",
    "flow_run_url",
    "prefect_unavailable_behind",
    "require_prefect_api",
    "task_run_url",
]

_answering: set[str] = set()
"""The API URLs found answering as a Prefect API in this process (each is asked once)."""


def embedded_mode() -> bool:
    """True without ``PREFECT_API_URL``: Prefect then starts a temporary server in this process."""
    from prefect.settings import get_current_settings

    return not get_current_settings().api.url and not os.environ.get("PREFECT_API_URL")


def _ui_url() -> str | None:
    if embedded_mode():
        return None
    from prefect.settings import get_current_settings

    ui = get_current_settings().ui_url
    return ui.rstrip("/") if ui else None


def flow_run_url(flow_run_id: uuid.UUID | str) -> str | None:
    """The flow run's page in the Prefect UI, when a UI outlives this process."""
    ui = _ui_url()
    return f"{ui}/runs/flow-run/{flow_run_id}" if ui else None


def task_run_url(task_run_id: uuid.UUID | str) -> str | None:
    """A task run's page (one chunk's attempts) in the Prefect UI, when a UI outlives this process."""
    ui = _ui_url()
    return f"{ui}/runs/task-run/{task_run_id}" if ui else None


def require_prefect_api(*, cached: bool = True) -> None:
    """Before a command asks Prefect anything: check that ``PREFECT_API_URL`` names a Prefect API
    that answers (once per process and URL, unless ``cached`` is False). Nothing to check in
    embedded mode.

    Checked up front, a wrong URL is one line before the command has done or drawn anything — not
    Prefect's client's traceback half-way (``run`` had drawn its table, ``delete`` had deleted).
    A long-lived process (the dashboard) passes ``cached=False``: the server may have stopped since
    it last answered, and a client that has connected once retries a refused connection for about
    a minute before it fails. The check's own client is new, so a refused connection fails at once.

    Raises:
        PrefectUnavailable: nothing answers there, or something that is not a Prefect API does.
    """
    if embedded_mode():
        return
    url = _api_url()
    if cached and url in _answering:
        return
    problem = _probe(url)
    if problem is not None:
        raise problem
    _answering.add(url)


def prefect_unavailable_behind(error: BaseException) -> PrefectUnavailable | None:
    """The one-line error to show for ``error``, raised from inside Prefect's client, when the
    reason is that ``PREFECT_API_URL`` names no Prefect API that answers (now); else None.

    Prefect's client fails as ``RuntimeError("Failed to reach API at …")``, an ``httpx`` error or a
    ``PrefectHTTPStatusError`` (a 404 or 501 from a server that is not Prefect's). The same errors
    can mean something else (a real Prefect's 404 for a missing object), so the API is asked again:
    only a failed check turns ``error`` into ``PrefectUnavailable``.
    """
    if not any(_from_prefect_client(e) for e in error_chain(error)) or embedded_mode():
        return None
    return _probe(_api_url())


def _from_prefect_client(error: BaseException) -> bool:
    if isinstance(error, RuntimeError) and str(error).startswith("Failed to reach API"):
        return True
    httpx = sys.modules.get("httpx")  # not imported: no httpx error can have been raised
    return httpx is not None and isinstance(error, httpx.HTTPError)


def _api_url() -> str:
    from prefect.settings import get_current_settings

    return os.environ.get("PREFECT_API_URL") or str(get_current_settings().api.url or "")


def _probe(url: str) -> PrefectUnavailable | None:
    """Ask the API at ``url`` for its health and its version, as Prefect's own client does (with
    its credentials and TLS settings); None when a Prefect API answers both."""
    import httpx
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            failed = client.api_healthcheck()
            if failed is not None:
                raise failed
            # Anything may answer /health; a Prefect API answers /admin/version with its version.
            client.raise_for_api_version_mismatch()
    except (httpx.HTTPError, RuntimeError, ValueError) as e:  # ValueError: no JSON, no version
        return PrefectUnavailable(_unavailable_message(url, e))
    return None


def _unavailable_message(url: str, error: BaseException) -> str:
    """``PREFECT_API_URL=…: what went wrong; the likely fix`` for a failed check of ``url``."""
    import httpx

    shown = _without_credentials(url)
    parts = urlsplit(url)
    ends_in_api = "api" in parts.path.strip("/").split("/")
    reason = str(error)
    refused = False
    for e in error_chain(error):
        if isinstance(e, httpx.HTTPStatusError):
            code = f"{e.response.status_code} {e.response.reason_phrase}".strip()
            if e.response.status_code in (401, 403):
                reason = f"it refused this client ({code}): check PREFECT_API_KEY or PREFECT_API_AUTH_STRING"
            else:
                reason = f"that is not a Prefect API (GET {e.request.url.path} answered {code})"
            break
        if isinstance(e, httpx.ConnectError):
            reason, refused = "no server answers there", True
            break
        if isinstance(e, httpx.TimeoutException):
            reason, refused = "no answer in time", True
            break
        if isinstance(e, httpx.TransportError):
            reason, refused = f"the connection failed ({type(e).__name__}: {e})", True
            break
        if isinstance(e, ValueError):
            reason = "that is not a Prefect API (its /admin/version gave no version)"
            break
    if not ends_in_api:
        fixed = urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/api"))
        hint = f"the URL must end in /api: export PREFECT_API_URL={_without_credentials(fixed)}"
    elif refused:
        hint = "is the Prefect server running? Start one with `agentctl server` (or unset PREFECT_API_URL)"
    else:
        hint = "use the address `agentctl server` prints, e.g. http://127.0.0.1:4200/api"
    return f"PREFECT_API_URL={shown}: {reason}; {hint}"


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    return urlunsplit(parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host))
