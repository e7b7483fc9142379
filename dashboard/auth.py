"""Signing in, and knowing who asks: bearer tokens, session cookies, the local user, and CSRF.

Every request resolves to one ``Principal`` (or a 401). API clients send ``Authorization: Bearer``
(the dashboard token, or a Supabase access token); pages sign in once with the same credential and
get an HttpOnly, signed session cookie. In local mode the person at the machine is signed in.

A request that changes something and is not authenticated by an ``Authorization`` header must carry
the CSRF token (``X-CSRF-Token`` header, or a ``csrf_token`` form field) equal to the signed
``agentctl_csrf`` cookie — double submit: another site can make a browser send the cookies, but can
neither read them nor set that header. Bearer requests are exempt: a browser never adds that header
by itself.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fastapi import Request

from agents_store.settings import local_author
from agents_store.store import AgentStore
from dashboard.config import AccessSettings
from dashboard.errors import ApiError

__all__ = [
    "CSRF_COOKIE",
    "SESSION_COOKIE",
    "Authenticator",
    "Principal",
    "safe_next",
]

SESSION_COOKIE = "agentctl_session"
CSRF_COOKIE = "agentctl_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Principal:
    """Who a request acts for; every store call is scoped to ``user_id``."""

    user_id: uuid.UUID
    name: str
    via: Literal["local", "token", "jwt"]
    bearer: bool = False
    """Authenticated by an ``Authorization`` header (exempt from CSRF checks)."""

    @property
    def author(self) -> str:
        """Who the versions list says made a change: locally, the machine's user, as the CLI says."""
        return local_author(self.name) if self.via == "local" else self.name


def _local_key(key_file: Path | None) -> str:
    """The local mode's random key, read from ``key_file`` or made there (readable by its owner only)."""
    if key_file is None:
        return secrets.token_hex(32)
    with contextlib.suppress(FileNotFoundError):
        kept = key_file.read_text(encoding="ascii").strip()
        if len(kept) == 64:
            return kept
    key = secrets.token_hex(32)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as out:
        out.write(key)
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


class Authenticator:
    """Checks credentials and signs the cookies, with a key derived from the configured secret.

    The key comes from the token or JWT secret, so sessions survive a restart and end when the
    secret changes; in local mode (nothing to derive from) it is random, kept in ``key_file`` so
    that the pages open when the dashboard restarts still send a valid CSRF token (each of their
    buttons answered 403 until reloaded).
    """

    def __init__(self, access: AccessSettings, store: AgentStore, key_file: Path | None = None) -> None:
        self.access = access
        self.store = store
        root = (access.token or access.jwt_secret or _local_key(key_file)).encode("utf-8")
        self._key = hmac.new(root, b"agentctl-dashboard-cookies-v1", hashlib.sha256).digest()
        self._known_users: set[uuid.UUID] = set()
        self.ensure_user(access.user_id, access.user_name)

    # ------------------------------------------------------------------ signing

    def _mac(self, data: bytes) -> str:
        return _b64(hmac.new(self._key, data, hashlib.sha256).digest())

    def _sign(self, payload: dict[str, Any]) -> str:
        body = _b64(json.dumps(payload, separators=(",", ":")).encode("utf-8"))
        return f"{body}.{self._mac(body.encode('ascii'))}"

    def _unsign(self, value: str) -> dict[str, Any] | None:
        body, _, mac = value.partition(".")
        # As UTF-8 bytes: a str with non-ASCII characters (a forged cookie) made compare_digest and
        # encode("ascii") raise, a 500 where a stranger gets a 401.
        if not body or not hmac.compare_digest(mac.encode(), self._mac(body.encode()).encode()):
            return None
        try:
            payload = json.loads(_unb64(body))
        except ValueError:
            return None
        return payload if isinstance(payload, dict) else None

    def new_csrf_token(self) -> str:
        nonce = secrets.token_urlsafe(24)
        return f"{nonce}.{self._mac(nonce.encode('ascii'))}"

    def valid_csrf_token(self, value: str | None) -> bool:
        if not value:
            return False
        nonce, _, mac = value.partition(".")
        return bool(nonce) and hmac.compare_digest(mac.encode(), self._mac(nonce.encode()).encode())

    # ------------------------------------------------------------------ credentials

    def ensure_user(self, user_id: uuid.UUID, name: str, email: str | None = None) -> None:
        """Create the user row once per process (agents reference their owner)."""
        if user_id not in self._known_users:
            self.store.ensure_user(user_id, name, email)
            self._known_users.add(user_id)

    def check_credential(self, credential: str) -> Principal:
        """The principal a dashboard token or a Supabase access token stands for.

        Raises:
            ApiError: 401 when it is neither.
        """
        credential = credential.strip()
        token = self.access.token
        if token and hmac.compare_digest(credential.encode("utf-8"), token.encode("utf-8")):
            return Principal(self.access.user_id, self.access.user_name, "token")
        if self.access.jwt_secret and credential.count(".") == 2:
            return self._from_jwt(credential)
        raise unauthorized("the token is not valid")

    def _from_jwt(self, credential: str) -> Principal:
        import jwt

        audience = self.access.supabase_jwt_audience
        try:
            claims = jwt.decode(
                credential,
                self.access.jwt_secret or "",
                algorithms=["HS256"],
                audience=audience,
                options={"require": ["exp", "sub"], "verify_aud": audience is not None},
            )
            user_id = uuid.UUID(str(claims["sub"]))
        except (jwt.PyJWTError, ValueError) as e:
            raise unauthorized(f"the access token is not valid: {e}") from e
        email = claims.get("email") if isinstance(claims.get("email"), str) else None
        self.ensure_user(user_id, email or str(user_id), email)
        return Principal(user_id, email or str(user_id)[:8], "jwt")

    # ------------------------------------------------------------------ sessions

    def session_cookie(self, principal: Principal, credential: str) -> tuple[str, int]:
        """The cookie value and lifetime (seconds) of a page sign-in; a JWT's expiry caps it."""
        lifetime = int(self.access.dashboard_session_hours * 3600)
        if principal.via == "jwt":
            import jwt

            exp = jwt.decode(credential, options={"verify_signature": False}).get("exp")
            if isinstance(exp, int | float):
                lifetime = max(1, min(lifetime, int(exp - time.time())))
        payload: dict[str, Any] = {"u": str(principal.user_id), "n": principal.name, "v": principal.via}
        payload["exp"] = int(time.time()) + lifetime
        return self._sign(payload), lifetime

    def _from_session(self, value: str) -> Principal | None:
        payload = self._unsign(value)
        if payload is None or not isinstance(payload.get("exp"), int) or payload["exp"] < time.time():
            return None
        if payload.get("v") not in self.access.modes:
            return None  # signed under a sign-in method no longer configured
        try:
            return Principal(uuid.UUID(payload["u"]), str(payload.get("n", "")), payload["v"])
        except (KeyError, ValueError):
            return None

    # ------------------------------------------------------------------ requests

    def authenticate(self, request: Request) -> Principal:
        """Who sends ``request``; checks CSRF on unsafe methods of cookie and local requests.

        Raises:
            ApiError: 401 without valid credentials; 403 when the CSRF token is missing or wrong.
        """
        header = request.headers.get("authorization", "")
        if header:
            scheme, _, credential = header.partition(" ")
            if scheme.lower() != "bearer" or not credential.strip():
                raise unauthorized("the Authorization header must be: Bearer <token>")
            if self.access.open:
                raise unauthorized("this dashboard takes no token (local mode): send no Authorization")
            principal = self.check_credential(credential)
            return Principal(principal.user_id, principal.name, principal.via, bearer=True)
        if self.access.open:
            principal = Principal(self.access.user_id, self.access.user_name, "local")
        else:
            cookie = request.cookies.get(SESSION_COOKIE)
            found = self._from_session(cookie) if cookie else None
            if found is None:
                raise unauthorized("sign in: send Authorization: Bearer <token>, or sign in on /login")
            principal = found
        if request.method in _UNSAFE:
            self.check_csrf(request)
        return principal

    def check_csrf(self, request: Request, form_value: str | None = None) -> None:
        """Raises a 403 unless the request carries the token of its CSRF cookie."""
        cookie = request.cookies.get(CSRF_COOKIE)
        sent = request.headers.get(CSRF_HEADER) or form_value
        cookie, sent = cookie or "", sent or ""
        matches = bool(cookie) and hmac.compare_digest(cookie.encode(), sent.encode())
        if not (matches and self.valid_csrf_token(cookie)):
            raise ApiError(
                403,
                "csrf",
                "this request has no valid CSRF token: reload the page and try again "
                f"(send the {CSRF_COOKIE} cookie's value as the X-CSRF-Token header)",
            )


def safe_next(target: str | None, default: str = "/") -> str:
    """Where to go after signing in: only a path on this site (no scheme, no ``//host``), else ``default``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(ord(c) < 32 for c in target):
        return default
    return target
