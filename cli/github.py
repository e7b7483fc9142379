"""GitHub commands: ``agentctl github export`` and ``agentctl github import``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cli._context import CliState, err_console, out_console, state_of
from cli._export import print_export_result
from cli._options import AgentRef

if TYPE_CHECKING:
    from github import Github


__all__ = ["github_app", "register"]

github_app = typer.Typer(
    name="github",
    help="Export agents to GitHub in one commit, and import them back.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

BaseUrl = Annotated[
    str,
    typer.Option(
        "--base-url",
        envvar="GITHUB_API_URL",
        help="GitHub's API: https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise.",
    ),
]
TokenBlock = Annotated[
    str | None,
    typer.Option(
        "--token-block",
        metavar="NAME",
        help="Read the token from this Prefect Secret block instead of GITHUB_TOKEN.",
    ),
]
_DEFAULT_BASE_URL = "https://api.github.com"


def register(app: typer.Typer) -> None:
    app.add_typer(github_app, name="github")


@github_app.command("export")
def export_agent(
    ctx: typer.Context,
    ref: AgentRef,
    repo: Annotated[str, typer.Option("--repo", metavar="OWNER/NAME", help="The repository.")],
    branch: Annotated[
        str | None, typer.Option("--branch", help="Branch to commit to (default: the repository's).")
    ] = None,
    path: Annotated[str, typer.Option("--path", help="Folder of the agents in the repository.")] = "agents",
    create_repo: Annotated[
        bool, typer.Option("--create-repo", help="Create the repository (private) if it does not exist.")
    ] = False,
    message: Annotated[str | None, typer.Option("--message", "-m", help="The commit message.")] = None,
    base_url: BaseUrl = _DEFAULT_BASE_URL,
    token_block: TokenBlock = None,
) -> None:
    """Commit the agent's agent.yaml and README.md to a GitHub repository, in one commit.

    Prints the commit's URL, or "no change" when the branch already holds this version.
    """
    from agents_store.errors import ExportAuthError
    from export.credentials import environment_secrets, github_token
    from export.files import clean_base_path
    from export.github import export_to_github

    state = state_of(ctx)
    token = github_token(token_block)
    if token is None:
        raise ExportAuthError(
            "no GitHub token: set GITHUB_TOKEN, or give --token-block NAME (a Prefect Secret)"
        )
    store = state.store()
    result = export_to_github(
        store,
        _client(state, token, base_url),
        store.resolve(ref),
        repo,
        branch=branch,
        base_path=clean_base_path(path),
        create_repo=create_repo,
        message=message,
        author=state.author(),
        secrets={**environment_secrets(), "the GitHub token": token},
    )
    print_export_result(result)


@github_app.command("import")
def import_agents(
    ctx: typer.Context,
    location: Annotated[
        str,
        typer.Argument(
            metavar="OWNER/NAME[/PATH][@REF]",
            help="A repository, an agent file or a folder in it, and a branch, tag or commit.",
        ),
    ],
    replace: Annotated[
        str | None,
        typer.Option(
            "--replace", metavar="AGENT", help="Save the one imported agent as a new version of AGENT."
        ),
    ] = None,
    base_url: BaseUrl = _DEFAULT_BASE_URL,
    token_block: TokenBlock = None,
) -> None:
    """Import one agent, or every agent in a folder, from GitHub; prints each new agent's id.

    Every file is read and checked before anything is saved. Without a token, only public
    repositories can be read.
    """
    from agents_store.errors import ConfigError
    from cli.agents import replace_definition
    from export.credentials import github_token
    from export.github import fetch_agents, parse_location

    state = state_of(ctx)
    where = parse_location(location)
    fetched = fetch_agents(_client(state, github_token(token_block), base_url), where)
    if replace is not None and len(fetched) != 1:
        raise ConfigError(f"--replace takes one agent, and {where} holds {len(fetched)}")
    store = state.store()
    for item in fetched:
        if replace is None:
            agent = store.create(item.definition, user_id=state.settings().user_id, author=state.author())
        else:
            agent = replace_definition(state, replace, item.definition)
        out_console.print(str(agent.id), markup=False)
        err_console.print(f"imported {item.path} as {agent.id} (version {agent.version})", markup=False)


def _client(state: CliState, token: str | None, base_url: str) -> Github:
    from export._github_api import connect

    return connect(token, base_url=base_url, throttle=state.settings().github_throttle)
