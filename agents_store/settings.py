"""Configuration from the environment (``AGENTCTL_*``), in one place for every layer."""

from __future__ import annotations

import uuid
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["LOCAL_USER_ID", "Settings", "get_settings"]

LOCAL_USER_ID = uuid.uuid5(uuid.NAMESPACE_URL, "agentctl:local-user")
"""The owner of agents when nobody signed in: the person at this machine."""


class Settings(BaseSettings):
    """Every knob, read from ``AGENTCTL_<NAME>`` environment variables.

    ``home`` holds the default SQLite database and run artifacts (screenshots, traces, sessions).
    """

    model_config = SettingsConfigDict(env_prefix="AGENTCTL_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".agentctl")
    database_url: str | None = None
    user_id: uuid.UUID = LOCAL_USER_ID
    user_name: str = "local"
    github_throttle: bool = True
    """Keep PyGithub's pauses between GitHub requests; ``AGENTCTL_GITHUB_THROTTLE=false`` for test servers."""

    chromium: Path | None = None
    """A Chromium/Chrome executable; default: Playwright's own browser, else Debian's chromium."""
    upload_dir: Path | None = None
    """The only folder ``upload`` actions may read files from; default ``$AGENTCTL_HOME/uploads``."""
    pause_timeout_seconds: int = 3600
    """How long a run waits for an approval or a step decision before it fails."""

    def runs_dir(self) -> Path:
        """Where each run keeps its evidence: ``<home>/runs/<flow_run_id>/``."""
        return self.home.expanduser() / "runs"

    def resolved_upload_dir(self) -> Path:
        return (self.upload_dir or self.home.expanduser() / "uploads").expanduser().resolve()

    def resolved_database_url(self) -> str:
        """The store URL: ``AGENTCTL_DATABASE_URL``, else SQLite under ``home``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home.expanduser() / 'agentctl.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once; tests that change the environment call ``cache_clear``."""
    return Settings()
