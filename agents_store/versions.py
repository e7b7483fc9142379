"""What changed between two versions of an agent, in the words a reviewer uses.

Snapshots are export documents (no chunk ids), so chunks are matched across versions by name, then
renamed or unnamed chunks by identical actions, then a chunk renamed and edited in place by keeping
most of its actions at the same position. What is left unmatched was added or removed.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from agents_store.documents import definition_to_dict, dump_definition, parse_definition
from agents_store.errors import InvalidAgent

__all__ = [
    "ChangeKind",
    "ChunkChange",
    "VersionChange",
    "action_lines",
    "canonical_snapshot",
    "compare_versions",
    "history_summaries",
    "unified_yaml_diff",
]

ChangeKind = Literal["added", "removed", "renamed", "edited", "unchanged"]
"""A chunk's fate. A chunk that only moved is ``unchanged`` with two different positions."""

_METADATA_FIELDS = ("name", "description", "loom_url", "github_repo_url", "params", "settings")


def _review_change(change: ChunkChange) -> str | None:
    """``marked`` (Needs Review set on a chunk both versions have), ``reviewed`` (taken off), or None."""
    if change.old is None or change.new is None:
        return None
    before, after = (doc.get("status") == "Needs Review" for doc in (change.old, change.new))
    return "marked" if after and not before else "reviewed" if before and not after else None


@dataclass
class ChunkChange:
    """One chunk's fate between two versions (``old``/``new`` are its chunk documents)."""

    kind: ChangeKind
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    old_position: int | None = None
    new_position: int | None = None
    changed_fields: list[str] = field(default_factory=list)

    @property
    def moved(self) -> bool:
        return (
            self.old_position is not None
            and self.new_position is not None
            and self.old_position != self.new_position
        )

    @property
    def label(self) -> str:
        doc = self.new or self.old or {}
        position = self.new_position if self.new_position is not None else self.old_position
        name = doc.get("name")
        return f'"{name}"' if name else f"#{(position or 0) + 1}"


@dataclass
class VersionChange:
    """Everything that differs between two snapshots (``before``/``after`` are the snapshots)."""

    metadata: list[str]
    chunks: list[ChunkChange]
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)

    def metadata_changes(self) -> list[tuple[str, Any, Any]]:
        """``(field, before, after)`` for each changed field; params and settings key by key."""
        out: list[tuple[str, Any, Any]] = []
        for name in self.metadata:
            old, new = self.before.get(name), self.after.get(name)
            if isinstance(old or {}, dict) and isinstance(new or {}, dict) and name in ("params", "settings"):
                keys = sorted(set(old or {}) | set(new or {}))
                out += [
                    (f"{name}.{k}", (old or {}).get(k), (new or {}).get(k))
                    for k in keys
                    if (old or {}).get(k) != (new or {}).get(k)
                ]
            else:
                out.append((name, old, new))
        return out

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
        for change, words in (("marked", "marked Needs Review"), ("reviewed", "reviewed")):
            names = [c.label for c in self.chunks if _review_change(c) == change]
            if names:
                parts.append(f"{words}: {', '.join(names)}")
        other_edits = [
            c.label
            for c in self.chunks
            if "actions" not in c.changed_fields and set(c.changed_fields) - {"status"}
        ]
        if other_edits:
            parts.append(f"details edited in {', '.join(other_edits)}")
        if self.reordered:
            parts.append("chunks reordered")
        return "; ".join(parts) if parts else "no change"


def compare_versions(old: dict[str, Any] | None, new: dict[str, Any]) -> VersionChange:
    """The change from snapshot ``old`` to ``new`` (``old`` None: the agent was created).

    Both are first put in the export's canonical form: a database may hand back a snapshot's keys
    in its own order (PostgreSQL's jsonb does), and the diff must read the same on every backend.
    """
    new = canonical_snapshot(new)
    if old is None:
        chunks = [ChunkChange("added", None, c, new_position=i) for i, c in enumerate(new.get("chunks", []))]
        return VersionChange(metadata=[], chunks=chunks, after=new)
    old = canonical_snapshot(old)
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
        kind: ChangeKind
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
    changes.sort(key=_display_position)
    return VersionChange(metadata=metadata, chunks=changes, before=old, after=new)


def history_summaries(history: list[tuple[int, dict[str, Any]]]) -> list[str]:
    """One line per version of ``history`` ((version, snapshot), oldest first): what it changed.

    A version equal to an earlier one than its predecessor (a revert, or an edit undone by hand)
    says so first — ``back to version 2: actions edited in "Log in"`` — since its diff alone reads
    like new work and a reviewer looking for the revert would not find it.
    """
    summaries: list[str] = []
    seen: list[tuple[int, dict[str, Any]]] = []
    for version, snapshot in history:
        canonical = canonical_snapshot(snapshot)
        if not seen:
            summaries.append("created")
        else:
            summary = compare_versions(seen[-1][1], canonical).summary()
            same_as = [v for v, earlier in seen[:-1] if earlier == canonical]
            if same_as and seen[-1][1] != canonical:
                summary = f"back to version {same_as[-1]}: {summary}"
            summaries.append(summary)
        seen.append((version, canonical))
    return summaries


def canonical_snapshot(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The snapshot as the export writes it (format key order, defaults left out).

    A snapshot this program can no longer read is compared as stored.
    """
    try:
        return definition_to_dict(parse_definition(snapshot))
    except InvalidAgent:
        return snapshot


def _display_position(change: ChunkChange) -> float:
    """Chunks in their new order; a removed chunk just before the chunk that now has its place."""
    if change.new_position is not None:
        return change.new_position
    return (change.old_position or 0) - 0.5


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
    # 4. renamed and edited in place: same position, mostly the same actions
    for n in sorted(free_new):
        if n in free_old and _similar_actions(old[n], new[n]):
            pairs.append((n, n))
            free_old.discard(n)
            free_new.discard(n)
    return pairs


_SIMILAR = 0.5  # share of action lines two versions of one chunk keep in common, at least


def _similar_actions(old: dict[str, Any], new: dict[str, Any]) -> bool:
    a, b = action_lines(old), action_lines(new)
    return bool(a and b) and difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() >= _SIMILAR


def unified_yaml_diff(old: dict[str, Any], new: dict[str, Any], old_label: str, new_label: str) -> str:
    """A plain unified diff of the two snapshots as YAML (for tools that want one)."""
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
