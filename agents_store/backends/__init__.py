"""Store backends, chosen by URL: ``sqlite:///…`` (default), ``postgresql://…`` or a Supabase
project's ``https://…`` URL (its key from ``SUPABASE_KEY``).

Each backend is imported only when chosen, so that opening the default store does not pay for the
others' libraries (``supabase`` alone takes about a second to import).
"""

from __future__ import annotations

from agents_store.errors import ConfigError
from agents_store.store import AgentStore

__all__ = ["open_store"]


def open_store(url: str) -> AgentStore:
    """Open (and, for SQL databases, migrate) the store at ``url``.

    Raises:
        ConfigError: the URL's scheme is not one we support, or a Supabase URL comes without
            ``SUPABASE_KEY``.
        StoreUnavailable: the database cannot be reached (or, Supabase, refuses the key).
        SchemaError: the database was migrated by a newer agentctl (or, Supabase, lacks the
            migration).
    """
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        from agents_store.backends.sqlite import SqliteStore

        return SqliteStore(url)
    if scheme.split("+")[0] in ("postgres", "postgresql"):
        from agents_store.backends.postgres import PostgresStore

        return PostgresStore(url)
    if scheme in ("http", "https"):
        return _open_supabase(url)
    raise ConfigError(
        f"unsupported scheme {scheme!r}; use sqlite:///path/to/file.db, "
        "postgresql://user:password@host:5432/dbname or a Supabase project URL (https://<ref>.supabase.co)",
        field="database_url",
    )


def _open_supabase(url: str) -> AgentStore:
    from agents_store.backends.supabase import SupabaseStore
    from agents_store.settings import get_settings

    settings = get_settings()
    if settings.supabase_key is None:
        raise ConfigError(f"SUPABASE_KEY is not set: the Supabase project at {url} needs a key")
    token = settings.supabase_access_token
    return SupabaseStore(
        url,
        settings.supabase_key.get_secret_value(),
        access_token=token.get_secret_value() if token is not None else None,
    )
