"""Rendering ``{{ params.X }}``, ``{{ vars.X.y }}`` and ``{{ secrets.X }}`` in action fields.

Rendering happens action by action, at run time (``vars`` fill up as the run goes); checking which
names a chunk uses happens before the run (``agents_store.templates.references``, whose syntax this
renders) so that a typo fails at once, naming the chunk and the action, instead of after ten
minutes of browser work.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agents_store.templates import TEMPLATE, Reference, parse_reference
from tasks.errors import TemplateError

__all__ = ["TemplateContext", "as_text", "render", "render_url"]


@dataclass
class TemplateContext:
    """The values templates read: run params, vars saved so far, resolved secrets."""

    params: Mapping[str, Any]
    vars: dict[str, Any]
    secrets: Mapping[str, str]


def render(value: Any, context: TemplateContext) -> Any:
    """``value`` with its templates replaced.

    A string that is exactly one template takes the referenced value as it is (a number stays a
    number in a JSON body); templates inside longer strings are interpolated as text.

    Raises:
        TemplateError: a name with no value (e.g. a var no earlier action saved).
    """
    if isinstance(value, str):
        whole = TEMPLATE.fullmatch(value.strip()) if value.strip().startswith("{{") else None
        if whole and whole.group(0) == value.strip():
            return _lookup(parse_reference(whole.group(1)), context)
        return TEMPLATE.sub(lambda m: as_text(_lookup(parse_reference(m.group(1)), context)), value)
    if isinstance(value, Mapping):
        return {k: render(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context) for v in value]
    return value


def render_url(url: str, context: TemplateContext) -> str:
    """A ``goto`` or ``http`` URL with its templates replaced, a value inside a query parameter
    percent-encoded: ``?q={{ params.q }}&page=1`` with "fish & chips #1" sent ``q=fish%20`` and
    ``%20chips%20`` as two parameters and dropped the rest after ``#``, and the run said Completed.

    Elsewhere a value goes in as it is: a base URL (``{{ params.base_url }}/records``), a path, a
    whole query (``?{{ params.query }}``), a parameter's name.

    Raises:
        TemplateError: a name with no value.
    """
    from urllib.parse import quote

    out: list[str] = []
    position = 0
    for match in TEMPLATE.finditer(url):
        out.append(url[position : match.start()])
        text = as_text(_lookup(parse_reference(match.group(1)), context))
        out.append(quote(text, safe="") if _in_a_query_value("".join(out)) else text)
        position = match.end()
    out.append(url[position:])
    return "".join(out)


def _in_a_query_value(before: str) -> bool:
    """Whether text put after ``before`` is (part of) the value of a ``name=value`` query parameter."""
    if "?" not in before:
        return False
    query = before.split("?", 1)[1]
    return "#" not in query and "=" in query.rsplit("&", 1)[-1]


def _lookup(ref: Reference, context: TemplateContext) -> Any:
    source: Mapping[str, Any] = getattr(context, ref.namespace)
    if ref.name not in source:
        raise TemplateError(f"{{{{ {ref} }}}} has no value in this run")
    value = source[ref.name]
    walked = [ref.namespace, ref.name]
    for part in ref.path:
        walked.append(part)
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise TemplateError(f"{{{{ {ref} }}}}: {'.'.join(walked[:-1])} has no {part!r}")
    return value


def as_text(value: Any) -> str:
    """A value as a template inside text shows it (and a form field, the same way)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        import json

        return json.dumps(value, separators=(",", ":"))
    return str(value)
