"""Versioned SQL migrations, applied in order by the store when it opens a database.

Each dialect has a folder of ``NNNN_name.sql`` files. ``agentctl_migrations`` records which ran;
a database that has a migration this program does not know is refused (it was upgraded by a newer
agentctl), never modified.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

__all__ = ["Migration", "migrations_for"]


@dataclass(frozen=True)
class Migration:
    version: str
    sql: str


def migrations_for(dialect: str) -> list[Migration]:
    """The migrations of a dialect folder (``sqlite`` or ``postgres``), in order."""
    folder = resources.files(__package__).joinpath(dialect)
    files = sorted((entry for entry in folder.iterdir() if entry.name.endswith(".sql")), key=lambda e: e.name)
    return [Migration(version=f.name.removesuffix(".sql"), sql=f.read_text("utf-8")) for f in files]
