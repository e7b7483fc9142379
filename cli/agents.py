"""Agent commands: import, list, show, edit, delete, duplicate, export, schema."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli._context import CliState, err_console, out_console, state_of, stdin_is_interactive
from cli._listing import Column, Listing, print_listing, time_text
from cli._options import AgentRef
from cli._render import STATUS_STYLE, agent_json, chunk_table, failure_lines, print_json, summary_json

if TYPE_CHECKING:
    from agents_store.models import Agent, AgentDefinition

__all__ = ["register", "replace_definition"]


def register(app: typer.Typer) -> None:
    app.command("import")(import_agent)
    app.command("list")(list_agents)
    app.command("show")(show_agent)
    app.command("edit")(edit_agent)
    app.command("delete")(delete_agent)
    app.command("duplicate")(duplicate_agent)
    app.command("export")(export_agent)
    app.command("schema")(print_schema)


def import_agent(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(metavar="FILE", help="YAML or JSON agent file, or - for stdin.")],
    replace: Annotated[
        str | None,
        typer.Option("--replace", metavar="AGENT", help="Save as a new version of this agent instead."),
    ] = None,
) -> None:
    """Import an agent file; prints the agent's id."""
    from agents_store.documents import load_definition

    state = state_of(ctx)
    data = _read_source(source)
    definition = load_definition(data)
    store = state.store()
    if replace is None:
        agent = store.create(definition, user_id=state.settings().user_id, author=state.author())
    else:
        agent = replace_definition(state, replace, definition)
    out_console.print(str(agent.id), markup=False)


def replace_definition(state: CliState, ref: str, definition: AgentDefinition) -> Agent:
    """Save ``definition`` as the next version of agent ``ref`` — unless the latest version already
    says it: then nothing is saved (as ``edit`` and ``revert`` do), and stderr says so."""
    store = state.store()
    current = store.get(store.resolve(ref))
    if definition == current.definition():
        err_console.print(
            f"{current.id}  version {current.version} already says that; nothing saved", markup=False
        )
        return current
    return store.save(current.with_definition(definition), author=state.author())


def _read_source(source: str) -> bytes:
    from agents_store.errors import InvalidAgent

    if source == "-":
        return sys.stdin.buffer.read()
    path = Path(source)
    try:
        return path.read_bytes()
    except FileNotFoundError as e:
        raise InvalidAgent(f"{source}: no such file") from e
    except IsADirectoryError as e:
        raise InvalidAgent(f"{source}: is a folder, not an agent file") from e
    except OSError as e:
        raise InvalidAgent(f"{source}: cannot read it ({e.strerror})") from e


AGENT_COLUMNS = (
    Column("ID"),
    Column("NAME", floor=12),
    Column("STATUS"),
    Column("CHUNKS"),
    Column("VER"),
    Column("UPDATED", kind="time"),
    Column("LAST RUN", kind="time"),
)


def list_agents(
    ctx: typer.Context,
    sort: Annotated[
        str,
        typer.Option("--sort", help="name, description, created_at, updated_at, status or last_run_at."),
    ] = "updated_at",
    desc: Annotated[
        bool | None,
        typer.Option("--desc/--asc", help="Direction (default: newest first for times, A→Z otherwise)."),
    ] = None,
    text: Annotated[
        str | None, typer.Option("--filter", help="Only agents whose name or description contains this.")
    ] = None,
    status: Annotated[
        str | None, typer.Option("--status", help='Only agents in this status, e.g. "Failed".')
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array (see README).")] = False,
) -> None:
    """List agents, newest first."""
    from pydantic import ValidationError

    from agents_store.errors import ConfigError
    from agents_store.store import NEWEST_FIRST_SORTS, AgentQuery

    state = state_of(ctx)
    if desc is None:
        desc = sort in NEWEST_FIRST_SORTS
    try:
        query = AgentQuery(
            text=text,
            status=status,
            sort=sort,
            descending=desc,
            limit=limit,
            offset=offset,
        )
    except ValidationError as e:
        problem = e.errors()[0]
        field = {"text": "--filter"}.get(str(problem["loc"][0]), f"--{problem['loc'][0]}")
        raise ConfigError(f"{field}: {problem['msg']}") from e
    page = state.store().list_agents(query)
    if as_json:
        print_json([summary_json(a) for a in page.items])
        return
    if page.total == 0:
        # As the dashboard's list says it: no table of nothing, but what to do next.
        if text is not None or status is not None:
            err_console.print("no agent matches this filter", markup=False)
        else:
            # Naming the store shows a mistyped --database-url (a new SQLite file is made empty).
            where = state.store().location
            err_console.print(
                f"no agents yet in {where}: import one with `agentctl import FILE`", markup=False
            )
        return
    from rich.text import Text

    table = Listing(AGENT_COLUMNS, [])
    for a in page.items:
        table.add(
            str(a.id)[:8],
            Text(a.name),
            Text(str(a.status), style=STATUS_STYLE.get(str(a.status), "")),
            str(a.chunk_count),
            str(a.version),
            a.updated_at,
            a.last_run_at,
        )
    print_listing(table, out_console)
    noun = "agent" if page.total == 1 else "agents"
    if page.items:
        span = f"{page.offset + 1}–{page.offset + len(page.items)}"
        err_console.print(f"{span} of {page.total} {noun}", markup=False)
    else:
        err_console.print(f"none from {page.offset + 1} on, of {page.total} {noun}", markup=False)


def show_agent(
    ctx: typer.Context,
    ref: AgentRef,
    as_json: Annotated[bool, typer.Option("--json", help="Print the agent with its chunks as JSON.")] = False,
) -> None:
    """Show an agent and its chunks in order, with status and errors."""
    state = state_of(ctx)
    store = state.store()
    agent = store.get(store.resolve(ref))
    if as_json:
        print_json(agent_json(agent))
        return
    _print_agent(agent)


def _print_agent(agent: Agent) -> None:
    from rich.markup import escape

    out_console.print(f"[bold]{escape(agent.name)}[/bold]  ({agent.id})")
    if agent.description:
        out_console.print(agent.description, markup=False)
    out_console.print(
        f"status {agent.status} · version {agent.version} · updated {time_text(agent.updated_at)}",
        markup=False,
    )
    out_console.print(f"video {agent.loom_url}", markup=False)
    if agent.github_repo_url:
        out_console.print(f"repo  {agent.github_repo_url}", markup=False)
    if agent.params:
        shown = ", ".join(f"{k}={v}" for k, v in agent.params.items())
        out_console.print(f"params {shown}", markup=False)
    print_listing(chunk_table(agent), out_console)
    for chunk in agent.chunks:
        if lines := failure_lines(chunk):
            out_console.print()
            for line in lines:
                out_console.print(line, markup=False, soft_wrap=True)


def edit_agent(
    ctx: typer.Context,
    ref: AgentRef,
    name: Annotated[str | None, typer.Option("--name", help="New name.")] = None,
    description: Annotated[str | None, typer.Option("--description", help="New description.")] = None,
) -> None:
    """Change an agent's name or description (saves a new version)."""
    from agents_store.documents import definition_to_dict, parse_definition
    from agents_store.errors import ConfigError

    if name is None and description is None:
        raise ConfigError("nothing to change: give --name and/or --description")
    state = state_of(ctx)
    store = state.store()
    agent = store.get(store.resolve(ref))
    doc: dict[str, Any] = definition_to_dict(agent.definition())
    if name is not None:
        doc["name"] = name
    if description is not None:
        doc["description"] = description or None
    definition = parse_definition(doc)
    if definition == agent.definition():
        unchanged = f"{agent.id}  version {agent.version} already says that; nothing saved"
        out_console.print(unchanged, markup=False)
        return
    saved = store.save(agent.with_definition(definition), author=state.author())
    out_console.print(f"{saved.id}  version {saved.version}", markup=False)


def delete_agent(
    ctx: typer.Context,
    ref: AgentRef,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete an agent with its chunks, versions, run records and run folders (saved sessions,
    screenshots)."""
    from agents_store.errors import ConfigError
    from cli._prefect import require_prefect_api

    state = state_of(ctx)
    store = state.store()
    agent_id = store.resolve(ref)
    agent = store.get(agent_id)
    if not yes:
        if not stdin_is_interactive():
            raise ConfigError("refusing to delete without confirmation: add --yes")
        typer.confirm(f"Delete agent {agent.name!r} ({agent.id}) and its history?", abort=True)
    from deployments.operations import delete_agent

    require_prefect_api()  # before deleting: its deployment is removed after the agent
    deleted = delete_agent(store, agent_id, runs_dir=state.settings().runs_dir())
    if deleted.deployments:
        err_console.print(f"removed its Prefect deployment ({deleted.deployments})", markup=False)
    if deleted.run_folders:
        folders = "folder" if deleted.run_folders == 1 else "folders"
        err_console.print(
            f"removed {deleted.run_folders} run {folders} (saved sessions, screenshots)", markup=False
        )
    err_console.print(f"deleted {agent.id}", markup=False)


def duplicate_agent(ctx: typer.Context, ref: AgentRef) -> None:
    """Copy an agent into a new, independent one named "… (copy)"; prints the new id."""
    state = state_of(ctx)
    store = state.store()
    copy = store.duplicate(store.resolve(ref), author=state.author())
    out_console.print(str(copy.id), markup=False)


def export_agent(
    ctx: typer.Context,
    ref: AgentRef,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="yaml or json.")] = "yaml",
    git: Annotated[
        str | None,
        typer.Option(
            "--git",
            metavar="PATH_OR_REMOTE",
            help="Commit agent.yaml and README.md to this git repository (a URL or a local path) instead.",
        ),
    ] = None,
    branch: Annotated[
        str | None, typer.Option("--branch", help="With --git: the branch (default: the remote's).")
    ] = None,
    path: Annotated[
        str, typer.Option("--path", help="With --git: folder of the agents in the repository.")
    ] = "agents",
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="With --git: the commit message.")
    ] = None,
) -> None:
    """Export an agent's definition (byte-stable: export → import → export gives the same bytes).

    With --git, commit it with a generated README to any git repository, in one commit tagged
    agent/<slug>/v<version>, and push; prints the commit's sha, or "no change".
    """
    from agents_store.errors import ConfigError
    from export.files import exported_document

    if fmt not in ("yaml", "json"):
        raise ConfigError(f"--format: {fmt!r} is not yaml or json")
    state = state_of(ctx)
    store = state.store()
    if git is not None:
        if output is not None or fmt != "yaml":
            raise ConfigError("--git writes agent.yaml and README.md: it takes no --output or --format")
        _export_to_git(state, store.resolve(ref), git, branch=branch, path=path, message=message)
        return
    if branch is not None or message is not None:
        raise ConfigError("--branch and --message go with --git")
    agent = store.get(store.resolve(ref))
    text = exported_document(agent.definition(), fmt, str(output or "stdout"))  # type: ignore[arg-type]
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        err_console.print(f"wrote {output}", markup=False)


def _export_to_git(
    state: CliState, agent_id: uuid.UUID, remote: str, *, branch: str | None, path: str, message: str | None
) -> None:
    from cli._export import print_export_result
    from export.credentials import environment_secrets
    from export.files import clean_base_path
    from export.git import export_to_git

    result = export_to_git(
        state.store(),
        agent_id,
        remote,
        branch=branch,
        base_path=clean_base_path(path),
        message=message,
        author=state.author(),
        secrets=environment_secrets(),
    )
    print_export_result(result)


def print_schema() -> None:
    """Print the JSON Schema of the agent file format."""
    from agents_store.models import AgentDefinition

    schema = AgentDefinition.model_json_schema(by_alias=True)
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    sys.stdout.write(json.dumps(schema, indent=2) + "\n")
