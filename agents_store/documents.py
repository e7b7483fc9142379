"""Reading and writing agent documents (YAML or JSON), byte-stable.

An export holds the definition only, in a fixed key order, each action on one line, so that the same
agent always gives the same bytes and a git diff of an agent shows exactly the chunks that changed.
Reading turns every problem — bad bytes, bad YAML, a broken field — into one ``InvalidAgent`` whose
message names where and what.
"""

from __future__ import annotations

import contextlib
import json
import json.decoder
import json.scanner
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from agents_store.errors import InvalidAgent, TemplateError
from agents_store.models import (
    ACTION_TYPES,
    AgentDefinition,
    ChunkDefinition,
    ChunkStatus,
    GotoAction,
    goto_url_problem,
)
from agents_store.templates import references

__all__ = [
    "DocumentFormat",
    "definition_to_dict",
    "dump_definition",
    "format_validation_error",
    "load_definition",
    "parse_definition",
    "parse_document_text",
]

DocumentFormat = Literal["yaml", "json"]

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
MAX_DOCUMENT_NODES = 2_000_000
"""Values in a document once YAML aliases are expanded: a few lines of aliases can stand for billions."""
MAX_DOCUMENT_DEPTH = 64


# --------------------------------------------------------------------------- reading


def load_definition(source: bytes | str) -> AgentDefinition:
    """Parse a YAML or JSON document into a validated definition.

    Raises:
        InvalidAgent: the bytes are not UTF-8, the text is not YAML/JSON, or the document breaks
            the format; the message names the place and the problem.
    """
    if isinstance(source, bytes):
        if len(source) > MAX_DOCUMENT_BYTES:
            raise InvalidAgent(f"document is {len(source)} bytes; the limit is {MAX_DOCUMENT_BYTES}")
        try:
            text = source.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise InvalidAgent(
                f"the file is not UTF-8 text (byte 0x{source[e.start]:02x} at offset {e.start})"
            ) from e
    else:
        text = source
    return parse_definition(_parse_text(text))


def parse_document_text(text: str) -> Any:
    """YAML or JSON text as plain data, before any format check (a part of a document, e.g. a
    chunk's actions edited on their own).

    Raises:
        InvalidAgent: the text is not YAML/JSON, or a mapping repeats a key; the message names
            line and column.
    """
    return _parse_text(text)


def _parse_text(text: str) -> Any:
    if text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text, object_pairs_hook=_unique_keys)
        except _DuplicateKey as e:
            line, column = _json_position(text, _duplicate_key_object(text))
            raise InvalidAgent(
                f"malformed JSON at line {line}, column {column}: "
                f"duplicate key {e.key!r} in the object that starts there"
            ) from e
        except RecursionError as e:
            raise InvalidAgent(f"the document nests more than {MAX_DOCUMENT_DEPTH} levels deep") from e
        except json.JSONDecodeError as e:
            raise InvalidAgent(f"malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}") from e
    try:
        loader = _UniqueKeyLoader(text)
        try:
            node = loader.get_single_node()
            lossy = _lossy_params(node)
            if lossy:
                raise _invalid(lossy)
            return loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except RecursionError as e:  # PyYAML composes nested collections recursively
        raise InvalidAgent(f"the document nests more than {MAX_DOCUMENT_DEPTH} levels deep") from e
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        if e.problem == "but found another document" and mark is not None:
            raise InvalidAgent(
                f"the file holds more than one YAML document (another starts at line {mark.line + 1}): "
                "an agent file is one document; put each agent in a file of its own"
            ) from e
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InvalidAgent(f"malformed YAML{where}: {_one_line(str(e.problem or e))}") from e
    except yaml.YAMLError as e:  # e.g. a control character: PyYAML's message spans two lines
        raise InvalidAgent(f"malformed YAML: {_one_line(str(e))}") from e


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json``'s object hook that refuses a repeated key, as the YAML loader does, instead of
    silently keeping the last value."""
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen.add(key)
    return dict(pairs)


_JSON_OBJECT: Any = getattr(json.decoder, "JSONObject")  # noqa: B009 - not in typeshed's stubs


def _duplicate_key_object(text: str) -> int:
    """Where the object with a repeated key starts: the document is parsed again (only when it has
    one) by the pure-Python scanner, the one that lets each object's start be seen."""
    found: list[int] = []

    def parse_object(s_and_end: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        try:
            return _JSON_OBJECT(s_and_end, *args, **kwargs)
        except _DuplicateKey:
            if not found:
                found.append(s_and_end[1] - 1)  # the innermost object: the one with the repeat
            raise

    decoder = json.JSONDecoder(object_pairs_hook=_unique_keys)
    decoder.parse_object = parse_object  # type: ignore[attr-defined]  # read by py_make_scanner
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]  # as above
    with contextlib.suppress(ValueError, RecursionError):  # _DuplicateKey is a ValueError
        decoder.decode(text)
    return found[0] if found else 0


def _json_position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _one_line(text: str) -> str:
    """An error is one line (the CLI prints it so): whitespace runs, newlines included, become a space."""
    return " ".join(text.split())


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last one, and flow
    collections (``[``, ``{``) nested deeper than ``MAX_DOCUMENT_DEPTH``."""

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:  # noqa: N803 - PyYAML's name
        """Refuse deep flow nesting as the scanner meets it: PyYAML's scanner does work per open
        level for every token, so ``[[[[…`` took time quadratic in the depth (seconds for 5,000
        levels, hours for a 20 MB file) before any recursion limit was reached."""
        if self.flow_level >= MAX_DOCUMENT_DEPTH:
            raise yaml.scanner.ScannerError(
                None, None, f"nested more than {MAX_DOCUMENT_DEPTH} levels deep", self.get_mark()
            )
        super().fetch_flow_collection_start(TokenClass)


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if not isinstance(key, str | int | float | bool | None):  # e.g. a list as a key: unhashable
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be text, not a list or a mapping", key_node.start_mark
            )
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_unique_mapping,
)

# Numbers as YAML 1.2 reads them. PyYAML follows YAML 1.1, where a leading zero means octal and
# colons base 60: ``timeout_ms: 010`` imported as 8, ``expect_status: [0200]`` as 128 (every run
# then failed "answered 200, expected 128"), ``12:30`` as 750 — silently. Here ``0123`` is 123,
# ``0o17`` octal, and ``12:30`` text.
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_UniqueKeyLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_INT_TAG, _FLOAT_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_UniqueKeyLoader.add_implicit_resolver(
    _INT_TAG,
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0o[0-7_]+|[-+]?[0-9][0-9_]*|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_UniqueKeyLoader.add_implicit_resolver(
    _FLOAT_TAG,
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _construct_int(loader: _UniqueKeyLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node)).replace("_", "")
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    for prefix, base in (("0b", 2), ("0o", 8), ("0x", 16)):
        if digits.startswith(prefix):
            return sign * int(digits[2:], base)
    return sign * int(digits, 10)


_UniqueKeyLoader.add_constructor(_INT_TAG, _construct_int)


_YAML_BOOL_TAG = "tag:yaml.org,2002:bool"


def _lossy_params(document: yaml.Node | None) -> list[str]:
    """The params written unquoted that YAML reads as values typed back differently, each with the
    fix (all of them: a file fixed one refusal at a time took as many imports as it had).

    Params are free-typed run inputs, typed into pages as text: ``zip: 01234`` became the number
    1234 and a run typed "1234"; ``price: 1.50`` typed "1.5"; ``gift: yes`` typed "true". Other
    fields have a type, and text expected there already gets a hint to quote it.
    """
    if not isinstance(document, yaml.MappingNode):
        return []
    params = next((v for k, v in document.value if getattr(k, "value", None) == "params"), None)
    if not isinstance(params, yaml.MappingNode):
        return []
    found = [
        _lossy_scalar(value, f"params.{key.value}")
        for key, value in params.value
        if isinstance(key, yaml.ScalarNode)
    ]
    return [problem for problem in found if problem]


def _lossy_scalar(node: yaml.Node, path: str) -> str | None:
    if not isinstance(node, yaml.ScalarNode) or node.style is not None:  # quoted: text
        return None
    written = node.value
    if node.tag == _INT_TAG:
        typed = str(_construct_int(_UniqueKeyLoader(""), node))
    elif node.tag == _FLOAT_TAG and _PLAIN_DECIMAL.fullmatch(written):  # not 1.0e+20, as exports write
        typed = str(float(written))
    elif node.tag == _YAML_BOOL_TAG and written.lower() not in ("true", "false"):
        typed = "true" if written.lower() in ("yes", "on", "y") else "false"
    else:
        return None
    if written == typed:
        return None
    return (
        f"{path}: {written} is {typed} to YAML, and a run would use {typed}; "
        f"write it in quotes to keep the text ('{written}'), or write {typed}"
    )


_PLAIN_DECIMAL = re.compile(r"[-+]?[0-9_]*\.[0-9_]*")


def parse_definition(data: Any) -> AgentDefinition:
    """Validate already-parsed data (a dict from YAML/JSON) as an agent definition.

    Raises:
        InvalidAgent: with one line per problem, e.g.
            ``chunk 3 "Log in", action 2 (click): selector: field required``.
    """
    if not isinstance(data, Mapping):
        raise InvalidAgent(f"an agent document is a mapping of fields, not {_kind(data)}")
    version = data.get("schema_version", 1)
    if version != 1:
        raise InvalidAgent(f"schema_version: {version!r} is not supported (this agentctl reads 1)")
    problem = _unstorable(data)
    if problem is not None:
        path, message = problem
        detail: Any = {"loc": tuple(path), "type": "value_error", "msg": message}
        raise InvalidAgent(_describe(detail, data))
    try:
        definition = AgentDefinition.model_validate(data)
    except ValidationError as e:
        raise format_validation_error(e, data) from e
    problems = _name_problems(definition) + _runnable_problems(definition)
    if problems:
        raise _invalid(problems)
    return definition


def _name_problems(definition: AgentDefinition) -> list[str]:
    """Names are one line: a line break or a tab in one split every table's row in two (and the
    dashboard's one-line name field dropped it on the next save). Not a model rule, so that an agent
    saved before it still loads."""
    named = [("name", definition.name)] + [
        (f"chunk {position}: name", chunk.name)  # not chunk.label: it would print the line break
        for position, chunk in enumerate(definition.chunks, start=1)
        if chunk.name
    ]
    problems = [
        f"{where}: {name!r} must be one line, without control characters (a line break, a tab…)"
        for where, name in named
        if any(_is_control(c) for c in name)
    ]
    # Text a person reads (a description) or a run types (a param) may span lines, but an escape
    # sequence in it repainted the terminal that `agentctl show` printed it to.
    texts = [("description", definition.description)] + [
        (f"params.{key}", value) for key, value in definition.params.items() if isinstance(value, str)
    ]
    problems += [
        f"{where}: holds a control character ({_control_in(text)}); only line breaks and tabs may be there"
        for where, text in texts
        if text is not None and _control_in(text)
    ]
    return problems


def _control_in(text: str) -> str:
    """The first control character other than a line break or a tab, escaped (``\\x1b``); "" if none."""
    for c in text:
        if _is_control(c) and c not in "\n\r\t":
            return f"\\x{ord(c):02x}"
    return ""


def _is_control(c: str) -> bool:
    """C0, DEL and C1 (U+0080-U+009F: U+009B starts an escape sequence on terminals as ESC [ does)."""
    return ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F


def _runnable_problems(definition: AgentDefinition) -> list[str]:
    """What the models cannot see field by field but makes a run fail for certain: templates that
    do not parse (an unclosed ``{{`` is typed into the page as it is) and ``goto`` URLs no browser
    opens.

    Which names a template uses (a param the agent does not declare, a var no earlier action saves)
    is checked when a run starts (``flows.plan.compile_agent``), as AGENT_FORMAT.md says: its own
    example uses ``{{ params.zap_hook }}`` and ``{{ vars.first_todo }}`` without declaring them.
    Secrets' names are known only at run time.
    """
    problems: list[str] = []
    for chunk in definition.chunks:
        for index, action in enumerate(chunk.actions):
            where = f"{chunk.label}, action {index + 1} ({action.type})"
            data = action.model_dump(by_alias=True, exclude={"type"}, exclude_none=True)
            for path, text in _strings(data, []):
                try:
                    for _ in references(text):
                        pass
                except TemplateError as e:
                    problems.append(f"{where}: {'.'.join(map(_field_part, path))}: {e}")
            if isinstance(action, GotoAction):
                problem = goto_url_problem(
                    action.url, allow_unsafe_urls=definition.settings.allow_unsafe_urls
                )
                if problem is not None:
                    problems.append(f"{where}: url: {problem}")
    return problems


def _strings(value: Any, path: list[str | int]) -> Iterator[tuple[list[str | int], str]]:
    """Every string inside ``value`` with its path (a JSON body's strings included)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, [*path, key])
    elif isinstance(value, list):
        for position, item in enumerate(value):
            yield from _strings(item, [*path, position])


def _unstorable(data: Any) -> tuple[list[str | int], str] | None:
    """The first value no store can keep, with its path: the document must be plain JSON data.

    YAML reads more than JSON holds — dates, binary, sets, non-text keys, ``.nan``, anchors that
    refer to themselves or expand a few lines into billions of values — and JSON escapes carry NUL
    characters and lone surrogates that PostgreSQL refuses. Each passed validation and then failed
    in the store with a ``TypeError`` or a database error (or never finished); refusing them here
    gives one ``InvalidAgent`` naming the place, on every backend alike.

    Linear in the distinct values: a collection shared through aliases is checked and counted once.
    """
    sizes: dict[int, int] = {}
    open_ids: set[int] = set()

    def walk(value: Any, path: list[str | int]) -> tuple[list[str | int], str] | None:
        if isinstance(value, str):
            return _bad_text(value, path)
        if value is None or isinstance(value, bool | int):
            return None
        if isinstance(value, float):
            if math.isfinite(value):
                return None
            return path, f"{value} is not a number a store can keep; write it in quotes to keep it as text"
        if not isinstance(value, dict | list):
            kind = type(value).__name__
            return path, f"the value is a {kind} to YAML; write it in quotes to keep it as text"
        if len(path) >= MAX_DOCUMENT_DEPTH:
            return path, f"nested more than {MAX_DOCUMENT_DEPTH} levels deep"
        if id(value) in open_ids:
            return path, "a YAML alias refers to the value that holds it"
        if id(value) in sizes:
            return None  # shared through an alias, and already checked
        open_ids.add(id(value))
        size = 1
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(value, dict):
                if not isinstance(key, str):
                    return path, f"the key {key!r} is not text; write it in quotes"
                found = _bad_text(key, path)
                if found is not None:
                    return found
            found = walk(item, [*path, key])
            if found is not None:
                return found
            size += sizes.get(id(item), 1)
            if size > MAX_DOCUMENT_NODES:
                return [], (
                    f"the document holds more than {MAX_DOCUMENT_NODES} values once its YAML aliases "
                    "are expanded"
                )
        open_ids.discard(id(value))
        sizes[id(value)] = size
        return None

    return walk(data, [])


def _bad_text(text: str, path: list[str | int]) -> tuple[list[str | int], str] | None:
    if "\x00" in text:
        return path, "holds a NUL character (\\u0000), which no store can keep"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return path, "holds a lone surrogate (an unpaired \\ud800-\\udfff escape), which is not text"
    return None


def format_validation_error(error: ValidationError, data: Any) -> InvalidAgent:
    """Turn pydantic's error list into readable lines that name chunk, action and field."""
    problems = [_describe(detail, data) for detail in error.errors(include_url=False)]
    return _invalid(problems)


def _invalid(problems: list[str]) -> InvalidAgent:
    problems = list(dict.fromkeys(problems))
    message = problems[0] if len(problems) == 1 else f"{len(problems)} problems: " + "; ".join(problems)
    return InvalidAgent(message, problems)


def _describe(detail: ErrorDetails, data: Any) -> str:
    loc = list(detail["loc"])
    where: list[str] = []
    if len(loc) >= 2 and loc[0] == "chunks" and isinstance(loc[1], int):
        chunk = _at(data, ["chunks", loc[1]])
        where.append(_chunk_label(chunk, loc[1]))
        loc = loc[2:]
        if len(loc) >= 2 and loc[0] == "actions" and isinstance(loc[1], int):
            action = _at(chunk, ["actions", loc[1]])
            kind = action.get("type") if isinstance(action, Mapping) else None
            label = f"action {loc[1] + 1}"
            if isinstance(kind, str) and kind in ACTION_TYPES:
                label += f" ({kind})"
            where.append(label)
            loc = loc[2:]
            if loc and loc[0] == kind:
                loc = loc[1:]  # the union's tag, already named
    field = ".".join(_field_part(part) for part in loc)
    message = _message(detail, field)
    prefix = ", ".join(where)
    return f"{prefix}: {message}" if prefix else message


def _field_part(part: Any) -> str:
    """One step of a field path; an empty key or one with a newline or control character is quoted,
    so that the message stays one readable line."""
    text = str(part)
    plain = text and text.isprintable()
    return text if plain else repr(text)


def _message(detail: ErrorDetails, field: str) -> str:
    kind = detail["type"]
    msg = detail["msg"]
    if kind == "union_tag_invalid":
        given = detail.get("ctx", {}).get("tag")
        return f"type: unknown action type {given!r} (expected one of {', '.join(ACTION_TYPES)})"
    if kind == "union_tag_not_found":
        return "type: field required (the action's type, e.g. click)"
    if kind == "extra_forbidden":
        return f"{field}: unknown field"
    given = detail.get("input")
    if kind == "is_instance_of" and detail.get("ctx", {}).get("class") == "Sequence":
        msg = "Input should be a list"
    if kind == "string_type" and isinstance(given, bool | int | float):
        return f"{field}: {_quote_hint(given)}"
    if kind in ("int_type", "float_type", "bool_type") and isinstance(given, str):
        msg += f", not the text {_short(given, 20)!r}: {_number_hint(given)}"
    elif kind in ("int_type", "float_type") and isinstance(given, bool):
        msg += f", not {str(given).lower()}"
    if kind.startswith("value_error") or kind == "assertion_error":
        msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    msg = msg[:1].lower() + msg[1:]
    return f"{field}: {msg}" if field else msg


def _number_hint(given: str) -> str:
    """A number or boolean was expected and the document holds text: quoted, or a form YAML reads as text.

    YAML 1.1 (PyYAML, and so this loader) reads an exponent without a dot and a sign as text: ``1e4``
    is the string "1e4", and "write it without quotes" sent the author looking for quotes there were none of.
    """
    try:
        number = float(given)
    except ValueError:
        return "write it without quotes"
    if "e" in given.lower() and number.is_integer() and abs(number) < 1e15:
        return f"YAML reads {given.strip()} as text: write the number out ({int(number)})"
    return "write it without quotes"


def _quote_hint(given: bool | int | float) -> str:
    """Text was expected and YAML read a number or a boolean: the value was written unquoted."""
    if isinstance(given, bool):
        what = f"the boolean {str(given).lower()}"
        why = "YAML reads yes, no, on, off, true and false as booleans"
    else:
        what = f"the number {given}"
        why = "YAML reads 0123 or 1.5 as numbers"
    return f"text expected, not {what}: write the value in quotes; unquoted, {why}"


def _chunk_label(chunk: Any, position: int) -> str:
    number = position + 1
    name = None
    if isinstance(chunk, Mapping):
        order = chunk.get("order")
        if isinstance(order, int) and not isinstance(order, bool) and order >= 1:
            number = order  # the order the author wrote; a bad one is the error, named by position
        raw_name = chunk.get("name")
        name = raw_name if isinstance(raw_name, str) and raw_name else None
    return f'chunk {number} "{_short(name)}"' if name and _short(name) else f"chunk {number}"


def _short(text: str, limit: int = 60) -> str:
    """A name as a message quotes it: on one line (an error is one line), at most ``limit`` long."""
    text = _one_line(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _at(data: Any, path: Sequence[Any]) -> Any:
    for part in path:
        if isinstance(part, int) and isinstance(data, list) and 0 <= part < len(data):
            data = data[part]
        elif isinstance(part, str) and isinstance(data, Mapping):
            data = data.get(part)
        else:
            return None
    return data


def _kind(data: Any) -> str:
    if data is None:
        return "an empty document"
    if isinstance(data, list):
        return "a list"
    return f"a {type(data).__name__}"


# --------------------------------------------------------------------------- writing


def definition_to_dict(definition: AgentDefinition) -> dict[str, Any]:
    """The document as plain data in the format's key order, holding only what defines the agent.

    Defaults are left out (so adding an optional field to the format changes no existing export),
    and a chunk's status is kept only when it is ``Needs Review``.
    """
    doc: dict[str, Any] = {"schema_version": definition.schema_version, "name": definition.name}
    if definition.description is not None:
        doc["description"] = definition.description
    doc["loom_url"] = definition.loom_url
    if definition.github_repo_url is not None:
        doc["github_repo_url"] = definition.github_repo_url
    if definition.params:
        doc["params"] = _sorted_keys(dict(definition.params), top=False)
    settings = definition.settings.model_dump(exclude_defaults=True)
    if settings:
        doc["settings"] = settings
    doc["chunks"] = [_chunk_to_dict(chunk) for chunk in definition.chunks]
    return doc


def _chunk_to_dict(chunk: ChunkDefinition) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in ("name", "start_time", "end_time"):
        value = getattr(chunk, field)
        if value is not None:
            out[field] = value
    if chunk.status == ChunkStatus.NEEDS_REVIEW:
        out["status"] = str(chunk.status)
    if chunk.retries is not None:
        out["retries"] = chunk.retries
    out["actions"] = [
        {"type": a.type, **_sorted_keys(a.model_dump(by_alias=True, exclude_defaults=True, exclude={"type"}))}
        for a in chunk.actions
    ]
    return out


def _sorted_keys(value: Any, top: bool = True) -> Any:
    """Free-form mappings (params, http headers, form and json bodies) with their keys sorted.

    Databases do not keep key order (PostgreSQL's jsonb sorts keys its own way), so the export fixes
    one order of its own; an action's own fields keep the format's order (``top``).
    """
    if isinstance(value, dict):
        items = value.items() if top else sorted(value.items())
        return {k: _sorted_keys(v, top=False) for k, v in items}
    if isinstance(value, list):
        return [_sorted_keys(v, top=False) for v in value]
    return value


def dump_definition(definition: AgentDefinition, fmt: DocumentFormat = "yaml") -> str:
    """The byte-stable text of a definition: the same agent always gives the same string."""
    doc = definition_to_dict(definition)
    if fmt == "json":
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    for chunk in doc["chunks"]:
        chunk["actions"] = [_FlowMapping(action) for action in chunk["actions"]]
    return yaml.dump(
        doc,
        Dumper=_StableDumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=1_000_000,
    )


class _FlowMapping(dict[str, Any]):
    """A mapping written on one line: each action is one line of the YAML, for readable diffs."""


class _StableDumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_flow(dumper: yaml.SafeDumper, data: _FlowMapping) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    """Text with a Unicode line break (NEL, LS, PS) in double quotes, where PyYAML escapes them.

    Written raw (plain or single-quoted), YAML reads them back as line breaks folded to a space, and
    the agent would not come back as it was exported.
    """
    if any(c in data for c in "\x85\u2028\u2029"):
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style='"')
    return dumper.represent_str(data)


_StableDumper.add_representer(_FlowMapping, _represent_flow)
_StableDumper.add_representer(str, _represent_str)
