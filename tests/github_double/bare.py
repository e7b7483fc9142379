"""A real bare git repository driven by git's plumbing, so that every sha the double returns is git's own."""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["BareRepo", "GitIdentity", "TreeEntry"]

_ENV_DROP = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY")


@dataclass(frozen=True)
class GitIdentity:
    name: str
    email: str
    date: datetime

    def git_date(self) -> str:
        return f"{int(self.date.timestamp())} +0000"


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    type: str
    sha: str
    size: int | None
    path: str


class BareRepo:
    """One bare repository on disk; each method is one or a few plumbing commands."""

    def __init__(self, path: Path, default_branch: str = "main") -> None:
        self.path = path
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            self.git("init", "--quiet", "--bare", f"--initial-branch={default_branch}", str(path), bare=False)

    def git(
        self,
        *args: str,
        stdin: bytes | None = None,
        env: dict[str, str] | None = None,
        bare: bool = True,
        check: bool = True,
    ) -> subprocess.CompletedProcess[bytes]:
        full_env = {k: v for k, v in os.environ.items() if k not in _ENV_DROP}
        full_env.update(env or {})
        command = ["git", *(("--git-dir", str(self.path)) if bare else ()), *args]
        done = subprocess.run(
            command, input=stdin, capture_output=True, env=full_env, timeout=30, check=False
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)}: {done.stderr.decode(errors='replace').strip()}")
        return done

    def out(self, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> str:
        return self.git(*args, stdin=stdin, env=env).stdout.decode().strip()

    # ------------------------------------------------------------------ reading

    def is_empty(self) -> bool:
        return not self.out("for-each-ref", "--count=1", "--format=%(refname)")

    def resolve(self, rev: str, kind: str = "commit") -> str | None:
        done = self.git(
            "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{{kind}}}", check=False
        )
        return done.stdout.decode().strip() if done.returncode == 0 else None

    def ref(self, name: str) -> str | None:
        done = self.git("rev-parse", "--verify", "--quiet", name, check=False)
        return done.stdout.decode().strip() if done.returncode == 0 else None

    def object_type(self, sha: str) -> str | None:
        done = self.git("cat-file", "-t", sha, check=False)
        return done.stdout.decode().strip() if done.returncode == 0 else None

    def read_blob(self, sha: str) -> bytes:
        return self.git("cat-file", "blob", sha).stdout

    def ls_tree(self, tree: str, path: str = "", *, recursive: bool = False) -> list[TreeEntry]:
        args = ["ls-tree", "-z", "-l"]
        if recursive:
            args += ["-r", "-t"]
        args.append(tree)
        if path:
            args += ["--", path]
        raw = self.git(*args).stdout.decode()
        entries = []
        for record in filter(None, raw.split("\0")):
            meta, _, entry_path = record.partition("\t")
            mode, kind, sha, size = meta.split()
            entries.append(TreeEntry(mode, kind, sha, None if size == "-" else int(size), entry_path))
        return entries

    def read_commit(self, sha: str) -> dict[str, object]:
        """A commit's tree, parents, author, committer and message, parsed from ``cat-file commit``."""
        raw = self.git("cat-file", "commit", sha).stdout.decode()
        header, _, message = raw.partition("\n\n")
        parsed: dict[str, object] = {"parents": [], "message": message}
        for line in header.splitlines():
            key, _, value = line.partition(" ")
            if key == "tree":
                parsed["tree"] = value
            elif key == "parent":
                parsed["parents"].append(value)  # type: ignore[attr-defined]
            elif key in ("author", "committer"):
                who, _, when = value.rpartition("> ")
                name, _, email = who.partition(" <")
                parsed[key] = {"name": name, "email": email, "timestamp": int(when.split()[0])}
        return parsed

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        return self.git("merge-base", "--is-ancestor", ancestor, descendant, check=False).returncode == 0

    def check_ref_format(self, ref: str) -> bool:
        return self.git("check-ref-format", ref, bare=False, check=False).returncode == 0

    # ------------------------------------------------------------------ writing

    def write_blob(self, content: bytes) -> str:
        return self.out("hash-object", "-w", "--stdin", stdin=content)

    def write_tree(self, base_tree: str | None, changes: list[tuple[str, str, str | None]]) -> str:
        """``base_tree`` with ``(path, mode, sha)`` entries set (``sha`` None deletes), in a private index."""
        with tempfile.TemporaryDirectory() as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            if base_tree:
                self.git("read-tree", base_tree, env=env)
            else:
                self.git("read-tree", "--empty", env=env)
            for path, mode, sha in changes:
                if sha is None:
                    # mode 0 removes the entry; --force-remove would want a work tree
                    self.git(
                        "update-index", "--index-info", stdin=f"0 {'0' * 40}\t{path}\n".encode(), env=env
                    )
                else:
                    self.git("update-index", "--add", "--cacheinfo", f"{mode},{sha},{path}", env=env)
            return self.out("write-tree", env=env)

    def commit_tree(
        self, tree: str, parents: list[str], message: str, author: GitIdentity, committer: GitIdentity
    ) -> str:
        env = {
            "GIT_AUTHOR_NAME": author.name,
            "GIT_AUTHOR_EMAIL": author.email,
            "GIT_AUTHOR_DATE": author.git_date(),
            "GIT_COMMITTER_NAME": committer.name,
            "GIT_COMMITTER_EMAIL": committer.email,
            "GIT_COMMITTER_DATE": committer.git_date(),
        }
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        return self.out(*args, stdin=message.encode(), env=env)

    def commit_on(self, branch: str, changes: dict[str, bytes | None], message: str) -> str:
        """A commit on top of ``branch`` (as someone else pushing): files set (None deletes), ref moved."""
        parent = self.resolve(f"refs/heads/{branch}")
        base = self.resolve(f"refs/heads/{branch}", "tree")
        entries = [(p, "100644", None if c is None else self.write_blob(c)) for p, c in changes.items()]
        tree = self.write_tree(base, entries)
        who = GitIdentity("Someone Else", "someone@example.test", datetime.now(UTC))
        commit = self.commit_tree(tree, [parent] if parent else [], message, who, who)
        self.update_ref(f"refs/heads/{branch}", commit)
        return commit

    def update_ref(self, ref: str, new: str, old: str | None = None) -> bool:
        """Move ``ref`` to ``new`` if it is still at ``old`` ("" = must not exist); False when it moved."""
        args = ["update-ref", ref, new]
        if old is not None:
            args.append(old)
        return self.git(*args, check=False).returncode == 0
