"""A version change rendered for the terminal: metadata, then each chunk that changed."""

from __future__ import annotations

import difflib
import json

from rich.console import Group
from rich.text import Text

from agents_store.versions import ChunkChange, VersionChange, action_lines

__all__ = ["render_version_change"]


def render_version_change(change: VersionChange, old: int, new: int) -> Group:
    """``version 2 → 3: summary``, then each metadata field and each chunk that changed or moved.

    ``+``/``-``/``~`` lines per chunk; an edited chunk lists its changed fields and the actions that
    were added (``+``) or removed (``-``), one action per line as the YAML file writes it.
    """
    lines: list[Text] = [Text(f"version {old} → {new}: {change.summary()}", style="bold")]
    for name, before, after in change.metadata_changes():
        lines.append(Text(f"  {name}: {_value(before)} → {_value(after)}"))
    for chunk in change.chunks:
        if chunk.kind == "unchanged" and not chunk.moved:
            continue
        lines.extend(_chunk_lines(chunk))
    return Group(*lines)


def _chunk_lines(chunk: ChunkChange) -> list[Text]:
    where = _position_text(chunk)
    if chunk.kind == "added":
        out = [Text(f"+ chunk {chunk.label} added{where}", style="green")]
        out += [Text(f"    + {line}", style="green") for line in action_lines(chunk.new)]
        return out
    if chunk.kind == "removed":
        return [Text(f"- chunk {chunk.label} removed{where}", style="red")]
    title = f"~ chunk {chunk.label}"
    if chunk.kind == "renamed" and chunk.old:
        title += f' (renamed from "{chunk.old.get("name")}")'
    out = [Text(title + where, style="yellow")]
    for field in chunk.changed_fields:
        if field == "actions":
            continue
        before, after = (chunk.old or {}).get(field), (chunk.new or {}).get(field)
        out.append(Text(f"    {field}: {_value(before)} → {_value(after)}"))
    if "actions" in chunk.changed_fields:
        diff = difflib.ndiff(action_lines(chunk.old), action_lines(chunk.new))
        for line in diff:
            if line.startswith(("+ ", "- ")):
                style = "green" if line[0] == "+" else "red"
                out.append(Text(f"    {line}", style=style))
    return out


def _position_text(chunk: ChunkChange) -> str:
    if chunk.old_position is not None and chunk.new_position is not None:
        if chunk.moved:
            return f" (moved {chunk.old_position + 1} → {chunk.new_position + 1})"
        return ""
    position = chunk.new_position if chunk.new_position is not None else chunk.old_position
    return f" (at {position + 1})" if position is not None else ""


def _value(value: object, limit: int = 120) -> str:
    """A value on one line, as JSON (``null`` for absent), shortened past ``limit`` characters."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"
