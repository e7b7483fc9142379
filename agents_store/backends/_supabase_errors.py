"""What a Supabase project's answers mean for the store: its errors and its keys.

The Data API (PostgREST) answers an error as JSON ``{code, message, details, hint}``: ``PGRST…`` codes
are PostgREST's own, five-character codes are PostgreSQL's SQLSTATE (or ``PT…`` raised by our SQL
functions), and an answer without a code comes from the API gateway in front (a refused key). The
store's exceptions keep the code and the message, so a user can look them up.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Any

from agents_store.errors import SchemaError, StoreError, StoreUnavailable

__all__ = ["KeyIdentity", "describe", "identity_of", "translate"]

# Not in the schema cache: the migration was not pushed (table / function), or an older PostgREST
# that reports PostgreSQL's own "undefined table / function".
_SCHEMA_MISSING = frozenset({"PGRST202", "PGRST205", "42P01", "42883"})
# The JWT was refused (invalid, expired, or none while anonymous access is off).
_KEY_REFUSED = frozenset({"PGRST301", "PGRST302", "PGRST303", "401", "403"})
# PostgREST cannot reach or use its database, or a proxy in front failed.
_UNAVAILABLE = frozenset({"PGRST000", "PGRST001", "PGRST002", "PGRST003", "502", "503", "504", "520"})


def describe(code: str | None, message: str | None) -> str:
    """``PGRST205: Could not find …``, the form every store error about an answer uses."""
    text = message.strip().splitlines()[0] if message and message.strip() else "no message"
    return f"{code}: {text}" if code else text


def translate(code: str | None, message: str | None, url: str) -> StoreError:
    """The store error for an error answer that the calling method does not handle itself."""
    what = describe(code, message)
    if code in _SCHEMA_MISSING:
        return SchemaError(
            f"the Supabase project at {url} has no agentctl schema ({what}); push supabase/migrations "
            "with `supabase db push` (see docs/supabase.md)"
        )
    if not code or code in _KEY_REFUSED:
        return StoreUnavailable(
            f"Supabase at {url} refused the key ({what}); check SUPABASE_KEY (and SUPABASE_ACCESS_TOKEN)"
        )
    if code in _UNAVAILABLE or code.startswith(("08", "53", "57")):
        return StoreUnavailable(f"Supabase at {url} cannot serve the request ({what})")
    if code.startswith("23"):
        return StoreError(f"the database refused the write ({what})")
    if code == "42501":
        return StoreError(f"Supabase at {url} denied the request ({what})")
    return StoreError(f"Supabase at {url} answered an error ({what})")


@dataclass(frozen=True)
class KeyIdentity:
    """Who the store acts as: the Postgres role the key maps to, and the signed-in user, if any."""

    role: str | None
    user_id: uuid.UUID | None = None


def identity_of(key: str, access_token: str | None = None) -> KeyIdentity:
    """Read the role (and user) from the key, or from the signed-in user's JWT when there is one.

    Supabase's new keys name their role in a prefix; the legacy keys and users' access tokens are
    JWTs whose claims say it. Nothing is verified here (the project does that); an unknown key gives
    an unknown role and the project's answer decides.
    """
    token = access_token or key
    if token.startswith("sb_secret_"):
        return KeyIdentity("service_role")
    if token.startswith("sb_publishable_"):
        return KeyIdentity("anon")
    claims = _claims(token)
    role = claims.get("role")
    try:
        user_id = uuid.UUID(str(claims["sub"])) if "sub" in claims else None
    except ValueError:
        user_id = None
    return KeyIdentity(role if isinstance(role, str) else None, user_id if role == "authenticated" else None)


def _claims(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    body = parts[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:  # bad base64 (binascii.Error), bad UTF-8 or bad JSON: not a JWT
        return {}
    return claims if isinstance(claims, dict) else {}
