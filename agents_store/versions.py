"""What changed between two versions of an agent, in the words a reviewer uses.

Snapshots are export documents (no chunk ids), so chunks are matched across versions by name, then
unnamed or renamed chunks by identical actions. What is left unmatched was added or removed.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import yaml

__all__ = ["ChunkChange", "VersionChange", "compare_versions", "unified_yaml_diff"]

_METADATA_FIELDS = ("name", "description", "loom_url", "github_repo_url", "params", "settings")


@dataclass
class ChunkChange:
    """One chunk's fate between two versions (``old``/``new`` are its chunk documents)."""

    kind: str  # "added", "removed", "renamed", "edited", "moved", "unchanged"
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    old_position: int | None = None
    new_position: int | None = None
    changed_fields: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        doc = self.new or self.old or {}
        position = self.new_position if self.new_position is not None else self.old_position
        name = doc.get("name")
        return f'"{name}"' if name else f"#{(position or 0) + 1}"


@dataclass
class VersionChange:
    """Everything that differs between two snapshots."""

    metadata: list[str]
    chunks: list[ChunkChange]

    @property
    def reordered(self) -> bool:
        kept = [c for c in self.chunks if c.old_position is not None and c.new_position is not None]
        by_new = sorted(kept, key=lambda c: c.new_position or 0)
        return [c.old_position for c in by_new] != sorted(c.old_position or 0 for c in kept)

    def summary(self) -> str:
        """One line: ``renamed; chunks added "A"; actions edited in "B"; chunks reordered``."""
        parts: list[str] = []
        if "name" in self.metadata:
            parts.append("renamed")
        other = [f for f in self.metadata if f != "name"]
        if other:
            parts.append(f"{', '.join(other)} changed")
        for kind, words in (
            ("added", "chunks added"),
            ("removed", "chunks removed"),
            ("renamed", "chunks renamed"),
        ):
            names = [c.label for c in self.chunks if c.kind == kind]
            if names:
                parts.append(f"{words} {', '.join(names)}")
        edited = [c.label for c in self.chunks if "actions" in c.changed_fields]
        if edited:
            parts.append(f"actions edited in {', '.join(edited)}")
        other_edits = [c.label for c in self.chunks if c.changed_fields and "actions" not in c.changed_fields]
        if other_edits:
            parts.append(f"details edited in {', '.join(other_edits)}")
        if self.reordered:
            parts.append("chunks reordered")
        return "; ".join(parts) if parts else "no change"


def compare_versions(old: dict[str, Any] | None, new: dict[str, Any]) -> VersionChange:
    """The change from snapshot ``old`` to ``new`` (``old`` None: the agent was created)."""
    if old is None:
        chunks = [ChunkChange("added", None, c, new_position=i) for i, c in enumerate(new.get("chunks", []))]
        return VersionChange(metadata=[], chunks=chunks)
    metadata = [f for f in _METADATA_FIELDS if old.get(f) != new.get(f)]
    old_chunks: list[dict[str, Any]] = list(old.get("chunks", []))
    new_chunks: list[dict[str, Any]] = list(new.get("chunks", []))
    pairs = _match_chunks(old_chunks, new_chunks)
    changes: list[ChunkChange] = []
    matched_old = {o for o, _ in pairs}
    matched_new = {n for _, n in pairs}
    for o, n in pairs:
        a, b = old_chunks[o], new_chunks[n]
        fields = [k for k in sorted(set(a) | set(b)) if k != "name" and a.get(k) != b.get(k)]
        if a.get("name") != b.get("name"):
            kind = "renamed"
        elif fields:
            kind = "edited"
        else:
            kind = "unchanged"
        changes.append(ChunkChange(kind, a, b, o, n, fields))
    changes += [
        ChunkChange("removed", c, None, old_position=i)
        for i, c in enumerate(old_chunks)
        if i not in matched_old
    ]
    changes += [
        ChunkChange("added", None, c, new_position=i)
        for i, c in enumerate(new_chunks)
        if i not in matched_new
    ]
    changes.sort(key=lambda c: (c.new_position if c.new_position is not None else 10**9, c.old_position or 0))
    return VersionChange(metadata=metadata, chunks=changes)


def _match_chunks(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[tuple[int, int]]:
    pairs: list[tuple[int, int]] = []
    free_old = set(range(len(old)))
    free_new = set(range(len(new)))
    # 1. same (non-empty) name
    for n in sorted(free_new):
        name = new[n].get("name")
        if not name:
            continue
        for o in sorted(free_old):
            if old[o].get("name") == name:
                pairs.append((o, n))
                free_old.discard(o)
                free_new.discard(n)
                break
    # 2. same actions (a rename, or an unnamed chunk)
    for n in sorted(free_new):
        for o in sorted(free_old):
            if old[o].get("actions") == new[n].get("actions"):
                pairs.append((o, n))
                free_old.discard(o)
                free_new.discard(n)
                break
    # 3. unnamed chunks at the same position
    for n in sorted(free_new):
        if n in free_old and not new[n].get("name") and not old[n].get("name"):
            pairs.append((n, n))
            free_old.discard(n)
            free_new.discard(n)
    return pairs


def unified_yaml_diff(old: dict[str, Any], new: dict[str, Any], old_label: str, new_label: str) -> str:
    """A plain unified diff of the two snapshots as YAML (for tools that want one)."""
    from agents_store.documents import dump_definition, parse_definition

    old_text = dump_definition(parse_definition(old)).splitlines(keepends=True)
    new_text = dump_definition(parse_definition(new)).splitlines(keepends=True)
    return "".join(difflib.unified_diff(old_text, new_text, fromfile=old_label, tofile=new_label))


def action_lines(chunk: dict[str, Any] | None) -> list[str]:
    """A chunk's actions as one YAML flow line each, for a per-chunk diff."""
    if not chunk:
        return []
    return [
        yaml.safe_dump(action, default_flow_style=True, width=1_000_000, sort_keys=False).strip()
        for action in chunk.get("actions", [])
    ]
