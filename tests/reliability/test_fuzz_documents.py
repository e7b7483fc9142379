"""Bad input, fuzzed: generated agent documents against the parser and the stores (issue 11, item 3).

Valid documents (strategies mirroring ``agents_store/models.py``) must round-trip byte-stable through
the parser and through SQLite and PostgreSQL. Broken ones — missing fields, wrong types, unknown
action types, extra keys, huge and unstorable strings, bad Loom URLs, duplicate orders, YAML garbage —
must be refused with ``InvalidAgent`` and nothing else, and a refused replace must leave the stored
agent byte-identical.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from agents_store.documents import dump_definition, load_definition, parse_definition
from agents_store.errors import InvalidAgent
from agents_store.models import AgentDefinition
from agents_store.store import AgentStore
from tests.reliability._attacks import broken_documents, sql_store, valid_documents, yaml_garbage

__all__ = ["sql_store"]  # the fixture, imported for pytest

FUZZ = settings(
    max_examples=80,
    deadline=None,  # a shared 2-core machine: time is bounded by max_examples, not per example
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _as_text(doc: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(doc, ensure_ascii=fmt == "json")
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def _refused(text: str | bytes) -> InvalidAgent | None:
    """None when the text parses; the InvalidAgent when it is refused. Anything else propagates."""
    try:
        load_definition(text)
    except InvalidAgent as e:
        error = e
    else:
        return None
    assert str(error), "an InvalidAgent without a message"
    assert error.problems
    assert "\n" not in str(error), f"not one line: {error!s}"
    return error


@pytest.mark.slow
@FUZZ
@given(doc=valid_documents(), fmt=st.sampled_from(["yaml", "json"]))
def test_valid_documents_round_trip_byte_stable(doc: dict[str, Any], fmt: str) -> None:
    parsed = load_definition(_as_text(doc, fmt))
    for out in ("yaml", "json"):
        exported = dump_definition(parsed, out)  # type: ignore[arg-type]
        again = load_definition(exported)
        assert again == parsed
        assert dump_definition(again, out) == exported  # type: ignore[arg-type]


@pytest.mark.slow
@FUZZ
@given(case=broken_documents(), fmt=st.sampled_from(["yaml", "json"]))
def test_broken_documents_are_refused_with_invalid_agent_only(
    case: tuple[str, dict[str, Any]], fmt: str
) -> None:
    mutation, doc = case
    if fmt == "yaml" and mutation == "unstorable_text":
        fmt = "json"  # YAML cannot even write a lone surrogate; JSON escapes carry them
    error = _refused(_as_text(doc, fmt))
    if mutation != "wrong_type":  # a "wrong" type can be one pydantic accepts (1 for a float)
        assert error is not None, f"{mutation}: accepted {doc!r}"


@pytest.mark.slow
@FUZZ
@given(garbage=st.one_of(yaml_garbage, st.text(max_size=200), st.binary(max_size=200)))
def test_garbage_is_refused_with_invalid_agent_only(garbage: str | bytes) -> None:
    _refused(garbage)


def test_hostile_yaml_is_refused_quickly() -> None:
    """Aliases that expand into billions of values, self-reference, non-JSON YAML types, deep nesting."""
    head = "name: x\nloom_url: https://www.loom.com/share/4f3c2a1b0d9e8f7a6b5c4d3e2f1a0b9c\n"
    laughs = (
        head
        + "chunks:\n- actions:\n  - type: http\n    url: http://x\n    json:\n"
        + "      a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n"
    )
    for i in range(1, 10):
        laughs += f"      a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]\n"
    action = "chunks:\n- actions:\n  - {type: http, url: 'http://x', json: %s}\n"
    cases = {
        "alias bomb": laughs,
        "self reference": head + action % "&a [*a]",
        "date": head + action % "{when: 2026-01-01}",
        "binary": head + action % "!!binary aGVsbG8=",
        "set": head + action % "!!set {a, b}",
        "int and text key": head + action % "{1: a, '1': b}",
        "list key": head + action % "{[1, 2]: a}",
        "nan": head + "params: {p: .nan}\n",
        "deep json": '{"name": "x", "loom_url": "u", "params": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "deep yaml": head + "params: " + "[" * 100_000 + "]" * 100_000 + "\n",
        "unicode escape NUL": json.dumps({"name": "a\x00b", "loom_url": "u"}),
    }
    for name, text in cases.items():
        started = time.monotonic()
        assert _refused(text) is not None, name
        assert time.monotonic() - started < 2, f"{name}: took {time.monotonic() - started:.1f}s"


# --------------------------------------------------------------------------- the stores


@pytest.mark.slow
@settings(FUZZ, max_examples=40)
@given(doc=valid_documents())
def test_valid_documents_round_trip_through_the_store(sql_store: AgentStore, doc: dict[str, Any]) -> None:
    definition = parse_definition(doc)
    exported = dump_definition(definition)
    stored = sql_store.get(sql_store.create(definition).id)
    assert dump_definition(stored.definition()) == exported
    assert dump_definition(stored.definition(), "json") == dump_definition(definition, "json")


@pytest.mark.slow
@settings(FUZZ, max_examples=40)
@given(case=broken_documents(), replacement=valid_documents())
def test_a_refused_replace_changes_nothing(
    sql_store: AgentStore, case: tuple[str, dict[str, Any]], replacement: dict[str, Any]
) -> None:
    """``import --replace`` of a broken file: refused, and the stored agent is byte-identical."""
    existing = sql_store.create(parse_definition(replacement))
    before = dump_definition(sql_store.get(existing.id).definition())
    versions = len(sql_store.list_versions(existing.id))
    mutation, doc = case
    try:
        definition: AgentDefinition = parse_definition(doc)
    except InvalidAgent:
        pass
    else:
        assume(mutation == "wrong_type")  # accepted: a "wrong" type pydantic takes; nothing to refuse
        sql_store.save(sql_store.get(existing.id).with_definition(definition))
        return
    after = sql_store.get(existing.id)
    assert dump_definition(after.definition()) == before
    assert after.version == existing.version
    assert len(sql_store.list_versions(existing.id)) == versions


@pytest.mark.parametrize("bad", ["a\x00b", "a\ud800b", float("nan")])
def test_text_postgresql_refuses_is_refused_before_the_store(sql_store: AgentStore, bad: object) -> None:
    """NUL, lone surrogates and NaN passed validation, then PostgreSQL said "database error"."""
    existing = sql_store.create(parse_definition({"name": "Kept", "loom_url": _LOOM, "chunks": []}))
    before = dump_definition(sql_store.get(existing.id).definition())
    with pytest.raises(InvalidAgent, match=r"params\.p"):
        parse_definition({"name": "New", "loom_url": _LOOM, "params": {"p": bad}})
    assert dump_definition(sql_store.get(existing.id).definition()) == before


_LOOM = "https://www.loom.com/share/4f3c2a1b0d9e8f7a6b5c4d3e2f1a0b9c"
