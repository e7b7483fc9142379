"""The agent format: parsing, readable errors, and the byte-stable export."""

from __future__ import annotations

import json

import pytest

from agents_store.documents import dump_definition, load_definition, parse_definition
from agents_store.errors import InvalidAgent
from agents_store.models import ACTION_TYPES, AgentDefinition, ChunkStatus, HttpAction, loom_video_id
from tests.factories import LOOM, agent_doc, chunk_doc

FORMAT_EXAMPLE = """\
schema_version: 1
name: Add the day's todos                # required, 1..200 chars
description: Adds todos and checks one   # optional, up to 10,000 chars
loom_url: https://www.loom.com/share/4f3c2a1b0d9e8f7a6b5c4d3e2f1a0b9c
github_repo_url: null
params:
  base_url: http://127.0.0.1:8080
settings:
  retries: 2
  retry_delay_seconds: 1
  action_timeout_ms: 10000
  headless: true
chunks:
  - name: Open the app
    start_time: "00:00"
    end_time: "00:12"
    status: Not Started
    retries: 0
    actions:
      - {type: goto, url: "{{ params.base_url }}/"}
      - {type: fill, selector: ".new-todo", value: "Buy milk"}
      - {type: press, selector: ".new-todo", key: Enter}
      - {type: expect_text, selector: ".todo-count", text: "1 item left"}
  - name: Log in
    actions:
      - {type: fill, selector: "#password", value: "{{ secrets.PORTAL_PASSWORD }}"}
      - {type: click, selector: ["role=button[name='Sign in']", "text=Sign in", "#login"]}
  - name: Tell Zapier
    actions:
      - {type: http, method: POST, url: "{{ params.zap_hook }}", json: {todo: "{{ vars.first_todo }}"},
         expect_status: [200, 201]}
"""


def test_the_example_of_the_format_document_parses() -> None:
    d = load_definition(FORMAT_EXAMPLE)
    assert d.name == "Add the day's todos"
    assert [c.order for c in d.chunks] == [1, 2, 3]
    assert d.chunks[0].retries == 0
    assert d.chunks[1].actions[1].selector == ["role=button[name='Sign in']", "text=Sign in", "#login"]  # type: ignore[union-attr]
    http = d.chunks[2].actions[0]
    assert isinstance(http, HttpAction)
    assert http.json_body == {"todo": "{{ vars.first_todo }}"}
    assert http.expect_status == [200, 201]


def test_every_action_type_of_the_table_is_accepted() -> None:
    examples = {
        "goto": {"url": "https://x.test"},
        "click": {"selector": "#a"},
        "dblclick": {"selector": "#a"},
        "hover": {"selector": "#a"},
        "check": {"selector": "#a"},
        "uncheck": {"selector": "#a"},
        "fill": {"selector": "#a", "value": "v"},
        "type": {"selector": "#a", "text": "t", "delay_ms": 5},
        "press": {"selector": "#a", "key": "Enter"},
        "select": {"selector": "#a", "value": "v"},
        "upload": {"selector": "#a", "path": "f.txt"},
        "wait_for": {"selector": "#a", "state": "hidden"},
        "wait_for_url": {"url": "**/done"},
        "expect_text": {"selector": "#a", "text": "t", "exact": True},
        "expect_visible": {"selector": "#a"},
        "extract": {"selector": "#a", "var": "x", "attribute": "href"},
        "screenshot": {"name": "after"},
        "sleep": {"seconds": 0.5},
        "http": {"method": "get", "url": "https://x.test", "headers": {"A": "b"}, "var": "r"},
    }
    assert set(examples) == set(ACTION_TYPES)
    actions = [{"type": t, **fields} for t, fields in examples.items()]
    d = parse_definition(agent_doc(chunks=0) | {"chunks": [chunk_doc("All", actions)]})
    assert [a.type for a in d.chunks[0].actions] == list(examples)
    assert load_definition(dump_definition(d)) == d


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["chunks"][2]["actions"].__setitem__(0, {"type": "clik", "selector": "#x"}),
            "chunk 3 \"Step 3\", action 1: type: unknown action type 'clik'",
        ),
        (
            lambda d: d["chunks"][2]["actions"].append({"type": "click"}),
            'chunk 3 "Step 3", action 2 (click): selector: field required',
        ),
        (
            lambda d: d["chunks"][0]["actions"].append({"selector": "#a"}),
            'chunk 1 "Step 1", action 2: type: field required',
        ),
        (
            lambda d: d["chunks"][1]["actions"].append(
                {"type": "press", "selector": "#a", "key": "x", "kee": 1}
            ),
            'chunk 2 "Step 2", action 2 (press): kee: unknown field',
        ),
        (
            lambda d: d.__setitem__("loom_url", "https://youtube.com/watch?v=x"),
            "loom_url: not a Loom video URL",
        ),
        (
            lambda d: d.__setitem__("description", "x" * 1_000_000),
            "description: string should have at most 10000",
        ),
        (lambda d: d.__setitem__("name", ""), "name: string should have at least 1 character"),
        (lambda d: d.pop("name"), "name: field required"),
        (lambda d: d.__setitem__("colour", "red"), "colour: unknown field"),
        (lambda d: d.__setitem__("schema_version", 2), "schema_version: 2 is not supported"),
        (lambda d: d["chunks"][0].__setitem__("end_time", "99:99"), "end_time: '99:99' is not a video time"),
        (lambda d: d["chunks"][0].__setitem__("start_time", 750), 'write video times in quotes ("12:30")'),
        (
            lambda d: d["chunks"][0].update(start_time="01:00", end_time="00:30"),
            'chunk 1 "Step 1": end_time 00:30 is before start_time 01:00',
        ),
        (
            lambda d: d["chunks"][1]["actions"].append(
                {"type": "http", "url": "https://x", "json": {}, "body": "b"}
            ),
            "give only one of json, form or body",
        ),
        (lambda d: d.__setitem__("settings", {"retries": -1}), "settings.retries: input should be greater"),
        (lambda d: d.__setitem__("params", {"not valid": 1}), "params.not valid.[key]"),
    ],
)
def test_bad_documents_get_one_clear_message(change: object, expected: str) -> None:
    doc = agent_doc(chunks=3)
    change(doc)  # type: ignore[operator]
    with pytest.raises(InvalidAgent) as raised:
        parse_definition(doc)
    message = str(raised.value)
    assert expected in message
    assert "\n" not in message
    assert len(message) < 600


def test_duplicate_chunk_order_is_refused_and_order_sorts_chunks() -> None:
    doc = agent_doc(chunks=3)
    for chunk, order in zip(doc["chunks"], (20, 10, 20), strict=True):
        chunk["order"] = order
    with pytest.raises(InvalidAgent, match="both have order 20"):
        parse_definition(doc)
    doc["chunks"][2]["order"] = 5
    d = parse_definition(doc)
    assert [c.name for c in d.chunks] == ["Step 3", "Step 2", "Step 1"]
    assert [c.order for c in d.chunks] == [1, 2, 3]


def test_several_problems_are_all_named() -> None:
    doc = agent_doc(chunks=2)
    doc["loom_url"] = "nope"
    doc["chunks"][1]["actions"] = [{"type": "fill", "selector": "#a"}]
    with pytest.raises(InvalidAgent) as raised:
        parse_definition(doc)
    assert len(raised.value.problems) == 2
    assert str(raised.value).startswith("2 problems: ")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"name: [unclosed", "malformed YAML at line 1"),
        (b'{"name": ', "malformed JSON at line 1"),
        (b"\xff\xfename: x", "not UTF-8 text (byte 0xff at offset 0)"),
        (b"- a\n- b\n", "a mapping of fields, not a list"),
        (b"", "not an empty document"),
        (b"name: a\nname: b\n", "duplicate key 'name'"),
    ],
)
def test_unreadable_files_get_one_clear_message(data: bytes, expected: str) -> None:
    with pytest.raises(InvalidAgent) as raised:
        load_definition(data)
    assert expected in str(raised.value)


def test_loom_urls_share_and_embed() -> None:
    vid = "4f3c2a1b0d9e8f7a6b5c4d3e2f1a0b9c"
    for url in (
        f"https://www.loom.com/share/{vid}",
        f"https://loom.com/share/{vid}?sid=abc",
        f"https://www.loom.com/embed/{vid}",
        f"https://www.loom.com/share/Weekly-report-{vid}",
    ):
        assert loom_video_id(url) == vid
    for url in (
        f"http://www.loom.com/share/{vid}",
        "https://www.loom.com/share/123",
        f"https://www.loom.com.evil.test/share/{vid}",
        f"https://www.loom.com/looms/{vid}",
    ):
        with pytest.raises(ValueError, match="not a Loom video URL"):
            loom_video_id(url)


def test_export_is_byte_stable_and_holds_only_the_definition() -> None:
    d = load_definition(FORMAT_EXAMPLE)
    text = dump_definition(d)
    assert load_definition(text) == d
    assert dump_definition(load_definition(text)) == text
    assert "\n  status: " not in text  # Not Started is not written
    assert "settings" not in text  # all defaults
    assert "retries: 0" in text
    as_json = dump_definition(d, "json")
    assert dump_definition(load_definition(as_json), "json") == as_json
    assert json.loads(as_json)["chunks"][2]["actions"][0]["json"] == {"todo": "{{ vars.first_todo }}"}
    # each action is one line, so a diff names the action that changed
    assert "  - {type: fill, selector: '#password', value: '{{ secrets.PORTAL_PASSWORD }}'}\n" in text


def test_needs_review_is_kept_by_the_export() -> None:
    doc = agent_doc(chunks=2)
    doc["chunks"][1]["status"] = "Needs Review"
    d = parse_definition(doc)
    assert d.chunks[1].status == ChunkStatus.NEEDS_REVIEW
    assert "status: Needs Review" in dump_definition(d)


def test_json_schema_describes_the_format() -> None:
    schema = AgentDefinition.model_json_schema(by_alias=True)
    assert schema["required"] == ["name", "loom_url"]
    assert "chunks" in schema["properties"]
    text = json.dumps(schema)
    for action_type in ACTION_TYPES:
        assert f'"const": "{action_type}"' in text
    assert LOOM not in text


def test_a_version_that_marks_or_reviews_a_chunk_says_so() -> None:
    """Toggling Needs Review was summarised "details edited in …", which said nothing of which way."""
    from agents_store.documents import definition_to_dict
    from agents_store.versions import compare_versions
    from tests.factories import agent_doc

    before = definition_to_dict(parse_definition(agent_doc(chunks=2)))
    after = definition_to_dict(parse_definition(agent_doc(chunks=2)))
    after["chunks"][1]["status"] = "Needs Review"
    assert compare_versions(before, after).summary() == 'marked Needs Review: "Step 2"'
    assert compare_versions(after, before).summary() == 'reviewed: "Step 2"'
