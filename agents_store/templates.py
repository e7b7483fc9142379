"""The template syntax of the agent format: ``{{ params.X }}``, ``{{ vars.X.y }}``, ``{{ secrets.X }}``.

Part of the format, so it lives with the models: an import refuses a template that does not parse
(an unclosed ``{{`` would be typed into the page as it is), and the engine renders with the same
parser (``tasks.templating``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from agents_store.errors import TemplateError

__all__ = ["TEMPLATE", "Namespace", "Reference", "parse_reference", "references"]

Namespace = Literal["params", "vars", "secrets"]

TEMPLATE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
"""One ``{{ … }}``; group 1 is its inside, stripped."""
_NAME = re.compile(r"^(params|vars|secrets)\.([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_-]+)*)$")


@dataclass(frozen=True)
class Reference:
    """One template use: ``vars.zap.json.id`` is namespace vars, name zap, path (json, id)."""

    namespace: Namespace
    name: str
    path: tuple[str, ...] = ()

    def __str__(self) -> str:
        return ".".join((self.namespace, self.name, *self.path))


def references(value: Any) -> Iterator[Reference]:
    """Every template reference in a value (strings inside dicts and lists included).

    The one template parser: an import checks the syntax with it (``agents_store.documents``), a
    run's preflight the names (``flows.plan``), and rendering uses it (``tasks.templating``).

    Raises:
        TemplateError: a template that is not ``params.X``, ``vars.X…`` or ``secrets.X``, or a
            ``{{`` that no ``}}`` closes (it would be typed into the page as it is).
    """
    if isinstance(value, str):
        _check_closed(value)
        for match in TEMPLATE.finditer(value):
            yield parse_reference(match.group(1))
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from references(item)


def _check_closed(text: str) -> None:
    rest = TEMPLATE.sub("", text)
    start = rest.find("{{")
    if start >= 0:
        opened = rest[start:]
        shown = opened if len(opened) <= 40 else opened[:39] + "…"
        raise TemplateError(f"{shown!r} opens a template that no }}}} closes")


def parse_reference(expression: str) -> Reference:
    """What one ``{{ … }}`` (its inside, stripped) refers to."""
    match = _NAME.match(expression)
    if not expression:
        raise TemplateError(
            "{{ }} is an empty template: use {{ params.NAME }}, {{ vars.NAME }} or {{ secrets.NAME }}"
        )
    if not match and "|" in expression:
        raise TemplateError(
            f"{{{{ {expression} }}}}: templates have no filters (|); "
            "use {{ params.NAME }}, {{ vars.NAME }} or {{ secrets.NAME }} alone"
        )
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
