"""Shared pieces of the attack tests: stores on both SQL backends, and hypothesis strategies for agent
documents — valid ones mirroring ``agents_store/models.py``, and broken ones.

Imported by the ``test_*`` modules of this folder (no ``conftest.py``: the folder is shared).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import assume
from hypothesis import strategies as st

from agents_store.backends.postgres import PostgresStore
from agents_store.backends.sqlite import SqliteStore
from agents_store.models import ACTION_TYPES
from agents_store.store import AgentStore

# --------------------------------------------------------------------------- stores


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AgentStore]:
    """A fresh store on SQLite (a file) and on the real PostgreSQL (the session's throw-away database)."""
    if request.param == "sqlite":
        store: AgentStore = SqliteStore(f"sqlite:///{tmp_path / 'attacks.db'}")
    else:
        url: str = request.getfixturevalue("postgres_url")
        pg = PostgresStore(url)
        with pg.engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE agents CASCADE"))
        store = pg
    yield store
    store.close()


def store_url(store: AgentStore) -> str:
    """The URL another process opens the same database with."""
    engine: sa.Engine = store.engine  # type: ignore[attr-defined]
    return engine.url.render_as_string(hide_password=False)


# --------------------------------------------------------------------------- valid documents

# Text as people and videos give it: any Unicode a store can keep (no NUL, no lone surrogates).
TEXT_CHARS = st.characters(codec="utf-8", exclude_characters="\x00")
NAME_CHARS = st.characters(codec="utf-8", exclude_categories=("Cc",))  # names are one line
# Descriptions and params span lines, without other control characters (escape sequences).
PROSE_CHARS = st.characters(codec="utf-8", exclude_categories=("Cc",), include_characters="\n\r\t")
prose = st.text(PROSE_CHARS, max_size=40)
text = st.text(TEXT_CHARS, max_size=40)
nonempty = st.text(TEXT_CHARS, min_size=1, max_size=40)
identifier = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,15}\Z")
# Below 1e15: PostgreSQL's jsonb reads 1e16 back as the integer 10000000000000000, so the export of a
# float param that large differs by backend (found by this suite, not fixed: see docs/reliability.md).
finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15)
param_value = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), finite, prose)
selector = st.one_of(nonempty, st.lists(nonempty, min_size=1, max_size=3))
timeout = st.integers(1, 600_000)
json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), finite, text),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)),
    max_leaves=8,
)


def _opt(draw: st.DrawFn, out: dict[str, Any], key: str, strategy: st.SearchStrategy[Any]) -> None:
    if draw(st.booleans()):
        out[key] = draw(strategy)


@st.composite
def actions(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(ACTION_TYPES))
    action: dict[str, Any] = {"type": kind}
    if kind == "goto":  # a valid document's goto URLs are absolute (an import refuses others)
        action["url"] = draw(st.sampled_from(["http://", "https://", "{{ params.base }}/"])) + draw(text)
    elif kind == "wait_for_url":
        action["url"] = draw(nonempty)
    elif kind == "sleep":
        action["seconds"] = draw(st.floats(0, 3600))
    elif kind == "screenshot":
        _opt(draw, action, "name", st.from_regex(r"\A[A-Za-z0-9_.-]{1,20}\Z"))
    elif kind == "http":
        action["url"] = draw(nonempty)
        _opt(draw, action, "method", st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]))
        _opt(draw, action, "headers", st.dictionaries(nonempty, text, max_size=3))
        body = draw(st.sampled_from(["json", "form", "body", None]))
        if body == "json":
            action["json"] = draw(json_value.filter(lambda v: v is not None))
        elif body == "form":
            action["form"] = draw(st.dictionaries(nonempty, text, max_size=3))
        elif body == "body":
            action["body"] = draw(text)
        _opt(draw, action, "expect_status", st.lists(st.integers(100, 599), min_size=1, max_size=3))
        _opt(draw, action, "var", identifier)
    else:
        action["selector"] = draw(selector)
        extra = {
            "fill": {"value": text},
            "select": {"value": text},
            "type": {"text": text},
            "press": {"key": nonempty},
            "upload": {"path": nonempty},
            "expect_text": {"text": text},
            "extract": {"var": identifier},
        }.get(kind, {})
        for key, strategy in extra.items():
            action[key] = draw(strategy)
        if kind == "wait_for":
            _opt(draw, action, "state", st.sampled_from(["visible", "hidden", "attached", "detached"]))
        if kind == "expect_text":
            _opt(draw, action, "exact", st.booleans())
    if kind != "sleep":
        _opt(draw, action, "timeout_ms", timeout)
    # A valid document has no "{{" that does not parse as a template (an import refuses it).
    assume("{{" not in json.dumps({k: v for k, v in action.items() if k != "url"}, ensure_ascii=False))
    assume("{{" not in action.get("url", "").removeprefix("{{ params.base }}/"))
    return action


def _video_time(seconds: int) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{minutes:02d}:{secs:02d}"


@st.composite
def chunks(draw: st.DrawFn) -> dict[str, Any]:
    chunk: dict[str, Any] = {}
    _opt(draw, chunk, "name", st.text(NAME_CHARS, max_size=200))
    if draw(st.booleans()):
        start = draw(st.integers(0, 5000))
        chunk["start_time"] = _video_time(start)
        chunk["end_time"] = _video_time(start + draw(st.integers(0, 500)))
    _opt(draw, chunk, "status", st.sampled_from(["Not Started", "Needs Review"]))
    _opt(draw, chunk, "retries", st.integers(0, 10))
    chunk["actions"] = draw(st.lists(actions(), max_size=4))
    return chunk


loom_urls = st.builds(
    lambda prefix, video, host, suffix: f"https://{host}loom.com/{prefix}/{video}{suffix}",
    st.sampled_from(["share", "embed"]),
    st.from_regex(r"\A[0-9a-f]{32}\Z"),
    st.sampled_from(["www.", ""]),
    st.sampled_from(["", "?t=12", "#x"]),
)


@st.composite
def valid_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A document that follows the format (AGENT_FORMAT.md, schema_version 1)."""
    doc: dict[str, Any] = {
        "schema_version": 1,
        "name": draw(st.text(NAME_CHARS, min_size=1, max_size=200).filter(lambda s: s.strip() != "")),
        "loom_url": draw(loom_urls),
    }
    _opt(draw, doc, "description", st.text(PROSE_CHARS, max_size=300))
    _opt(draw, doc, "github_repo_url", st.sampled_from(["https://github.com/acme/agents", "git@x:y.git"]))
    _opt(draw, doc, "params", st.dictionaries(identifier, param_value, max_size=4))
    if draw(st.booleans()):
        doc["settings"] = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "retries": st.integers(0, 10),
                    "retry_delay_seconds": st.floats(0, 3600),
                    "action_timeout_ms": timeout,
                    "headless": st.booleans(),
                    "allow_unsafe_urls": st.booleans(),
                },
            )
        )
    doc["chunks"] = draw(st.lists(chunks(), max_size=4))
    if doc["chunks"] and draw(st.booleans()):  # explicit orders, shuffled: the parser sorts them
        orders = draw(st.permutations(list(range(1, len(doc["chunks"]) + 1))))
        for chunk, order in zip(doc["chunks"], orders, strict=True):
            chunk["order"] = order
    return doc


# --------------------------------------------------------------------------- broken documents

wrong_type = st.one_of(
    st.integers(),
    st.floats(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(text, text),
)
unstorable_text = st.builds(
    lambda a, bad, b: a + bad + b, text, st.sampled_from(["\x00", "\ud800", "\udfff"]), text
)
bad_loom = st.one_of(
    text,
    st.sampled_from(
        [
            "http://www.loom.com/share/4f3c2a1b0d9e8f7a6b5c4d3e2f1a0b9c",  # not https
            "https://www.loom.com/share/4f3c2a1b0d9e8f7a6b5c4d3e2f1a0b9",  # 31 hex
            "https://evil.example/loom.com/share/4f3c2a1b0d9e8f7a6b5c4d3e2f1a0b9c",
            "https://www.loom.com.evil.example/share/4f3c2a1b0d9e8f7a6b5c4d3e2f1a0b9c",
            "https://www.loom.com/share/4F3C2A1B0D9E8F7A6B5C4D3E2F1A0B9C",
            "https://www.loom.com/share/4f3c2a1b0d9e8f7a6b5c4d3e2f1a0b9c\n",
            "javascript:alert(1)//www.loom.com/share/4f3c2a1b0d9e8f7a6b5c4d3e2f1a0b9c",
            "",
        ]
    ),
)

# Each mutation breaks a valid document in one way that the format must refuse.
MUTATIONS = (
    "drop_required",
    "wrong_type",
    "unknown_action",
    "extra_key",
    "huge_string",
    "bad_loom",
    "duplicate_order",
    "unstorable_text",
    "not_a_number",
    "bad_time",
)


def _chunk_with_action(doc: dict[str, Any]) -> dict[str, Any]:
    if not doc["chunks"] or not doc["chunks"][0]["actions"]:
        doc["chunks"] = [{"name": "Added", "actions": [{"type": "click", "selector": "#a"}]}, *doc["chunks"]]
    chunk: dict[str, Any] = doc["chunks"][0]
    return chunk


@st.composite
def broken_documents(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A valid document broken by one mutation; the name of the mutation with it."""
    doc = copy.deepcopy(draw(valid_documents()))
    mutation = draw(st.sampled_from(MUTATIONS))
    chunk = _chunk_with_action(doc) if mutation not in ("bad_loom", "huge_string") else None
    if mutation == "drop_required":
        where = draw(st.sampled_from(["name", "loom_url", "type", "field"]))
        if where in ("name", "loom_url"):
            del doc[where]
        else:
            assert chunk is not None
            action = chunk["actions"][0] = {"type": "fill", "selector": "#x", "value": "v"}
            del action["type" if where == "type" else draw(st.sampled_from(["selector", "value"]))]
    elif mutation == "wrong_type":
        field = draw(st.sampled_from(["name", "loom_url", "chunks", "params", "settings", "actions"]))
        value = draw(wrong_type.filter(lambda v: not isinstance(v, dict | list) or field != "params"))
        if field == "actions":
            assert chunk is not None
            chunk["actions"] = value if not isinstance(value, list) else [value]
        elif field in ("chunks", "params", "settings") and isinstance(value, list):
            doc[field] = [*value, 1] if field != "chunks" else [1, *value]
        else:
            doc[field] = value if not isinstance(value, str) else 7
        if field == "settings" and isinstance(value, dict):
            doc[field] = {**value, "retries": "many"}
        if field == "params" and isinstance(value, dict):
            doc[field] = {"not an identifier": 1}
    elif mutation == "unknown_action":
        assert chunk is not None
        chunk["actions"].append({"type": draw(text.filter(lambda t: t not in ACTION_TYPES))})
    elif mutation == "extra_key":
        key = draw(identifier.filter(lambda k: k not in {"order", "name", "retries", "status", "actions"}))
        target = draw(st.sampled_from(["doc", "chunk", "action", "settings"]))
        assert chunk is not None
        holder = {"doc": doc, "chunk": chunk, "action": chunk["actions"][0]}.get(target)
        if target == "settings":
            holder = doc.setdefault("settings", {})
        assert holder is not None
        key = key if key not in holder and key not in _KNOWN else f"zz_{key}_unknown"
        holder[key] = draw(param_value)
    elif mutation == "huge_string":
        field = draw(st.sampled_from(["name", "description", "github_repo_url", "selector"]))
        size = {"name": 201, "description": 10_001, "github_repo_url": 501, "selector": 2001}[field]
        value = "https://" + draw(st.sampled_from(["é", "x", "🙂", "\u202e"])) * size
        if field == "selector":
            doc["chunks"] = [{"actions": [{"type": "click", "selector": value}]}]
        else:
            doc[field] = value
    elif mutation == "bad_loom":
        doc["loom_url"] = draw(bad_loom)
    elif mutation == "duplicate_order":
        assert chunk is not None
        doc["chunks"] = [{**chunk, "order": 1}, {**chunk, "name": "Other", "order": 1}]
    elif mutation == "unstorable_text":
        assert chunk is not None
        target = draw(st.sampled_from(["name", "description", "param", "selector", "header"]))
        bad = draw(unstorable_text)
        if target in ("name", "description"):
            doc[target] = bad + "x"
        elif target == "param":
            doc["params"] = {"p": bad}
        elif target == "selector":
            chunk["actions"] = [{"type": "click", "selector": ["#ok", bad]}]
        else:
            chunk["actions"] = [{"type": "http", "url": "https://hook.test", "headers": {bad: "v"}}]
    elif mutation == "not_a_number":
        doc["params"] = {"p": draw(st.sampled_from([float("nan"), float("inf"), float("-inf")]))}
    elif mutation == "bad_time":
        assert chunk is not None
        chunk["start_time"], chunk["end_time"] = draw(
            st.sampled_from([("00:10", "00:05"), ("1:2", None), ("99:99:99", None), ("00:60", None)])
        )
        if chunk["end_time"] is None:
            del chunk["end_time"]
    return mutation, doc


_KNOWN = {
    *("schema_version", "name", "description", "loom_url", "github_repo_url", "params", "settings"),
    *("retries", "retry_delay_seconds", "action_timeout_ms", "headless", "allow_unsafe_urls"),
    *("type", "url", "selector", "value", "text", "delay_ms", "key", "path", "state", "exact", "var"),
    *("attribute", "seconds", "method", "headers", "json", "form", "body", "expect_status", "timeout_ms"),
}

yaml_garbage = st.one_of(
    st.text(st.sampled_from([*"{}[]:,-?!&*#|>'\"%@` \n\tab1.", "\\", "…"]), max_size=60),
    st.sampled_from(
        [
            "name: [unclosed",
            "a: 1\na: 2\n",  # duplicate key
            "!!python/object/apply:os.system ['true']",
            "&a [*a]",
            "- just\n- a\n- list\n",
            "42",
            "",
            "~",
            "{",
            "[" * 5000 + "]" * 5000,  # deeper than any parser's recursion
            "a: " + "[" * 5000,
            "key: !!binary '%%%'",
            "\ufeff\ufeffname: x",
            "%YAML 9.9\n---\nname: x",
            "--- a\n--- b\n",
        ]
    ),
)


__all__ = [
    "MUTATIONS",
    "broken_documents",
    "sql_store",
    "store_url",
    "valid_documents",
    "yaml_garbage",
]
