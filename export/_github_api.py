"""The boundary with PyGithub: building the client, and turning its errors into ours.

Every GitHub failure becomes one ``ExportError`` whose message says what failed and what to do, in
one line, with PyGithub's exception kept as the cause. Tokens are never part of a message.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from github import Auth, Github, GithubException, GithubRetry, RateLimitExceededException

from agents_store.errors import (
    ExportAuthError,
    ExportConflict,
    ExportError,
    ExportRejected,
    RateLimited,
    RepositoryNotFound,
)

__all__ = ["DEFAULT_BASE_URL", "connect", "github_errors"]

# Importing PyGithub sets its "github" logger to INFO with a console handler of its own, so every
# request its retry logic looks at ("Request POST … failed with 403: Forbidden") was printed above
# the one line our error says it in. Its warnings still show.
logging.getLogger("github").setLevel(logging.WARNING)

DEFAULT_BASE_URL = "https://api.github.com"

# Wait this long at most for a rate limit to reset before giving up with RateLimited. PyGithub's
# default retry would otherwise sleep until the reset — up to an hour, silently, in a CLI.
_MAX_RATE_LIMIT_WAIT_SECONDS = 10


def connect(
    token: str | None,
    *,
    base_url: str = DEFAULT_BASE_URL,
    throttle: bool = True,
    timeout: int = 30,
) -> Github:
    """A PyGithub client for ``base_url`` (GitHub, or GitHub Enterprise's ``https://HOST/api/v3``).

    ``throttle`` keeps PyGithub's pauses between requests (0.25 s) and writes (1 s), which GitHub asks
    of clients that write; turn it off for a test server.
    """
    retry = GithubRetry(total=3, backoff_factor=0.5, max_rate_limit_wait=_MAX_RATE_LIMIT_WAIT_SECONDS)
    auth = Auth.Token(token) if token else None
    if throttle:
        return Github(base_url=base_url.rstrip("/"), auth=auth, timeout=timeout, retry=retry)
    return Github(
        base_url=base_url.rstrip("/"),
        auth=auth,
        timeout=timeout,
        retry=retry,
        seconds_between_requests=0,
        seconds_between_writes=0,
    )


@contextmanager
def github_errors(subject: str) -> Iterator[None]:
    """Translate PyGithub's and the network's errors raised inside into ``ExportError``s about ``subject``.

    ``subject`` names what was being read or written ("repository acme/agents", "branch main of
    acme/agents"), so that a 404 says what was not found.
    """
    try:
        yield
    except GithubException as e:
        raise translate(e, subject) from e
    except OSError as e:  # requests' ConnectionError and Timeout are OSErrors
        raise ExportError(f"cannot reach GitHub for {subject}: {_first_line(str(e))}") from e


def translate(error: GithubException, subject: str) -> ExportError:
    """The one ``ExportError`` a GitHub error means (the caller raises it ``from`` the original)."""
    status = error.status
    message = _message(error)
    if isinstance(error, RateLimitExceededException) or status == 429:
        return _rate_limited(error)
    if status == 401:
        return ExportAuthError(
            f"GitHub refused the token (401 {message}): check GITHUB_TOKEN or the --token-block secret"
        )
    if status == 403:
        return ExportAuthError(
            f"GitHub refused access to {subject} (403 {message}): the token needs read and write "
            "access to the repository's contents"
        )
    if status == 404:
        return RepositoryNotFound(f"{subject} was not found on GitHub (404), or the token cannot see it")
    if status == 409:
        if "empty" in message.lower():
            return ExportConflict(
                f"{subject} is empty (409 {message}): GitHub's Git Data API cannot make its first commit; "
                "add one (e.g. a README from the repository's page), or export to a new repository "
                "with --create-repo"
            )
        return ExportConflict(f"GitHub reported a conflict on {subject} (409 {message})")
    if status == 422:
        if "fast forward" in message.lower():
            return ExportConflict(
                f"{subject} moved while exporting (someone pushed meanwhile); nothing was changed: "
                "run the export again"
            )
        return ExportRejected(f"GitHub refused the request on {subject} (422 {message}{_details(error)})")
    return ExportError(f"GitHub answered {status} for {subject}: {message}")


def _rate_limited(error: GithubException) -> RateLimited:
    headers = _lower_keys(error.headers)
    reset_at = _reset_time(headers.get("x-ratelimit-reset"))
    if headers.get("x-ratelimit-remaining") != "0" or reset_at is None:
        return RateLimited(
            "GitHub's secondary rate limit stopped the request (too many writes in a short time): "
            "wait a minute, then export again"
        )
    minutes = max(1, round((reset_at - datetime.now(UTC)).total_seconds() / 60))
    limit = headers.get("x-ratelimit-limit", "?")
    return RateLimited(
        f"GitHub's API rate limit is used up ({limit} requests an hour): it resets at "
        f"{reset_at:%Y-%m-%d %H:%M:%S}Z, in about {minutes} min; try again then",
        reset_at=reset_at,
    )


def _reset_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(int(float(value)), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _message(error: GithubException) -> str:
    data = error.data
    if isinstance(data, Mapping) and isinstance(data.get("message"), str):
        return _first_line(data["message"])
    return error.message or "no message"


def _details(error: GithubException) -> str:
    """GitHub's validation ``errors`` list (422), as ``: field name: message; …``."""
    data = error.data
    items = data.get("errors") if isinstance(data, Mapping) else None
    if not isinstance(items, list) or not items:
        return ""
    parts = []
    for item in items[:3]:
        if isinstance(item, Mapping):
            text = item.get("message") or " ".join(str(item[k]) for k in ("field", "code") if item.get(k))
            parts.append(str(text))
        else:
            parts.append(str(item))
    return ": " + "; ".join(_first_line(p) for p in parts)


def _lower_keys(headers: Mapping[str, Any] | None) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (headers or {}).items()}


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= 300 else line[:299] + "…"
