"""The tables of the listing commands: one line per row, fitted to the terminal, whole when piped.

Rich lays a table wider than the console out by narrowing every column alike and wrapping cells
over several lines. At 80 columns ``agentctl runs`` cut each run id to ``bf3e5…`` (the id
``agentctl logs`` takes) and ``agentctl list`` spread one agent over three lines. Here a table
names the columns that may give way and how far; ids, statuses and counts are never cut. When the
table does not fit, times lose their year and seconds first (``12-06 02:06``), then the widest
column that may give way is cut with ``…``, down to its floor. Output that is not a terminal (a
pipe, a file) gets every cell whole: ``agentctl runs | grep Failed`` must see what a wide terminal
shows, where rich would lay it out for 80 columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["Cell", "Column", "Listing", "fitted_widths", "print_listing", "time_text"]

Cell = str | Text | datetime | None
"""A cell's value: text, or (in a ``time`` column) a moment, shown as ``time_text`` shows it."""

GAP = 2
"""Spaces between two columns."""


def time_text(moment: datetime | None, *, short: bool = False) -> str:
    """``2026-12-06 02:06:37Z`` (UTC), or ``12-06 02:06`` when a table must be narrow; ``-`` for none."""
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%m-%d %H:%M" if short else "%Y-%m-%d %H:%M:%SZ")


@dataclass(frozen=True)
class Column:
    header: str
    kind: Literal["text", "time"] = "text"
    floor: int | None = None
    """How narrow the column may be cut (with ``…``) when the table does not fit; None: never cut."""


@dataclass
class Listing:
    columns: Sequence[Column]
    rows: list[Sequence[Cell]]

    def add(self, *cells: Cell) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"a row of {len(self.columns)} cells expected, got {len(cells)}")
        self.rows.append(cells)


def _text(cell: Cell, short: bool) -> Text:
    if isinstance(cell, Text):
        return cell
    if cell is None or isinstance(cell, datetime):
        return Text(time_text(cell, short=short))
    # Text, not markup: a name or an error holding "[red]" prints as written.
    return Text(cell)


def _natural(listing: Listing, short: bool) -> list[int]:
    return [
        max([cell_len(column.header), *(_text(row[i], short).cell_len for row in listing.rows)])
        for i, column in enumerate(listing.columns)
    ]


def fitted_widths(listing: Listing, width: int | None) -> tuple[list[int], bool]:
    """Each column's width for a console ``width`` wide (None: no limit), and whether times are short."""
    widths = _natural(listing, short=False)
    if width is None or _total(widths) <= width:
        return widths, False
    short = any(column.kind == "time" for column in listing.columns)
    if short:
        widths = _natural(listing, short=True)
    floors = [
        widths[i] if column.floor is None else min(widths[i], max(column.floor, cell_len(column.header)))
        for i, column in enumerate(listing.columns)
    ]
    excess = _total(widths) - width
    while excess > 0:
        # The widest column that can still give way loses one character.
        candidates = [i for i, w in enumerate(widths) if w > floors[i]]
        if not candidates:
            break  # as narrow as allowed: the terminal wraps the rest
        widest = max(candidates, key=lambda i: widths[i])
        widths[widest] -= 1
        excess -= 1
    return widths, short


def _total(widths: Sequence[int]) -> int:
    return sum(widths) + GAP * (len(widths) - 1)


def print_listing(listing: Listing, console: Console) -> None:
    """Print ``listing`` one row per line: fitted to the terminal, whole when not a terminal."""
    widths, short = fitted_widths(listing, console.width if console.is_terminal else None)
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, GAP // 2))
    for column, width in zip(listing.columns, widths, strict=True):
        table.add_column(column.header, no_wrap=True, overflow="ellipsis", width=width)
    for row in listing.rows:
        table.add_row(*(_text(cell, short) for cell in row))
    # A console as wide as the table: rich caps a print at the console's width and squeezes every
    # column to fit it (80 when not a terminal). A row wider than the terminal, once every column
    # is down to its floor, is wrapped by the terminal instead: nothing is lost.
    wide = Console(
        file=console.file,
        width=_total(widths),
        force_terminal=console.is_terminal,
        color_system=console.color_system,  # type: ignore[arg-type]
        no_color=console.no_color,
        highlight=False,
    )
    wide.print(table)
