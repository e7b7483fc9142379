"""Store backends, chosen by URL: ``sqlite:///…`` (default) or ``postgresql://…``."""

from __future__ import annotations

from agents_store.errors import ConfigError
from agents_store.store import AgentStore

__all__ = ["open_store"]


def open_store(url: str) -> AgentStore:
    """Open (and migrate) the store at ``url``.

    Raises:
        ConfigError: the URL's scheme is not one we support.
        StoreUnavailable: the database cannot be reached.
        SchemaError: the database was migrated by a newer agentctl.
    """
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        from agents_store.backends.sqlite import SqliteStore

        return SqliteStore(url)
    if scheme.split("+")[0] in ("postgres", "postgresql"):
        from agents_store.backends.postgres import PostgresStore

        return PostgresStore(url)
    raise ConfigError(
        f"database_url: unsupported scheme {scheme!r}; use sqlite:///path/to/file.db or "
        "postgresql://user:password@host:5432/dbname"
    )
