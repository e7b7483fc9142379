"""Version commands: versions, diff, revert."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.text import Text

from cli._context import out_console, state_of
from cli._render import print_json, time_text

__all__ = ["register"]

AgentRef = Annotated[str, typer.Argument(metavar="AGENT", help="Agent id, unique id prefix, or name.")]


def register(app: typer.Typer) -> None:
    app.command("versions")(list_versions)
    app.command("diff")(diff_versions)
    app.command("revert")(revert_agent)


def list_versions(
    ctx: typer.Context,
    ref: AgentRef,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """An agent's saved versions with what each changed."""
    from agents_store.versions import compare_versions

    state = state_of(ctx)
    store = state.store()
    history = store.list_versions(store.resolve(ref))
    rows = []
    previous = None
    for info in history:
        rows.append((info, compare_versions(previous, info.snapshot).summary() if previous else "created"))
        previous = info.snapshot
    if as_json:
        payload = [
            {
                "version": info.version,
                "created_at": info.created_at.isoformat(),
                "author": info.author,
                "summary": summary,
            }
            for info, summary in rows
        ]
        print_json(payload)
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in ("VERSION", "SAVED", "AUTHOR", "CHANGES"):
        table.add_column(column)
    for info, summary in reversed(rows):
        table.add_row(str(info.version), time_text(info.created_at), Text(info.author or "-"), Text(summary))
    out_console.print(table)


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
    """Save a new version equal to version V (history is kept)."""
    state = state_of(ctx)
    store = state.store()
    agent = store.revert(store.resolve(ref), to, author=state.author())
    out_console.print(f"{agent.id}  version {agent.version} (= version {to})", markup=False)
