"""Reading and writing agent documents (YAML or JSON), byte-stable.

An export holds the definition only, in a fixed key order, each action on one line, so that the same
agent always gives the same bytes and a git diff of an agent shows exactly the chunks that changed.
Reading turns every problem — bad bytes, bad YAML, a broken field — into one ``InvalidAgent`` whose
message names where and what.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from agents_store.errors import InvalidAgent
from agents_store.models import ACTION_TYPES, AgentDefinition, ChunkDefinition, ChunkStatus

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
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise InvalidAgent(f"malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}") from e
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InvalidAgent(f"malformed YAML{where}: {e.problem or e}") from e
    except yaml.YAMLError as e:
        raise InvalidAgent(f"malformed YAML: {e}") from e


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last one."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_unique_mapping,
)


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
    try:
        return AgentDefinition.model_validate(data)
    except ValidationError as e:
        raise format_validation_error(e, data) from e


def format_validation_error(error: ValidationError, data: Any) -> InvalidAgent:
    """Turn pydantic's error list into readable lines that name chunk, action and field."""
    problems = [_describe(detail, data) for detail in error.errors(include_url=False)]
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
    field = ".".join(str(part) for part in loc)
    message = _message(detail, field)
    prefix = ", ".join(where)
    return f"{prefix}: {message}" if prefix else message


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
    if kind.startswith("value_error") or kind == "assertion_error":
        msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    msg = msg[:1].lower() + msg[1:]
    return f"{field}: {msg}" if field else msg


def _chunk_label(chunk: Any, position: int) -> str:
    number = position + 1
    name = None
    if isinstance(chunk, Mapping):
        order = chunk.get("order")
        number = order if isinstance(order, int) and not isinstance(order, bool) else number
        raw_name = chunk.get("name")
        name = raw_name if isinstance(raw_name, str) and raw_name else None
    return f'chunk {number} "{_short(name)}"' if name else f"chunk {number}"


def _short(text: str, limit: int = 60) -> str:
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


_StableDumper.add_representer(_FlowMapping, _represent_flow)
