"""Version commands: versions, diff, revert."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from cli._context import out_console, state_of
from cli._listing import Column, Listing, print_listing
from cli._options import AgentRef
from cli._render import print_json

if TYPE_CHECKING:
    from agents_store.store import ExportRecord

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command("versions")(list_versions)
    app.command("diff")(diff_versions)
    app.command("revert")(revert_agent)


def list_versions(
    ctx: typer.Context,
    ref: AgentRef,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """An agent's saved versions: when, who, what changed, and where each was exported."""
    from agents_store.versions import history_summaries

    state = state_of(ctx)
    store = state.store()
    agent_id = store.resolve(ref)
    history = store.list_versions(agent_id)
    exports: dict[int, list[ExportRecord]] = {}
    for record in reversed(store.list_exports(agent_id)):  # oldest first within each version
        exports.setdefault(record.agent_version, []).append(record)
    rows = list(zip(history, history_summaries([(i.version, i.snapshot) for i in history]), strict=True))
    if as_json:
        payload = [
            {
                "version": info.version,
                "created_at": info.created_at.isoformat(),
                "author": info.author,
                "summary": summary,
                "exports": [_export_json(e) for e in exports.get(info.version, [])],
            }
            for info, summary in rows
        ]
        print_json(payload)
        return
    table = Listing(
        (
            Column("VERSION"),
            Column("SAVED", kind="time"),
            Column("AUTHOR", floor=8),
            Column("CHANGES", floor=16),
            Column("EXPORTED", floor=12),
        ),
        [],
    )
    for info, summary in reversed(rows):
        exported = ", ".join(_export_text(e) for e in exports.get(info.version, []))
        table.add(str(info.version), info.created_at, Text(info.author or "-"), Text(summary), Text(exported))
    print_listing(table, out_console)


def _export_json(record: ExportRecord) -> dict[str, Any]:
    fields = {"target", "repository", "branch", "path", "commit_sha", "tag", "author", "exported_at"}
    return record.model_dump(mode="json", include=fields)


def _export_text(record: ExportRecord) -> str:
    """``acme/agents:main@1a2b3c4`` for GitHub, the remote's last part for git: a repository holds
    several branches, and an export to a side branch is not on the default one."""
    where = record.repository.rstrip("/").removesuffix(".git")
    where = "/".join(where.split("/")[-2:]) if record.target == "github" else where.split("/")[-1]
    branch = f":{record.branch}" if record.branch else ""
    return f"{where}{branch}@{(record.commit_sha or '?')[:7]}"


def diff_versions(
    ctx: typer.Context,
    ref: AgentRef,
    old: Annotated[int, typer.Argument(metavar="V1", help="Older version.")],
    new: Annotated[int, typer.Argument(metavar="V2", help="Newer version.")],
    unified: Annotated[
        bool, typer.Option("--unified", help="A plain unified diff of the exported YAML instead.")
    ] = False,
) -> None:
    """What changed between two versions, chunk by chunk."""
    from agents_store.versions import compare_versions, unified_yaml_diff

    state = state_of(ctx)
    store = state.store()
    agent_id = store.resolve(ref)
    a = store.get_version(agent_id, old)
    b = store.get_version(agent_id, new)
    if unified:
        sys.stdout.write(unified_yaml_diff(a.snapshot, b.snapshot, f"version {old}", f"version {new}"))
        return
    from cli._diff import render_version_change

    out_console.print(render_version_change(compare_versions(a.snapshot, b.snapshot), old, new))


def revert_agent(
    ctx: typer.Context,
    ref: AgentRef,
    to: Annotated[int, typer.Option("--to", metavar="V", help="The version to go back to.")],
) -> None:
    """Save a new version equal to version V (history is kept).

    When the agent already equals version V, nothing is saved.
    """
    from agents_store.documents import definition_to_dict

    state = state_of(ctx)
    store = state.store()
    agent_id = store.resolve(ref)
    current = store.get(agent_id)
    target = store.get_version(agent_id, to)
    if definition_to_dict(current.definition()) == target.snapshot:
        out_console.print(
            f"{current.id}  version {current.version} already equals version {to}; nothing saved",
            markup=False,
        )
        return
    agent = store.revert(agent_id, to, author=state.author())
    out_console.print(f"{agent.id}  version {agent.version} (= version {to})", markup=False)
