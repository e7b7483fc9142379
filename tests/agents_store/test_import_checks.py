"""What import refuses that it once let through: run states, templates and goto URLs that can never
run, YAML's and pydantic's surprises in messages, loosely typed numbers, and duplicate JSON keys."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agents_store.documents import dump_definition, load_definition, parse_definition
from agents_store.errors import InvalidAgent
from agents_store.models import AgentDefinition, ChunkStatus, HttpAction
from tests.factories import LOOM, agent_doc


def _doc(actions: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "Walk",
        "loom_url": LOOM,
        "params": {"base_url": "http://127.0.0.1:8931"},
        "chunks": [{"name": "Open", "actions": actions}],
    }
    doc.update(extra)
    return doc


def _error(doc: Any) -> str:
    with pytest.raises(InvalidAgent) as caught:
        parse_definition(doc)
    message = str(caught.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------- 1. run states


@pytest.mark.parametrize("status", ["Running", "Awaiting Approval", "Completed", "Failed", "Skipped"])
def test_a_run_state_in_a_file_is_refused_naming_chunk_and_field(status: str) -> None:
    doc = agent_doc(chunks=2)
    doc["chunks"][1]["status"] = status
    assert _error(doc) == (
        f'chunk 2 "Step 2": status: {status!r} is the state a run leaves, not part of an agent\'s '
        "definition: an agent file gives Not Started or Needs Review, or leaves status out"
    )


def test_only_the_statuses_a_file_may_give_import_and_an_export_imports_again() -> None:
    doc = agent_doc(chunks=3)
    doc["chunks"][0]["status"] = "Not Started"
    doc["chunks"][1]["status"] = "Needs Review"
    definition = parse_definition(doc)
    assert [c.status for c in definition.chunks][:2] == [ChunkStatus.NOT_STARTED, ChunkStatus.NEEDS_REVIEW]
    text = dump_definition(definition)
    assert dump_definition(load_definition(text)) == text
    doc["chunks"][2]["status"] = "Done"
    assert _error(doc).endswith(
        "status: 'Done' is not a status: an agent file gives Not Started or Needs Review, "
        "or leaves status out"
    )


# --------------------------------------------------------------------------- 2. templates and goto


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("{{ params.base_url ", "'{{ params.base_url ' opens a template that no }} closes"),
        ("a {{ params.base_url }} b {{ vars.x", "'{{ vars.x' opens a template that no }} closes"),
        ("{{ param.base_url }}", "{{ param.base_url }} is not a template this format knows"),
        ("{{ params.base_url | upper }}", "templates have no filters (|)"),
        ("{{ }}", "{{ }} is an empty template"),
    ],
)
def test_a_template_that_does_not_parse_is_refused_at_import(value: str, problem: str) -> None:
    doc = _doc([{"type": "fill", "selector": "#user", "value": value}])
    message = _error(doc)
    assert message.startswith('chunk 1 "Open", action 1 (fill): value: ')
    assert problem in message


def test_templates_are_checked_for_syntax_inside_json_bodies_but_names_are_left_to_the_run() -> None:
    """AGENT_FORMAT.md: an unknown name is an error before the run starts (its own example uses a
    param it does not declare and a var nothing saves); secrets are known only at run time."""
    doc = _doc([{"type": "http", "url": "{{ params.base_url }}", "json": {"a": ["ok", "{{ vars.x"]}}])
    assert _error(doc).startswith('chunk 1 "Open", action 1 (http): json.a.1: ')
    doc = _doc(
        [
            {"type": "fill", "selector": "#a", "value": "{{ secrets.ANY_NAME }}"},
            {"type": "fill", "selector": "#b", "value": "{{ params.undeclared }} {{ vars.zap.json.id }}"},
        ]
    )
    assert len(parse_definition(doc).chunks[0].actions) == 2


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("index.html", "'index.html' is not an absolute URL"),
        ("/login", "'/login' is not an absolute URL"),
        ("/{{ params.path }}", "is not an absolute URL"),
        ("file:///etc/passwd", "goto refuses file: URLs"),
        ("JaVaScript:alert(1)", "goto refuses javascript: URLs"),
        ("fi\tle:///etc/passwd", "goto refuses file: URLs"),
    ],
)
def test_a_goto_url_no_run_can_open_is_refused(url: str, problem: str) -> None:
    message = _error(_doc([{"type": "goto", "url": url}]))
    assert message.startswith('chunk 1 "Open", action 1 (goto): url: ')
    assert problem in message


def test_allow_unsafe_urls_lets_other_schemes_through_but_not_relative_urls() -> None:
    for url in ["https://example.test/", "{{ params.base_url }}/index.html", "http{{ params.tls }}://x.test"]:
        parse_definition(_doc([{"type": "goto", "url": url}]))  # sure, or the scheme comes from a param
    allowed = {"allow_unsafe_urls": True}
    parse_definition(_doc([{"type": "goto", "url": "file:///tmp/x.html"}], settings=allowed))
    assert "not an absolute URL" in _error(_doc([{"type": "goto", "url": "x.html"}], settings=allowed))


# --------------------------------------------------------------------------- 3. readable messages


@pytest.mark.parametrize("selector", ["", [], 5])
def test_a_bad_selector_is_one_problem_without_pydantic_internals(selector: Any) -> None:
    doc = _doc([{"type": "click", "selector": selector}])
    assert _error(doc) == (
        'chunk 1 "Open", action 1 (click): selector: must be a non-empty string '
        "(up to 2000 characters) or a list of 1 to 20 of them"
    )


def test_a_param_that_is_a_list_is_one_problem() -> None:
    doc = _doc([], params={"lst": [1, 2]})
    assert _error(doc) == "params.lst: must be text, a number, true, false or null (not a list or a mapping)"


def test_chunks_that_are_not_a_list_say_so() -> None:
    assert _error(_doc([], chunks={"a": 1})) == "chunks: input should be a list"


def test_order_zero_is_named_by_position_not_as_chunk_zero() -> None:
    doc = agent_doc(chunks=2)
    doc["chunks"][0]["order"], doc["chunks"][1]["order"] = 0, 2
    assert _error(doc) == 'chunk 1 "Step 1": order: input should be greater than or equal to 1'


def test_yaml_booleans_and_numbers_where_text_belongs_get_a_hint_to_quote_them() -> None:
    text = (
        f"name: yes\nloom_url: {LOOM}\nchunks:\n- actions:\n  - {{type: fill, selector: '#a', value: 0123}}\n"
    )
    with pytest.raises(InvalidAgent) as caught:
        load_definition(text)
    assert caught.value.problems == [
        "name: text expected, not the boolean true: write the value in quotes; unquoted, YAML reads "
        "yes, no, on, off, true and false as booleans",
        "chunk 1, action 1 (fill): value: text expected, not the number 123: write the value in quotes; "
        "unquoted, YAML reads 0123 or 1.5 as numbers",
    ]


def test_numbers_are_read_as_yaml_1_2_reads_them_not_as_octal_or_base_60() -> None:
    """PyYAML follows YAML 1.1: ``timeout_ms: 010`` imported as 8 and ``expect_status: [0200]`` as
    128 (every run then failed: answered 200, expected 128), ``12:30`` as 750 — silently."""
    text = (
        f"name: n\nloom_url: {LOOM}\nsettings: {{action_timeout_ms: 010, retries: 0x2}}\n"
        "params: {at: 12:30}\n"
        "chunks:\n- actions:\n  - {type: http, url: 'https://hooks.test/x', expect_status: [0200]}\n"
        "  - {type: fill, selector: '#t', value: 12:30}\n"
    )
    agent = load_definition(text)
    assert (agent.settings.action_timeout_ms, agent.settings.retries) == (10, 2)
    assert agent.params == {"at": "12:30"}
    http, fill = agent.chunks[0].actions
    assert isinstance(http, HttpAction)
    assert http.expect_status == [200]
    assert fill.value == "12:30"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("written", "typed"),
    [("01234", "1234"), ("1.50", "1.5"), ("+5", "5"), ("1_000", "1000"), ("0x1F", "31"), ("yes", "true")],
)
def test_a_param_yaml_would_type_differently_is_refused_with_both_fixes(written: str, typed: str) -> None:
    """Params are typed into pages as text: ``zip: 01234`` imported as the number 1234 and a run
    typed "1234"; ``price: 1.50`` typed "1.5"; ``gift: yes`` typed "true" — silently."""
    text = (
        f"name: n\nloom_url: {LOOM}\nparams:\n  base: 1.0\n  p: {written}\n"
        "chunks:\n- actions: [{type: sleep, seconds: 0}]\n"
    )
    with pytest.raises(InvalidAgent) as caught:
        load_definition(text)
    assert caught.value.problems == [
        f"params.p: {written} is {typed} to YAML, and a run would use {typed}; "
        f"write it in quotes to keep the text ('{written}'), or write {typed}"
    ]
    assert load_definition(text.replace(f"p: {written}", f"p: '{written}'")).params["p"] == written
    assert load_definition(text.replace(f"p: {written}", f"p: {typed}")).params == {
        "base": 1.0,
        "p": json.loads(typed),
    }


def test_a_number_with_an_exponent_yaml_reads_as_text_gets_the_right_hint() -> None:
    """``1e4`` is text to YAML 1.1: the hint said "write it without quotes" where there were none."""
    text = (
        f"name: n\nloom_url: {LOOM}\nsettings: {{action_timeout_ms: 1e4}}\n"
        "chunks:\n- actions: [{type: sleep, seconds: 2}]\n"
    )
    with pytest.raises(InvalidAgent) as caught:
        load_definition(text)
    assert caught.value.problems == [
        "settings.action_timeout_ms: input should be a valid integer, not the text '1e4': YAML reads 1e4 as "
        "text: write the number out (10000)"
    ]


# --------------------------------------------------------------------------- 4. strict types, schema


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"retries": "2"}, "settings.retries: input should be a valid integer, not the text '2'"),
        ({"retries": True}, "settings.retries: input should be a valid integer, not true"),
        ({"retries": 2.0}, "settings.retries: input should be a valid integer"),
        ({"headless": "yes"}, "settings.headless: input should be a valid boolean, not the text 'yes'"),
        ({"retry_delay_seconds": "1"}, "settings.retry_delay_seconds: input should be a valid number"),
    ],
)
def test_numbers_and_booleans_written_as_text_are_refused(settings: dict[str, Any], problem: str) -> None:
    assert _error(_doc([], settings=settings)).startswith(problem)


def test_sleep_seconds_as_text_is_refused_and_a_whole_number_still_counts() -> None:
    assert "seconds: input should be a valid number" in _error(_doc([{"type": "sleep", "seconds": "5"}]))
    assert parse_definition(_doc([{"type": "sleep", "seconds": 5}])).chunks[0].actions[0].seconds == 5  # type: ignore[union-attr]


def test_http_method_in_any_case_and_one_status_as_a_number_import_and_the_schema_says_so() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    action = {"type": "http", "method": "post", "url": "https://example.test", "expect_status": 200}
    doc = _doc([action])
    http = parse_definition(doc).chunks[0].actions[0]
    assert isinstance(http, HttpAction)
    assert (http.method, http.expect_status) == ("POST", [200])
    schema = AgentDefinition.model_json_schema(by_alias=True)
    jsonschema.validate(doc, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(_doc([{**action, "method": "fetch"}]), schema)
    assert "expect_status: must be an HTTP status (100 to 599) or a list of them" in _error(
        _doc([{**action, "expect_status": "200"}])
    )


@pytest.mark.parametrize(
    "change",
    [
        {"loom_url": "https://vimeo.com/123"},
        {"params": {"bad-name": 1}},
        {"settings": {"retries": "2"}},
        {"chunks": [{"start_time": "1:2:3:4", "actions": []}]},
        {"chunks": [{"status": "Running", "actions": []}]},
    ],
)
def test_the_schema_refuses_what_import_refuses(change: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    doc = {**_doc([]), **change}
    with pytest.raises(InvalidAgent):
        parse_definition(doc)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, AgentDefinition.model_json_schema(by_alias=True))


# --------------------------------------------------------------------------- 5. duplicate JSON keys


def test_a_duplicate_key_in_json_is_refused_like_in_yaml() -> None:
    text = json.dumps(_doc([]), indent=1).replace('"name": "Walk",', '"name": "Walk", "name": "Run",', 1)
    with pytest.raises(InvalidAgent, match=r"^malformed JSON at line 1, column 1: duplicate key 'name'"):
        load_definition(text)
    nested = '{"name": "a", "loom_url": "' + LOOM + '",\n "params": {"x": 1,\n  "x": 2}}'
    with pytest.raises(InvalidAgent, match=r"^malformed JSON at line 2, column 12: duplicate key 'x'"):
        load_definition(nested)


@pytest.mark.parametrize("name", ["line\nbreak", "tab\there", "bell\x07"])
def test_names_are_one_line(name: str) -> None:
    """A line break in a name split every table's row in two; the dashboard's one-line field then
    dropped it on the next save, renaming the agent."""
    doc = agent_doc(chunks=2)
    doc["name"] = name
    rule = "must be one line, without control characters (a line break, a tab…)"
    assert _error(doc) == f"name: {name!r} {rule}"
    doc = agent_doc(chunks=2)
    doc["chunks"][1]["name"] = name
    assert _error(doc) == f"chunk 2: name: {name!r} {rule}"


def test_a_description_of_only_whitespace_is_no_description() -> None:
    """Names were trimmed but a blank description was kept, sorting first in "by description"."""
    text = f"name: n\nloom_url: {LOOM}\ndescription: '   '\nchunks: []\n"
    assert load_definition(text).description is None
    assert load_definition(text.replace("'   '", "' Adds two records '")).description == " Adds two records "


def test_every_param_yaml_would_type_differently_is_named_at_once() -> None:
    """A file with several was refused for its first only: fixed one import at a time."""
    text = (
        f"name: n\nloom_url: {LOOM}\nparams:\n  zip: 01234\n  ok: text\n  price: 1.50\n"
        "chunks:\n- actions: [{type: sleep, seconds: 0}]\n"
    )
    with pytest.raises(InvalidAgent) as caught:
        load_definition(text)
    assert [problem.split(":")[0] for problem in caught.value.problems] == ["params.zip", "params.price"]
    assert str(caught.value).startswith("2 problems: params.zip: 01234 is 1234 to YAML")


@pytest.mark.parametrize(("written", "read"), [(".inf", "inf"), ("-.inf", "-inf"), (".nan", "nan")])
def test_an_infinite_number_gets_the_hint_to_quote_it(written: str, read: str) -> None:
    text = (
        f"name: n\nloom_url: {LOOM}\nparams:\n  big: {written}\n"
        "chunks:\n- actions: [{type: sleep, seconds: 0}]\n"
    )
    with pytest.raises(InvalidAgent) as caught:
        load_definition(text)
    assert caught.value.problems == [
        f"params.big: {read} is not a number a store can keep; write it in quotes to keep it as text"
    ]
    assert load_definition(text.replace(written, f"'{written}'")).params == {"big": written}


def test_a_description_or_param_with_an_escape_sequence_is_refused_and_line_breaks_are_not() -> None:
    """`agentctl show` printed them as they were: a description could repaint the terminal."""
    doc = {
        "name": "n",
        "loom_url": LOOM,
        "description": "desc \x1b[31mRED\x1b[0m",
        "params": {"p": "v\x1b[2J", "n": 3},
        "chunks": [],
    }
    with pytest.raises(InvalidAgent) as caught:
        parse_definition(doc)
    assert caught.value.problems == [
        "description: holds a control character (\\x1b); only line breaks and tabs may be there",
        "params.p: holds a control character (\\x1b); only line breaks and tabs may be there",
    ]
    with pytest.raises(InvalidAgent, match=r"description: holds a control character \(\\x9b\)"):
        parse_definition({**doc, "description": "csi \x9b31m", "params": {}})  # one-byte ESC [
    fine = parse_definition({**doc, "description": "two\nlines\tand a tab", "params": {"p": "a\r\nb"}})
    assert fine.description == "two\nlines\tand a tab"


def test_two_yaml_documents_in_one_file_are_refused_saying_so() -> None:
    """It said "malformed YAML at line 4, column 1: but found another document"."""
    one = f"name: n\nloom_url: {LOOM}\nchunks: []\n"
    with pytest.raises(InvalidAgent) as caught:
        load_definition(one + "---\n" + one)
    assert str(caught.value) == (
        "the file holds more than one YAML document (another starts at line 4): an agent file is one "
        "document; put each agent in a file of its own"
    )
    assert load_definition("---\n" + one).name == "n"  # a single document may start with ---
