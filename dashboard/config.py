"""Who may use the dashboard, read from ``AGENTCTL_*`` variables, and the one rule about exposure.

Three ways to be signed in:

* **local**: no token and no JWT secret configured, bound to a loopback address — the person at this
  machine is the local default user (``AGENTCTL_USER_ID``).
* **token**: ``AGENTCTL_DASHBOARD_TOKEN`` — one shared secret; pages sign in with it (a session
  cookie), API clients send ``Authorization: Bearer <token>``. Acts as ``AGENTCTL_USER_ID``.
* **jwt**: ``AGENTCTL_SUPABASE_JWT_SECRET`` — Supabase access tokens (HS256); each user is the
  token's ``sub``.

Bound to anything but loopback, the dashboard refuses to start in local mode: anyone on the network
would act as the local user.
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from agents_store.errors import ConfigError
from agents_store.settings import LOCAL_USER_ID

__all__ = ["AccessSettings", "AuthMode", "is_loopback", "require_safe_binding"]

AuthMode = Literal["local", "token", "jwt"]


class AccessSettings(BaseSettings):
    """The dashboard's access configuration (``AGENTCTL_DASHBOARD_TOKEN``, ``AGENTCTL_SUPABASE_JWT_*``)."""

    model_config = SettingsConfigDict(env_prefix="AGENTCTL_", extra="ignore")

    dashboard_token: SecretStr | None = None
    supabase_jwt_secret: SecretStr | None = None
    supabase_jwt_audience: str | None = "authenticated"
    """The ``aud`` a Supabase access token must carry (Supabase signs ``authenticated``)."""
    user_id: uuid.UUID = LOCAL_USER_ID
    user_name: str = "local"
    dashboard_session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    """How long a page sign-in lasts (a JWT sign-in ends sooner when the token expires)."""

    @property
    def token(self) -> str | None:
        value = self.dashboard_token.get_secret_value() if self.dashboard_token else ""
        return value or None

    @property
    def jwt_secret(self) -> str | None:
        value = self.supabase_jwt_secret.get_secret_value() if self.supabase_jwt_secret else ""
        return value or None

    @property
    def modes(self) -> list[AuthMode]:
        """The sign-in methods in force; ``["local"]`` when nothing is configured."""
        found: list[AuthMode] = []
        if self.token:
            found.append("token")
        if self.jwt_secret:
            found.append("jwt")
        return found or ["local"]

    @property
    def open(self) -> bool:
        """True when nobody has to sign in (local mode)."""
        return self.modes == ["local"]


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: addresses only this machine can reach."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_safe_binding(host: str, access: AccessSettings) -> None:
    """Refuse to serve a network address without a way to sign in.

    Raises:
        ConfigError: ``host`` is not loopback and neither a token nor a JWT secret is configured.
    """
    if access.open and not is_loopback(host):
        raise ConfigError(
            f"--host {host}: the dashboard would be open to the network with no sign-in; set "
            "AGENTCTL_DASHBOARD_TOKEN (or AGENTCTL_SUPABASE_JWT_SECRET for per-user sign-in), "
            "or bind to 127.0.0.1"
        )
