"""Configuration from the environment (``AGENTCTL_*``), in one place for every layer."""

from __future__ import annotations

import getpass
import uuid
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from agents_store.errors import ConfigError

__all__ = ["LOCAL_USER_ID", "Settings", "get_settings", "local_author"]

LOCAL_USER_ID = uuid.uuid5(uuid.NAMESPACE_URL, "agentctl:local-user")
"""The owner of agents when nobody signed in: the person at this machine."""


class Settings(BaseSettings):
    """Every knob, read from ``AGENTCTL_<NAME>`` environment variables.

    ``home`` holds the default SQLite database and run artifacts (screenshots, traces, sessions).

    The Supabase settings keep the names Supabase's own tools use (``SUPABASE_URL``,
    ``SUPABASE_KEY``): the service_role / secret key on a trusted worker, or the project's
    anon / publishable key with a signed-in user's JWT in ``SUPABASE_ACCESS_TOKEN`` (a user's JWT
    may also stand alone as ``SUPABASE_KEY`` where no API gateway checks the key).
    """

    model_config = SettingsConfigDict(env_prefix="AGENTCTL_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".agentctl")
    database_url: str | None = None
    user_id: uuid.UUID = LOCAL_USER_ID
    user_name: str = "local"
    supabase_url: str | None = Field(default=None, validation_alias="SUPABASE_URL")
    supabase_key: SecretStr | None = Field(default=None, validation_alias="SUPABASE_KEY")
    supabase_access_token: SecretStr | None = Field(default=None, validation_alias="SUPABASE_ACCESS_TOKEN")
    github_throttle: bool = True
    """Keep PyGithub's pauses between GitHub requests; ``AGENTCTL_GITHUB_THROTTLE=false`` for test servers."""

    chromium: Path | None = None
    """A Chromium/Chrome executable; default: Playwright's own browser, else Debian's chromium."""
    upload_dir: Path | None = None
    """The only folder ``upload`` actions may read files from; default ``$AGENTCTL_HOME/uploads``."""
    pause_timeout_seconds: int = 3600
    """How long a run waits for an approval or a step decision before it fails."""
    browser_limit: str = "agentctl-browsers"
    """The Prefect global concurrency limit a run holds while it has a browser open (when that limit
    exists: ``prefect gcl create agentctl-browsers --limit 4``); empty to never ask."""

    def runs_dir(self) -> Path:
        """Where each run keeps its evidence: ``<home>/runs/<flow_run_id>/``."""
        return self.home.expanduser() / "runs"

    def resolved_upload_dir(self) -> Path:
        return (self.upload_dir or self.home.expanduser() / "uploads").expanduser().resolve()

    def resolved_database_url(self) -> str:
        """The store URL: ``AGENTCTL_DATABASE_URL``, else the Supabase project when ``SUPABASE_URL``
        and ``SUPABASE_KEY`` are set, else SQLite under ``home``.

        Raises:
            ConfigError: only one of ``SUPABASE_URL`` and ``SUPABASE_KEY`` is set.
        """
        if self.database_url:
            return self.database_url
        if self.supabase_url or self.supabase_key:
            if not (self.supabase_url and self.supabase_key):
                missing = "SUPABASE_KEY" if self.supabase_url else "SUPABASE_URL"
                raise ConfigError(
                    f"{missing} is not set: the Supabase store needs both SUPABASE_URL and SUPABASE_KEY "
                    "(or set AGENTCTL_DATABASE_URL to use another store)"
                )
            return self.supabase_url
        return f"sqlite:///{self.home.expanduser() / 'agentctl.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once; tests that change the environment call ``cache_clear``."""
    return Settings()


def local_author(fallback: str) -> str:
    """The author of a change made at this machine, in its versions: the OS user, as git names a
    commit's author, whether it came from the command line or the local dashboard (the dashboard
    wrote "local" where the command line wrote "root" for the same person)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return fallback
