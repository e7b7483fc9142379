"""What every command shares: settings, the store (opened on first use), and output consoles."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import typer
from rich.console import Console

if TYPE_CHECKING:
    from agents_store.settings import Settings
    from agents_store.store import AgentStore

__all__ = ["CliState", "err_console", "out_console", "state_of"]

out_console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class CliState:
    """Options given before the command (``agentctl --database-url … list``)."""

    database_url: str | None = None
    debug: bool = False
    _store: AgentStore | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        from agents_store.settings import get_settings

        return get_settings()

    def store(self) -> AgentStore:
        if self._store is None:
            from agents_store.backends import open_store

            url = self.database_url or self.settings().resolved_database_url()
            self._store = open_store(url)
        return self._store

    def author(self) -> str:
        from agents_store.settings import local_author

        return local_author(self.settings().user_name)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def state_of(ctx: typer.Context) -> CliState:
    """The state the root callback stored on the click context."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


def stdin_is_interactive() -> bool:
    return sys.stdin.isatty()
