"""``/api/agents/{id}/exports``: export to GitHub in one commit, and the agent's past exports.

The dashboard exports with the server's GitHub credentials (``GITHUB_TOKEN``, ``GITHUB_API_URL``),
through the same ``export.github`` function as ``agentctl github export``.
"""

from __future__ import annotations

import os
import uuid

from fastapi import APIRouter

from agents_store.errors import ExportAuthError
from dashboard.api_versions import export_out
from dashboard.deps import Ctx, User, owned_agent
from dashboard.errors import about_field, error_responses
from dashboard.schemas import ExportOut, GithubExportIn

__all__ = ["router"]

router = APIRouter(
    prefix="/api/agents/{agent_id}/exports", tags=["exports"], responses=error_responses(401, 403, 404)
)

_DEFAULT_GITHUB_API = "https://api.github.com"


@router.get("", response_model=list[ExportOut], summary="Past exports")
def list_exports(ctx: Ctx, user: User, agent_id: uuid.UUID) -> list[ExportOut]:
    """The agent's exports to repositories, newest first."""
    owned_agent(ctx, agent_id, user)
    return [export_out(record) for record in ctx.store.list_exports(agent_id)]


@router.post(
    "/github",
    response_model=ExportOut,
    responses=error_responses(400, 409, 422, 429, 502),
    summary="Export to GitHub",
)
def export_github(ctx: Ctx, user: User, agent_id: uuid.UUID, body: GithubExportIn) -> ExportOut:
    """Commit ``agent.yaml`` and ``README.md`` to ``repo`` in one commit, tagged with the version.

    No commit is made when the branch already holds this version (``changed`` is false).
    """
    from export._github_api import connect
    from export.credentials import environment_secrets, github_token
    from export.files import clean_base_path
    from export.github import export_to_github, parse_repo_name

    owned_agent(ctx, agent_id, user)
    with about_field("repo"):
        parse_repo_name(body.repo)
    with about_field("path"):
        base_path = clean_base_path(body.path)
    token = github_token()
    if token is None:
        raise ExportAuthError("the dashboard has no GitHub token: start it with GITHUB_TOKEN set")
    client = connect(
        token,
        base_url=os.environ.get("GITHUB_API_URL") or _DEFAULT_GITHUB_API,
        throttle=ctx.settings.github_throttle,
    )
    result = export_to_github(
        ctx.store,
        client,
        agent_id,
        body.repo,
        branch=body.branch or None,
        base_path=base_path,
        create_repo=body.create_repo,
        message=body.message or None,
        author=user.author,
        secrets={**environment_secrets(), "the GitHub token": token},
    )
    out = export_out(result.record)
    return out.model_copy(
        update={"changed": result.changed, "commit_url": result.commit_url, "warnings": list(result.warnings)}
    )
