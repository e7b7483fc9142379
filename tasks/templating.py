"""``{{ params.X }}``, ``{{ vars.X.y }}`` and ``{{ secrets.X }}`` in action fields.

Rendering happens action by action, at run time (``vars`` fill up as the run goes); checking which
names a chunk uses happens before the run (``references``) so that a typo fails at once, naming the
chunk and the action, instead of after ten minutes of browser work.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tasks.errors import TemplateError

__all__ = ["Reference", "TemplateContext", "references", "render"]

Namespace = Literal["params", "vars", "secrets"]

_TEMPLATE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_NAME = re.compile(r"^(params|vars|secrets)\.([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_-]+)*)$")


@dataclass(frozen=True)
class Reference:
    """One template use: ``vars.zap.json.id`` is namespace vars, name zap, path (json, id)."""

    namespace: Namespace
    name: str
    path: tuple[str, ...] = ()

    def __str__(self) -> str:
        return ".".join((self.namespace, self.name, *self.path))


@dataclass
class TemplateContext:
    """The values templates read: run params, vars saved so far, resolved secrets."""

    params: Mapping[str, Any]
    vars: dict[str, Any]
    secrets: Mapping[str, str]


def references(value: Any) -> Iterator[Reference]:
    """Every template reference in a value (strings inside dicts and lists included).

    Raises:
        TemplateError: a template that is not ``params.X``, ``vars.X…`` or ``secrets.X``.
    """
    if isinstance(value, str):
        for match in _TEMPLATE.finditer(value):
            yield _parse(match.group(1))
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from references(item)


def _parse(expression: str) -> Reference:
    match = _NAME.match(expression)
    if not match:
        raise TemplateError(
            f"{{{{ {expression} }}}} is not a template this format knows: "
            "use {{ params.NAME }}, {{ vars.NAME }} or {{ secrets.NAME }}"
        )
    namespace, name, rest = match.groups()
    path = tuple(rest.split(".")[1:]) if rest else ()
    if namespace != "vars" and path:
        raise TemplateError(f"{{{{ {expression} }}}}: only vars can be reached into with dots")
    return Reference(namespace, name, path)  # type: ignore[arg-type]


def render(value: Any, context: TemplateContext) -> Any:
    """``value`` with its templates replaced.

    A string that is exactly one template takes the referenced value as it is (a number stays a
    number in a JSON body); templates inside longer strings are interpolated as text.

    Raises:
        TemplateError: a name with no value (e.g. a var no earlier action saved).
    """
    if isinstance(value, str):
        whole = _TEMPLATE.fullmatch(value.strip()) if value.strip().startswith("{{") else None
        if whole and whole.group(0) == value.strip():
            return _lookup(_parse(whole.group(1)), context)
        return _TEMPLATE.sub(lambda m: _text(_lookup(_parse(m.group(1)), context)), value)
    if isinstance(value, Mapping):
        return {k: render(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context) for v in value]
    return value


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


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        import json

        return json.dumps(value, separators=(",", ":"))
    return str(value)
