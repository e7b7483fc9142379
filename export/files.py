"""The files an export writes for one agent: its ``agent.yaml`` and a generated ``README.md``.

Both are pure functions of the agent's definition — no ids, times or version numbers — so the same
definition always gives the same bytes, the same git blobs and the same tree, and an export with no
change makes no commit. GitHub and plain-git exports write exactly these files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from agents_store.documents import dump_definition
from agents_store.errors import ConfigError, ExportRejected
from agents_store.models import AgentDefinition, AgentSettings
from agents_store.slug import agent_slug
from tasks.secrets import block_name, env_name

__all__ = [
    "AGENT_FILE",
    "README_FILE",
    "AgentFiles",
    "agent_files",
    "check_no_secret_values",
    "clean_base_path",
    "exported_document",
    "render_readme",
    "secret_names",
]

AGENT_FILE = "agent.yaml"
README_FILE = "README.md"

# The format's secret template (AGENT_FORMAT.md, "Templates"); only the name is ever written out.
_SECRET_TEMPLATE = re.compile(r"\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_MIN_SECRET_LENGTH = 6  # shorter values ("1", "yes") would match ordinary text by chance


@dataclass(frozen=True)
class AgentFiles:
    """An agent's folder in a repository and the bytes of each file in it (paths are repo-relative)."""

    folder: str
    files: dict[str, bytes]


def agent_files(definition: AgentDefinition, base_path: str) -> AgentFiles:
    """``<base_path>/<slug>/agent.yaml`` (the byte-stable document) and its ``README.md``."""
    folder = "/".join(part for part in (base_path.strip("/"), agent_slug(definition.name)) if part)
    return AgentFiles(
        folder=folder,
        files={
            f"{folder}/{AGENT_FILE}": dump_definition(definition).encode("utf-8"),
            f"{folder}/{README_FILE}": render_readme(definition).encode("utf-8"),
        },
    )


def clean_base_path(path: str) -> str:
    """A ``--path`` as a clean relative folder ("" for the repository's root).

    Raises:
        ConfigError: the path climbs out of the repository (``..``).
    """
    parts = [p for p in path.replace("\\", "/").split("/") if p and p != "."]
    if ".." in parts:
        raise ConfigError(f"--path: {path!r} may not contain ..")
    return "/".join(parts)


def secret_names(definition: AgentDefinition) -> list[str]:
    """The names of the ``{{ secrets.NAME }}`` an agent uses, sorted (the values are never known here)."""
    return sorted(set(_SECRET_TEMPLATE.findall(dump_definition(definition, "json"))))


def render_readme(definition: AgentDefinition) -> str:
    """A README for people browsing the repository: what the agent does, how to run it, its chunks."""
    slug = agent_slug(definition.name)
    lines = [f"# {_inline(definition.name)}", ""]
    if definition.description:
        lines += [definition.description.strip(), ""]
    lines += [
        f"An agentctl agent, learned from [this Loom video]({definition.loom_url}).",
        f"Its definition is [`{AGENT_FILE}`]({AGENT_FILE}); this README is generated from it by each export.",
        "",
        "## Import it",
        "",
        "```sh",
        f"agentctl import {AGENT_FILE}",
        f"agentctl github import OWNER/REPO/<folder>/{slug}   # straight from GitHub",
        "```",
        "",
    ]
    if definition.params:
        lines += ["## Params", "", "Run inputs with their defaults; a run may override them.", ""]
        lines += ["| name | default |", "| --- | --- |"]
        lines += [f"| `{name}` | {_cell(value)} |" for name, value in sorted(definition.params.items())]
        lines.append("")
    secrets = secret_names(definition)
    if secrets:
        lines += [
            "## Secrets",
            "",
            "The agent needs these secrets at run time. Their values are never stored here: set each as",
            "the environment variable, or as the Prefect Secret block, named beside it.",
            "",
        ]
        lines += [f"- `{name}`: `{env_name(name)}` or the block `{block_name(name)}`" for name in secrets]
        lines.append("")
    settings = definition.settings.model_dump(exclude_defaults=True)
    if settings:
        defaults = AgentSettings().model_dump()
        lines += ["## Settings", "", "| setting | value | default |", "| --- | --- | --- |"]
        lines += [f"| `{k}` | {_cell(v)} | {_cell(defaults[k])} |" for k, v in settings.items()]
        lines.append("")
    lines += ["## Chunks", "", "| # | chunk | video | actions |", "| --- | --- | --- | --- |"]
    for number, chunk in enumerate(definition.chunks, start=1):
        times = (chunk.start_time or "", chunk.end_time or "")
        video = "–".join(times) if any(times) else ""
        name = _cell(chunk.name or "")
        if chunk.status == "Needs Review":
            name += " (needs review)"
        actions = _cell(_action_summary(a.type for a in chunk.actions))
        lines.append(f"| {number} | {name} | {video} | {actions} |")
    return "\n".join(lines) + "\n"


def exported_document(definition: AgentDefinition, fmt: Literal["yaml", "json"], name: str) -> str:
    """The agent file as ``agentctl export`` and the dashboard's download give it, refused like the
    git exports if a secret's value was pasted into a field (``name`` is the file it goes to).

    Raises:
        ExportRejected: the document holds the value of an ``AGENTCTL_SECRET_*`` variable.
    """
    from export.credentials import environment_secrets

    text = dump_definition(definition, fmt)
    check_no_secret_values({name: text.encode("utf-8")}, environment_secrets())
    return text


def check_no_secret_values(files: Mapping[str, bytes], secrets: Mapping[str, str]) -> None:
    """Refuse an export whose files contain the value of a known secret.

    Documents hold ``{{ secrets.NAME }}`` templates, never values; this catches the one way a value
    still gets in — someone pasted it into a field instead of the template. ``secrets`` maps a
    description of where the value comes from (``AGENTCTL_SECRET_X``, "the GitHub token") to it.

    Raises:
        ExportRejected: naming the secret and the file, never the value; nothing was written.
    """
    for where, value in sorted(secrets.items()):
        if len(value) < _MIN_SECRET_LENGTH:
            continue
        needle = value.encode("utf-8")
        for path, content in sorted(files.items()):
            if needle in content:
                raise ExportRejected(
                    f"refusing to export: {path} contains the value of {where}; "
                    "put a {{ secrets.NAME }} template in the agent instead of the value"
                )


def _action_summary(types: Iterable[str]) -> str:
    """``goto, fill ×2, click``: each run of the same action type once, with a count."""
    runs: list[tuple[str, int]] = []
    for kind in types:
        if runs and runs[-1][0] == kind:
            runs[-1] = (kind, runs[-1][1] + 1)
        else:
            runs.append((kind, 1))
    return ", ".join(kind if count == 1 else f"{kind} ×{count}" for kind, count in runs)


def _inline(text: str) -> str:
    return " ".join(text.split())


def _cell(value: object) -> str:
    """A value as one Markdown table cell: on one line, pipes escaped."""
    text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return _inline(text).replace("|", "\\|")
