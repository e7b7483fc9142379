"""Export an agent to GitHub as one commit through the Git Data API, and import agents back.

An export writes ``<path>/<slug>/agent.yaml`` and its ``README.md`` as blobs, one tree on top of the
branch's tree, one commit and one ref update — never one commit per file. When the new tree equals
the branch's tree the agent is already there: no commit is made. Each export's commit gets the
lightweight tag ``agent/<slug>/v<version>``.

GitHub calls used: ``GET /repos/{o}/{r}``, ``GET /user``, ``POST /user/repos`` or
``POST /orgs/{org}/repos`` (``--create-repo``), ``GET /repos/{o}/{r}/git/ref/{ref}``,
``GET|POST /repos/{o}/{r}/git/commits``, ``POST /repos/{o}/{r}/git/blobs``, ``POST …/git/trees``,
``PATCH …/git/refs/heads/{b}``, ``POST …/git/refs``, ``GET /repos/{o}/{r}/contents/{path}?ref=…`` and
``GET …/git/blobs/{sha}`` (import of files over 1 MB).
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from dataclasses import dataclass

from github import Github, InputGitTreeElement, UnknownObjectException
from github.ContentFile import ContentFile
from github.GitCommit import GitCommit
from github.GitRef import GitRef
from github.GitTree import GitTree
from github.Repository import Repository

from agents_store.documents import load_definition
from agents_store.errors import ConfigError, ExportConflict, InvalidAgent, RepositoryNotFound
from agents_store.models import AgentDefinition
from agents_store.store import AgentStore
from export._github_api import github_errors
from export.plan import ExportPlan, ExportResult, prepare_export, record_export_once

__all__ = [
    "AGENT_FILE_NAMES",
    "FetchedAgent",
    "RepoLocation",
    "export_to_github",
    "fetch_agents",
    "parse_location",
    "parse_repo_name",
]

AGENT_FILE_NAMES = ("agent.yaml", "agent.yml", "agent.json")
_AGENT_SUFFIXES = (".yaml", ".yml", ".json")
_OWNER = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})"
_REPO = r"[A-Za-z0-9._-]{1,100}"
_REPO_NAME = re.compile(rf"^(?P<owner>{_OWNER})/(?P<name>{_REPO})$")
_MAX_FOLDER_DEPTH = 4  # how deep an import looks for agent files below the folder it was given
_NEW_REPO_WAITS = (0.5, 1.0, 2.0)  # GitHub writes a new repository's first commit a moment later


@dataclass(frozen=True)
class RepoLocation:
    """``owner/name[/path][@ref]``: a repository, a file or folder in it, and a branch, tag or sha."""

    owner: str
    name: str
    path: str = ""
    ref: str | None = None

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def __str__(self) -> str:
        where = f"{self.full_name}/{self.path}" if self.path else self.full_name
        return f"{where}@{self.ref}" if self.ref else where


@dataclass(frozen=True)
class FetchedAgent:
    """An agent document read from a repository (``path`` is where, for messages)."""

    path: str
    definition: AgentDefinition


def parse_repo_name(text: str) -> tuple[str, str]:
    """``owner/name`` split in two; raises ConfigError naming the expected form."""
    match = _REPO_NAME.match(text.strip().removesuffix(".git"))
    if not match or match.group("name") in (".", ".."):
        raise ConfigError(f"{text!r} is not a GitHub repository: expected OWNER/NAME, e.g. acme/agents")
    return match.group("owner"), match.group("name")


def parse_location(text: str) -> RepoLocation:
    """Parse ``owner/name[/path][@ref]`` (the ref is what follows the last ``@``)."""
    spec, _, ref = text.strip().rpartition("@") if "@" in text else (text.strip(), "", "")
    parts = spec.strip("/").split("/")
    if len(parts) < 2:
        raise ConfigError(f"{text!r} is not OWNER/NAME[/PATH][@REF], e.g. acme/agents/agents/invoices@main")
    owner, name = parse_repo_name("/".join(parts[:2]))
    path = "/".join(p for p in parts[2:] if p)
    if any(p in (".", "..") for p in parts[2:]):
        raise ConfigError(f"{text!r}: the path may not contain . or ..")
    if "@" in text and not ref:
        raise ConfigError(f"{text!r}: nothing after @ (give a branch, tag or commit sha)")
    return RepoLocation(owner, name, path, ref or None)


# --------------------------------------------------------------------------- export


def export_to_github(
    store: AgentStore,
    client: Github,
    agent_id: uuid.UUID,
    repo_name: str,
    *,
    branch: str | None = None,
    base_path: str = "agents",
    create_repo: bool = False,
    message: str | None = None,
    author: str | None = None,
    secrets: dict[str, str] | None = None,
) -> ExportResult:
    """Commit the agent's files to ``repo_name`` in one commit, tag it, and record the export.

    The first export records the repository's URL on the agent (a new version, by ``author``)
    before the files are made, so the files carry it and a second export without change makes
    no commit.

    Raises:
        ConfigError: ``repo_name`` is not OWNER/NAME.
        ExportAuthError, RepositoryNotFound, ExportConflict, ExportRejected, RateLimited: what GitHub
            said (see ``export._github_api.translate``). Until the branch's update, the branch is
            left as it was; only unreferenced blobs, trees or a commit may remain.
        AgentNotFound, VersionConflict: from the store.
    """
    owner, name = parse_repo_name(repo_name)
    full_name = f"{owner}/{name}"
    repo, created = _open_repo(client, owner, name, create=create_repo)
    branch = branch or repo.default_branch
    head, ref = _branch_head(repo, full_name, branch, waits=_NEW_REPO_WAITS if created else ())
    plan = prepare_export(
        store,
        agent_id,
        target="github",
        repository_url=repo.html_url,
        url_policy="always",
        base_path=base_path,
        author=author,
        message=message,
        secrets=secrets,
    )
    with github_errors(f"branch {branch} of {full_name}"):
        tree = _write_tree(repo, head, plan)
        changed = tree.sha != head.tree.sha
        commit = repo.create_git_commit(plan.message, tree, [head]) if changed else head
        if ref is None:
            repo.create_git_ref(f"refs/heads/{branch}", commit.sha)
        elif changed:
            ref.edit(commit.sha, force=False)
    tag, warnings = _tag(repo, full_name, plan.tag, commit.sha)
    record = plan.record(
        target="github",
        repository=repo.html_url,
        branch=branch,
        commit_sha=commit.sha,
        tag=tag,
        author=author,
    )
    record_export_once(store, record)
    return ExportResult(
        record=record,
        changed=changed,
        commit_url=f"{repo.html_url}/commit/{commit.sha}",
        warnings=warnings,
    )


def _open_repo(client: Github, owner: str, name: str, *, create: bool) -> tuple[Repository, bool]:
    full_name = f"{owner}/{name}"
    try:
        with github_errors(f"repository {full_name}"):
            return client.get_repo(full_name), False
    except RepositoryNotFound:
        if not create:
            raise
    with github_errors(f"new repository {full_name}"):
        user = client.get_user()
        description = "Agents exported by agentctl"
        if user.login.lower() == owner.lower():
            repo = user.create_repo(name, private=True, auto_init=True, description=description)
        else:
            org = client.get_organization(owner)
            repo = org.create_repo(name, private=True, auto_init=True, description=description)
    return repo, True


def _branch_head(
    repo: Repository, full_name: str, branch: str, *, waits: tuple[float, ...] = ()
) -> tuple[GitCommit, GitRef | None]:
    """The commit to build on, and the branch's ref (None: a new branch, from the default branch's head).

    ``waits``: pauses between tries while the repository is still empty (a repository created a
    moment ago gets its first commit shortly after).
    """
    for wait in waits:
        try:
            return _read_branch_head(repo, full_name, branch)
        except ExportConflict:
            time.sleep(wait)
    return _read_branch_head(repo, full_name, branch)


def _read_branch_head(repo: Repository, full_name: str, branch: str) -> tuple[GitCommit, GitRef | None]:
    with github_errors(f"branch {branch} of {full_name}"):
        try:
            ref = repo.get_git_ref(f"heads/{branch}")
            return repo.get_git_commit(ref.object.sha), ref
        except UnknownObjectException:
            if branch == repo.default_branch:
                raise
        default = repo.get_git_ref(f"heads/{repo.default_branch}")
        return repo.get_git_commit(default.object.sha), None


def _write_tree(repo: Repository, head: GitCommit, plan: ExportPlan) -> GitTree:
    _refuse_upstream_changes(repo, head, plan)
    elements = [
        InputGitTreeElement(
            path,
            "100644",
            "blob",
            sha=repo.create_git_blob(base64.b64encode(content).decode("ascii"), "base64").sha,
        )
        for path, content in plan.files.files.items()
    ]
    elements += [
        InputGitTreeElement(path, "100644", "blob", sha=None) for path in _stale_present(repo, head, plan)
    ]
    return repo.create_git_tree(elements, base_tree=head.tree)


def _refuse_upstream_changes(repo: Repository, head: GitCommit, plan: ExportPlan) -> None:
    """Refuse when a file the last export wrote holds something else on the branch now."""
    for path in sorted(plan.last_written):
        try:
            found = repo.get_contents(path, ref=head.sha)
        except UnknownObjectException:
            continue
        sha = found.sha if isinstance(found, ContentFile) else None
        if (refusal := plan.upstream_change(path, sha)) is not None:
            raise refusal


def _stale_present(repo: Repository, head: GitCommit, plan: ExportPlan) -> list[str]:
    """The files of the agent's previous folder that still hold exactly what the export wrote."""
    present = []
    for path, sha in sorted(plan.stale_files.items()):
        try:
            found = repo.get_contents(path, ref=head.sha)
        except UnknownObjectException:
            continue
        if isinstance(found, ContentFile) and found.sha == sha:
            present.append(path)
    return present


def _tag(repo: Repository, full_name: str, tag: str, sha: str) -> tuple[str | None, tuple[str, ...]]:
    """Point ``tag`` at ``sha``; an existing tag on another commit is left alone, with a warning."""
    with github_errors(f"tag {tag} of {full_name}"):
        try:
            existing = repo.get_git_ref(f"tags/{tag}").object.sha
        except UnknownObjectException:
            repo.create_git_ref(f"refs/tags/{tag}", sha)
            return tag, ()
    if existing == sha:
        return tag, ()
    return None, (f"tag {tag} already points at another commit ({existing[:12]}); it was left as it is",)


# --------------------------------------------------------------------------- import


def fetch_agents(client: Github, location: RepoLocation) -> list[FetchedAgent]:
    """Every agent at ``location``: the file it names, the folder's ``agent.yaml``, or every agent in
    the folder's subfolders. All are read and validated before any is returned.

    Raises:
        RepositoryNotFound: no such repository, ref or path, or no agent file there.
        InvalidAgent: a file breaks the format; the message starts with its path.
        ExportAuthError, RateLimited, ExportError: what GitHub said.
    """
    with github_errors(f"repository {location.full_name}"):
        repo = client.get_repo(location.full_name)
    ref = location.ref or repo.default_branch
    with github_errors(str(location) if location.ref else f"{location}@{ref}"):
        files = _agent_files(repo, location.path, ref, depth=0)
        if not files:
            raise RepositoryNotFound(
                f"no agent file at {location}: looked for {', '.join(AGENT_FILE_NAMES)} "
                f"in the folder and up to {_MAX_FOLDER_DEPTH} levels of subfolders"
            )
        fetched = []
        for file in files:
            try:
                definition = load_definition(_content(repo, file))
            except InvalidAgent as e:
                raise InvalidAgent(f"{file.path}: {e}", e.problems) from e
            fetched.append(FetchedAgent(file.path, definition))
    return fetched


def _agent_files(repo: Repository, path: str, ref: str, *, depth: int) -> list[ContentFile]:
    found = repo.get_contents(path, ref=ref)
    if isinstance(found, ContentFile):
        if not found.path.endswith(_AGENT_SUFFIXES):
            raise ConfigError(f"{found.path} is not an agent file (.yaml, .yml or .json)")
        return [found]
    by_name = {entry.name: entry for entry in found}
    for name in AGENT_FILE_NAMES:
        entry = by_name.get(name)
        if entry is not None and entry.type == "file":
            return [_file(repo, entry.path, ref)]
    if depth >= _MAX_FOLDER_DEPTH:
        return []
    files: list[ContentFile] = []
    for entry in sorted(found, key=lambda e: e.path):
        if entry.type == "dir":
            files += _agent_files(repo, entry.path, ref, depth=depth + 1)
    return files


def _file(repo: Repository, path: str, ref: str) -> ContentFile:
    found = repo.get_contents(path, ref=ref)
    assert isinstance(found, ContentFile), path  # a path that listed as a file is a file
    return found


def _content(repo: Repository, file: ContentFile) -> bytes:
    """The file's bytes; the contents API leaves files over 1 MB out (encoding "none"): read the blob."""
    if file.encoding == "base64":
        return file.decoded_content
    blob = repo.get_git_blob(file.sha)
    return base64.b64decode(blob.content)
