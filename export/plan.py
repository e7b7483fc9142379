"""What an export decides before it talks to a repository, the same for GitHub and for plain git.

The plan records the repository on the agent first (a new version, when that changes the
definition), then builds the files from the saved definition. Doing it in that order is what makes
a second export byte-identical: the files already hold the URL, so the tree is the same and no
commit is made.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from agents_store.documents import definition_to_dict, dump_definition, parse_definition
from agents_store.errors import ExportConflict, InvalidAgent, VersionNotFound
from agents_store.models import Agent, AgentDefinition
from agents_store.slug import agent_slug
from agents_store.store import AgentStore, ExportRecord
from agents_store.versions import compare_versions
from export.files import AGENT_FILE, AgentFiles, agent_files, check_no_secret_values

__all__ = [
    "ExportPlan",
    "ExportResult",
    "RepositoryUrlPolicy",
    "export_tag",
    "git_blob_sha",
    "prepare_export",
    "record_export_once",
]

Target = Literal["github", "git"]
RepositoryUrlPolicy = Literal["always", "if_missing"]
"""``always``: the agent's ``github_repo_url`` becomes this repository (GitHub exports).
``if_missing``: only an agent without one gets it (plain-git exports, which may go to a local folder)."""


def export_tag(slug: str, version: int) -> str:
    """The tag of an export: ``agent/<slug>/v<version>`` (a lightweight tag on the export's commit)."""
    return f"agent/{slug}/v{version}"


def git_blob_sha(content: bytes) -> str:
    """The sha git gives a blob with these bytes (``git hash-object``), computed without git."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class ExportPlan:
    """One export, decided: the saved agent, its files, tag and commit message.

    ``stale_files`` are files a previous export of this agent wrote under another folder (the agent
    was renamed since), with the blob sha it wrote; a transport deletes each one that still holds
    exactly that blob, so a rename moves the agent instead of leaving a stale copy — and never
    deletes a file someone else put there since.
    """

    agent: Agent
    files: AgentFiles
    tag: str
    message: str
    stale_files: dict[str, str] = field(default_factory=dict)
    last_written: dict[str, str] = field(default_factory=dict)
    """The blob sha of each file of the folder as the last export of this agent there wrote it: a
    transport refuses (``upstream_change``) when the branch holds something else there — someone
    edited the agent in the repository since, and the export would silently undo their change."""
    last_version: int | None = None
    """The agent's version the last export there wrote."""

    def upstream_change(self, path: str, found_sha: str | None) -> ExportConflict | None:
        """The refusal for ``path`` holding ``found_sha`` on the branch, or None when it may be written."""
        expected = self.last_written.get(path)
        content = self.files.files.get(path)
        if expected is None or found_sha is None or found_sha == expected:
            return None
        if content is not None and found_sha == git_blob_sha(content):
            return None  # already what this export writes
        return ExportConflict(
            f"{path} was changed in the repository since agentctl exported version "
            f"{self.last_version} there; nothing was pushed. Bring the change in first "
            "(agentctl github import …/<folder> --replace AGENT, or edit the agent), then export"
        )

    def record(
        self,
        *,
        target: Target,
        repository: str,
        branch: str | None,
        commit_sha: str | None,
        tag: str | None,
        author: str | None,
    ) -> ExportRecord:
        return ExportRecord(
            id=uuid.uuid4(),
            agent_id=self.agent.id,
            agent_version=self.agent.version,
            target=target,
            repository=repository,
            branch=branch,
            path=self.files.folder,
            commit_sha=commit_sha,
            tag=tag,
            author=author,
            exported_at=datetime.now(UTC),
        )


@dataclass(frozen=True)
class ExportResult:
    """What an export did. ``changed`` False: the branch already held these files, no commit was made."""

    record: ExportRecord
    changed: bool
    commit_url: str | None = None
    warnings: tuple[str, ...] = ()


def prepare_export(
    store: AgentStore,
    agent_id: uuid.UUID,
    *,
    target: Target,
    repository_url: str | None,
    url_policy: RepositoryUrlPolicy,
    base_path: str,
    author: str | None,
    message: str | None = None,
    secrets: dict[str, str] | None = None,
) -> ExportPlan:
    """Record the repository on the agent if the policy says so, then plan its files and commit.

    Raises:
        AgentNotFound: no such agent.
        ExportConflict: another agent of this store (one whose name gives the same folder) was
            exported to the same folder of this repository; nothing was saved.
        ExportRejected: the files would contain a secret's value; nothing was saved.
        VersionConflict: someone saved the agent meanwhile.
    """
    agent = store.get(agent_id)
    current = agent.definition()
    wanted = _with_repository_url(current, repository_url, url_policy)
    files = agent_files(wanted, base_path)
    _refuse_another_agents_folder(store, agent, wanted, repository_url, files.folder)
    check_no_secret_values(files.files, secrets or {})
    if wanted != current:
        agent = store.save(agent.with_definition(wanted), author=author)
    previous = _previous_export(store, agent.id, target, repository_url)
    old = _previous_files(store, agent.id, previous, base_path)
    return ExportPlan(
        agent=agent,
        files=files,
        tag=export_tag(agent_slug(agent.name), agent.version),
        message=message or _default_message(store, agent, previous),
        stale_files=_stale_files(old, previous, files),
        last_written=_last_written(old, previous, files),
        last_version=previous.agent_version if previous is not None else None,
    )


def _refuse_another_agents_folder(
    store: AgentStore, agent: Agent, wanted: AgentDefinition, repository_url: str | None, folder: str
) -> None:
    """Refuse to write a folder another agent of this store was exported to.

    The folder is the name's slug, and two names can give one slug (``Twin`` and ``twin``, ``Query
    param`` and ``query: param``), or the other agent was renamed since it was exported there: the
    second export replaced the first agent's files without a word, and their ``agent/<slug>/vN``
    tags collided. The export records of the folder say who lives there, whatever their names are
    now. A copy of what the other one last exported there (an agent imported from that folder)
    changes nothing and may go. An agent that moved out since (renamed, exported again) still
    counts: the records do not say on which branches its old files remain. Refusing, rather than
    picking another folder, keeps an agent's folder its slug on every export, in git and on GitHub.
    """
    if repository_url is None:
        return
    mine = dump_definition(wanted)
    seen: set[uuid.UUID] = {agent.id}
    for record in store.exports_at(repository_url, folder):  # newest first: what is there now
        if record.agent_id in seen:
            continue
        seen.add(record.agent_id)
        try:
            theirs = dump_definition(
                parse_definition(store.get_version(record.agent_id, record.agent_version).snapshot)
            )
        except (VersionNotFound, InvalidAgent):
            theirs = None
        if theirs != mine:
            other = store.get(record.agent_id)
            raise ExportConflict(
                f'{folder}/ in {repository_url} holds another agent of this store, "{other.name}" '
                f"({other.id}), exported there: rename this one so that its folder differs "
                "(agentctl edit --name) or export it under another --path"
            )


def _with_repository_url(
    definition: AgentDefinition, url: str | None, policy: RepositoryUrlPolicy
) -> AgentDefinition:
    if url is None or definition.github_repo_url == url:
        return definition
    if policy == "if_missing" and definition.github_repo_url is not None:
        return definition
    try:
        return parse_definition({**definition_to_dict(definition), "github_repo_url": url})
    except InvalidAgent:
        return definition  # a remote the format cannot name (e.g. user@host:repo): leave the field alone


def record_export_once(store: AgentStore, record: ExportRecord) -> None:
    """Record the export unless this version already went to this place as this commit.

    Exporting an unchanged agent again pushes nothing; recording it again listed the same commit
    twice under the version (``agentctl versions``).
    """
    fields = ("agent_version", "target", "repository", "branch", "path", "commit_sha")
    if not any(
        all(getattr(known, name) == getattr(record, name) for name in fields)
        for known in store.list_exports(record.agent_id)
    ):
        store.record_export(record)


def _previous_export(
    store: AgentStore, agent_id: uuid.UUID, target: Target, repository_url: str | None
) -> ExportRecord | None:
    for record in store.list_exports(agent_id):
        if record.target == target and record.repository == repository_url:
            return record
    return None


def _default_message(store: AgentStore, agent: Agent, previous: ExportRecord | None) -> str:
    """A title, what changed since the last export to this repository, and machine-readable trailers."""
    parts = [f'Export agent "{agent.name}" version {agent.version}']
    if previous is None:
        parts.append("First export of this agent to this repository.")
    elif previous.agent_version != agent.version:
        try:
            before = store.get_version(agent.id, previous.agent_version).snapshot
            after = store.get_version(agent.id, agent.version).snapshot
        except VersionNotFound:
            pass
        else:
            summary = compare_versions(before, after).summary()
            parts.append(f"Since version {previous.agent_version}, the last export here: {summary}.")
    parts.append(f"Agent: {agent_slug(agent.name)}\nAgent-Version: {agent.version}")
    return "\n\n".join(parts) + "\n"


def _previous_files(
    store: AgentStore, agent_id: uuid.UUID, previous: ExportRecord | None, base_path: str
) -> AgentFiles | None:
    """The files the last export of this agent to this repository wrote (from that version's
    snapshot), or None when there was none or its snapshot no longer reads."""
    if previous is None:
        return None
    try:
        snapshot = store.get_version(agent_id, previous.agent_version).snapshot
        return agent_files(parse_definition(snapshot), base_path)
    except (VersionNotFound, InvalidAgent):
        return None


def _last_written(old: AgentFiles | None, previous: ExportRecord | None, files: AgentFiles) -> dict[str, str]:
    """The ``agent.yaml`` the last export wrote in the folder this one writes. Not the README: it
    is generated, and a newer agentctl may word it differently from the one that wrote it; the
    agent file is byte-stable by the format's contract."""
    if old is None or previous is None or previous.path != files.folder or old.folder != previous.path:
        return {}
    return {path: git_blob_sha(c) for path, c in old.files.items() if path.endswith(f"/{AGENT_FILE}")}


def _stale_files(old: AgentFiles | None, previous: ExportRecord | None, files: AgentFiles) -> dict[str, str]:
    """The files the last export wrote in another folder (the agent was renamed since)."""
    if old is None or previous is None or previous.path == files.folder:
        return {}
    if old.folder != previous.path:
        return {}  # exported under another --path then: not ours to guess about
    return {path: git_blob_sha(content) for path, content in old.files.items()}
