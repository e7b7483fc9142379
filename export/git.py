"""Export an agent to any git repository with plain ``git``: GitLab, Gitea, a server, a local folder.

The same files as the GitHub export, committed the same way: git's plumbing in a throw-away
repository (fetch the branch's head, build the new tree in a private index, compare it with the
head's tree, ``commit-tree``, push). No working tree is checked out, so the size of the repository
does not matter, and an export with no change makes no commit. The commit is tagged
``agent/<slug>/v<version>`` (a lightweight tag) and both are pushed.

Authentication is git's own (SSH keys, credential helpers); git never prompts, so a remote that needs
a password it cannot find fails instead of hanging.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from agents_store.errors import ExportConflict, GitCommandFailed, RepositoryNotFound
from agents_store.store import AgentStore
from export.plan import ExportPlan, ExportResult, prepare_export, record_export_once

__all__ = ["export_to_git", "remote_url"]

_TIMEOUT_SECONDS = 120
_URL_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://|^[^/\\]+@[^/\\]+:")
_DEFAULT_BRANCH = "main"
# Variables that would point git at another repository or index than the throw-away one.
_GIT_LOCATION_VARS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_NAMESPACE")


def remote_url(remote: str) -> str:
    """The remote as a URL: a local path becomes ``file:///absolute/path``; URLs stay as given."""
    if _URL_LIKE.match(remote):
        return remote
    return Path(remote).expanduser().resolve().as_uri()


def export_to_git(
    store: AgentStore,
    agent_id: uuid.UUID,
    remote: str,
    *,
    branch: str | None = None,
    base_path: str = "agents",
    message: str | None = None,
    author: str | None = None,
    secrets: dict[str, str] | None = None,
) -> ExportResult:
    """Commit the agent's files to ``remote`` (a URL or a local path), tag and push, record the export.

    The agent's ``github_repo_url`` is set to the remote only when it has none (a GitHub export sets
    it; a copy in a local folder should not take its place).

    Raises:
        RepositoryNotFound: the remote is not a git repository, or cannot be reached.
        ExportConflict: the branch moved while exporting (someone pushed); nothing was pushed.
        GitCommandFailed: another git failure, with what git said.
    """
    url = remote_url(remote)
    if branch is not None:  # as git takes it: refs/heads/x is branch x (it made refs/heads/refs/heads/x)
        branch = branch.removeprefix("refs/heads/")
    with tempfile.TemporaryDirectory(prefix="agentctl-export-") as tmp:
        git = _Git(Path(tmp), url)
        branch, head, exists = git.branch_head(branch)
        plan = prepare_export(
            store,
            agent_id,
            target="git",
            repository_url=url,
            url_policy="if_missing",
            base_path=base_path,
            author=author,
            message=message,
            secrets=secrets,
        )
        tree = git.write_tree(head, plan)
        changed = head is None or tree != git.tree_of(head)
        commit = git.commit(tree, head, plan.message, author) if changed else head
        assert commit is not None  # no head means a new tree, hence a commit
        # A new branch whose files equal the default branch's is still made (at that commit): the
        # export is recorded on it, and someone will look for it there.
        changed = changed or not exists
        if changed:
            git.push(commit, f"refs/heads/{branch}")
        tag, warnings = git.tag(plan.tag, commit)
    record = plan.record(
        target="git", repository=url, branch=branch, commit_sha=commit, tag=tag, author=author
    )
    record_export_once(store, record)
    return ExportResult(record=record, changed=changed, commit_url=None, warnings=warnings)


@dataclass
class _Git:
    """git in a throw-away bare repository, talking to one remote."""

    root: Path
    remote: str
    index: Path = field(init=False)

    def __post_init__(self) -> None:
        self.run("init", "--quiet", "--bare", str(self.root / "repo.git"), bare=False)
        self.index = self.root / "index"  # a private index: the export never touches a work tree

    def run(
        self,
        *args: str,
        stdin: bytes | None = None,
        bare: bool = True,
        index: bool = False,
        env: dict[str, str] | None = None,
    ) -> str:
        """Run git; its stdout, or the error its stderr means."""
        done = self._exec(args, stdin=stdin, bare=bare, index=index, env=env)
        if done.returncode != 0:
            raise _failure(args[0], self.remote, done.stderr.decode("utf-8", "replace"))
        return done.stdout.decode("utf-8", "replace").strip()

    def _exec(
        self,
        args: tuple[str, ...],
        *,
        stdin: bytes | None = None,
        bare: bool = True,
        index: bool = False,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        full_env = {k: v for k, v in os.environ.items() if k not in _GIT_LOCATION_VARS}
        full_env["GIT_TERMINAL_PROMPT"] = "0"  # fail, never wait for a password
        if index:
            full_env["GIT_INDEX_FILE"] = str(self.index)
        full_env.update(env or {})
        command = ["git", *(("--git-dir", str(self.root / "repo.git")) if bare else ()), *args]
        try:
            return subprocess.run(
                command, input=stdin, capture_output=True, env=full_env, timeout=_TIMEOUT_SECONDS, check=False
            )
        except FileNotFoundError as e:
            raise GitCommandFailed("git is not installed (no `git` on PATH)") from e
        except subprocess.TimeoutExpired as e:
            raise GitCommandFailed(f"git {args[0]} took more than {_TIMEOUT_SECONDS} s; gave up") from e

    def branch_head(self, branch: str | None) -> tuple[str, str | None, bool]:
        """The branch to export to (default: the remote's default branch), the commit to build on,
        and whether the branch exists on the remote yet."""
        listing = self.run("ls-remote", "--symref", self.remote, "HEAD", "refs/heads/*")
        heads: dict[str, str] = {}
        default = None
        for line in listing.splitlines():
            first, _, name = line.partition("\t")
            if first.startswith("ref: ") and name == "HEAD":
                default = first.removeprefix("ref: ").removeprefix("refs/heads/")
            elif name.startswith("refs/heads/"):
                heads[name.removeprefix("refs/heads/")] = first
        if not heads and default is None:
            default = self._unborn_head()
        branch = branch or (default if default in heads or not heads else None) or _DEFAULT_BRANCH
        start = branch if branch in heads else default if default in heads else None
        if start is None:
            return branch, None, False  # an empty repository (or a new branch with no default to start from)
        self.run("fetch", "--quiet", "--no-tags", "--depth=1", self.remote, f"refs/heads/{start}")
        return branch, self.run("rev-parse", "FETCH_HEAD^{commit}"), branch in heads

    def _unborn_head(self) -> str | None:
        """The branch an empty repository on this machine would check out (its ``HEAD``, unborn).

        Git does not advertise an unborn ``HEAD`` to ``ls-remote``; pushed to another branch, the
        first export left a clone of the repository with nothing checked out. A remote server's
        empty repository cannot be asked: ``main`` is used, as GitHub's and GitLab's default.
        """
        if not self.remote.startswith("file://"):
            return None
        path = Path(unquote(urlparse(self.remote).path))
        # -C, not --git-dir: a repository with a work tree keeps its HEAD in .git/ (it got ``main``).
        found = self._exec(("-C", str(path), "symbolic-ref", "--quiet", "--short", "HEAD"), bare=False)
        return found.stdout.decode("utf-8", "replace").strip() or None if found.returncode == 0 else None

    def write_tree(self, head: str | None, plan: ExportPlan) -> str:
        """The tree of ``head`` with the plan's files written and its stale files removed."""
        if head is None:
            self.run("read-tree", "--empty", index=True)
        else:
            self.run("read-tree", head, index=True)
            for path in plan.last_written:
                found = self.run("ls-files", "--stage", "--", path, index=True).split(" ")[1:2]
                if (refusal := plan.upstream_change(path, found[0] if found else None)) is not None:
                    raise refusal
            for path, sha in plan.stale_files.items():
                if self.run("ls-files", "--stage", "--", path, index=True).split(" ")[1:2] == [sha]:
                    # mode 0 removes the entry (--force-remove would want a work tree)
                    self.run(
                        "update-index", "--index-info", stdin=f"0 {'0' * 40}\t{path}\n".encode(), index=True
                    )
        for path, content in plan.files.files.items():
            blob = self.run("hash-object", "-w", "--stdin", stdin=content)
            self.run("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", index=True)
        return self.run("write-tree", index=True)

    def tree_of(self, commit: str) -> str:
        return self.run("rev-parse", f"{commit}^{{tree}}")

    def commit(self, tree: str, parent: str | None, message: str, author: str | None) -> str:
        parents = ("-p", parent) if parent else ()
        return self.run(
            "commit-tree", tree, *parents, stdin=message.encode("utf-8"), env=self._identity(author)
        )

    def _identity(self, author: str | None) -> dict[str, str]:
        """git's configured identity wins; without one, commit as the exporter at a placeholder address."""
        if self._exec(("config", "user.email")).returncode == 0 or os.environ.get("GIT_AUTHOR_EMAIL"):
            return {}
        name = author or "agentctl"
        email = "agentctl@localhost"
        return {
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
        }

    def push(self, commit: str, ref: str) -> None:
        self.run("push", "--quiet", "--porcelain", self.remote, f"{commit}:{ref}")

    def tag(self, tag: str, commit: str) -> tuple[str | None, tuple[str, ...]]:
        """Push ``tag`` at ``commit``; an existing tag on another commit is left alone, with a warning."""
        existing = self.run("ls-remote", self.remote, f"refs/tags/{tag}").partition("\t")[0]
        if existing == commit:
            return tag, ()
        if existing:
            return None, (_tag_elsewhere(tag, existing),)
        self.push(commit, f"refs/tags/{tag}")
        return tag, ()


def _tag_elsewhere(tag: str, existing: str) -> str:
    return f"tag {tag} already points at another commit ({existing[:12]}); it was left as it is"


def _failure(command: str, remote: str, stderr: str) -> Exception:
    said = " ".join(line.strip() for line in stderr.strip().splitlines() if line.strip())[:400]
    lowered = said.lower()
    if command in ("ls-remote", "fetch") and (
        "does not appear to be a git repository" in lowered
        or "not found" in lowered
        or "could not read from remote" in lowered
        or "unable to access" in lowered
    ):
        return RepositoryNotFound(f"{remote} is not a git repository that can be read: {said}")
    if command == "push" and any(w in lowered for w in ("fetch first", "non-fast-forward", "stale info")):
        return ExportConflict(
            f"the branch on {remote} moved while exporting (someone pushed meanwhile); nothing was changed: "
            "run the export again"
        )
    checked_out = re.search(r"refusing to update checked out branch:\s*(?:refs/heads/)?(\S+)", said)
    if command == "push" and checked_out:
        return GitCommandFailed(
            f"{remote} has branch {checked_out.group(1)} checked out in its work tree, and git does not "
            "push to a checked-out branch: export to a bare repository (git init --bare) and pull from "
            "it, or give --branch with another branch",
            stderr,
        )
    return GitCommandFailed(f"git {command} failed for {remote}: {said or 'no message'}", stderr)
