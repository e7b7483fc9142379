"""A test double of GitHub's REST API: the endpoints agentctl's GitHub export and import use, backed
by real bare git repositories so that blobs, trees, commits and refs — and their shas — are git's own.

It speaks what PyGithub sends and reads: the same paths (under GitHub Enterprise's ``/api/v3``
prefix, so ``--base-url`` is exercised), JSON shapes, status codes, ``X-RateLimit-*`` headers and
GitHub-shaped errors (``message``, ``documentation_url``, ``status``, and ``errors`` for 422).

Covered:

* ``GET /user``; ``POST /user/repos``; ``GET /orgs/{org}``; ``POST /orgs/{org}/repos``
  (``name``, ``private``, ``auto_init``, ``description``; 422 for a taken or invalid name);
* ``GET /repos/{owner}/{repo}`` (404 for a missing repository, or a private one the token may not see);
* ``GET /repos/{o}/{r}/contents/{path}?ref=`` — a file (base64; ``encoding: none`` and no content
  over 1 MB, like GitHub — ``contents_limit`` lowers it for tests) or a folder listing; 404 "This
  repository is empty." on an empty repository;
* ``POST /repos/{o}/{r}/git/blobs`` (utf-8 or base64), ``GET …/git/blobs/{sha}``;
* ``POST …/git/trees`` with ``base_tree`` and blob entries by ``sha`` or ``content``, ``sha: null``
  deleting a path (subtree entries are not supported: 422); ``GET …/git/trees/{sha|ref}?recursive=1``;
* ``POST …/git/commits`` (author and committer default to the token's user), ``GET …/git/commits/{sha}``;
* ``GET …/git/ref/{ref}`` (and the older ``…/git/refs/{ref}``), ``POST …/git/refs`` (422 when the
  ref exists or its name is invalid), ``PATCH …/git/refs/{ref}`` (422 "Update is not a fast forward"
  unless ``force``; the update is a compare-and-swap on the bare repository).

Behaviour shared by all: ``Authorization: token …`` or ``Bearer …`` (401 "Bad credentials" for an
unknown token, 401 "Requires authentication" for a write without one), 403 for a write to a
repository the user may not push to, 409 "Git Repository is empty." from the Git Data API on an
empty repository, and a primary rate limit (403 with ``X-RateLimit-Remaining: 0`` and
``X-RateLimit-Reset``) once the budget is spent. No endpoint used here paginates.

Tests reach around the API through ``GitHubDouble``: ``bare()`` for ``git log`` / ``git show``,
``requests`` (what was called), ``before()`` (run code just before a matching request — e.g. push
to the branch to simulate a concurrent writer) and ``exhaust_rate_limit()``.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from tests.github_double.bare import BareRepo, GitIdentity, TreeEntry

__all__ = ["API_PREFIX", "Account", "GitHubDouble", "HostedRepo"]

API_PREFIX = "/api/v3"
_DOCS = "https://docs.github.com/rest"
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_CONTENTS_LIMIT = 1024 * 1024
_MODES = {"100644": "blob", "100755": "blob", "120000": "blob"}

Json = dict[str, Any]


class ApiError(Exception):
    """An error response, shaped as GitHub shapes them."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        doc: str = "",
        errors: list[Json] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.doc = doc
        self.errors = errors
        self.headers = headers or {}

    def body(self) -> Json:
        body: Json = {"message": self.message, "documentation_url": f"{_DOCS}{self.doc}"}
        if self.errors:
            body["errors"] = self.errors
        body["status"] = str(self.status)
        return body


@dataclass
class Account:
    login: str
    id: int
    type: str = "User"  # or "Organization"
    name: str = ""
    email: str = ""
    members: set[str] = field(default_factory=set)


@dataclass
class HostedRepo:
    owner: Account
    name: str
    id: int
    bare: BareRepo
    private: bool = True
    description: str | None = None
    default_branch: str = "main"
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.name}"


@dataclass
class Call:
    """One request as a handler sees it."""

    params: dict[str, str]
    query: dict[str, str]
    body: Any
    user: Account | None


Handler = Callable[[Call], tuple[int, Any]]
Hook = Callable[[Call], None]


class GitHubDouble:
    """The double's state (accounts, repositories, rate limit) and its Starlette app."""

    def __init__(self, root: Path) -> None:
        self.base_url = "http://127.0.0.1"  # set by the server once it has a port
        self._lock = threading.RLock()
        self.reset(root)
        self.app = Starlette(routes=[Mount(API_PREFIX, routes=self._routes())])

    # ------------------------------------------------------------------ test controls

    def reset(self, root: Path) -> None:
        """Forget everything: no repositories; one user ``octo`` with token ``ghp_octo``."""
        with self._lock:
            self.root = root
            self.accounts: dict[str, Account] = {}
            self.tokens: dict[str, str] = {}
            self.repos: dict[str, HostedRepo] = {}
            self.requests: list[tuple[str, str]] = []
            self.hooks: list[tuple[str, re.Pattern[str], Hook]] = []
            self.contents_limit = _CONTENTS_LIMIT  # GitHub's: bigger files come without content
            self.rate_limit = 5000
            self.remaining = 5000
            self.reset_at = int(datetime.now(UTC).timestamp()) + 3600
            self._ids = 1000
            self.add_user("octo", token="ghp_octo")

    @property
    def api_url(self) -> str:
        return f"{self.base_url}{API_PREFIX}"

    def add_user(self, login: str, *, token: str) -> Account:
        with self._lock:
            account = Account(login, self._next_id(), "User", login.title(), f"{login}@users.noreply.test")
            self.accounts[login.lower()] = account
            self.tokens[token] = login.lower()
            return account

    def add_org(self, login: str, *, members: set[str]) -> Account:
        with self._lock:
            account = Account(login, self._next_id(), "Organization", login, "", {m.lower() for m in members})
            self.accounts[login.lower()] = account
            return account

    def create_repo(
        self,
        full_name: str,
        *,
        private: bool = True,
        auto_init: bool = False,
        description: str | None = None,
    ) -> HostedRepo:
        owner_login, name = full_name.split("/")
        with self._lock:
            owner = self.accounts[owner_login.lower()]
            key = full_name.lower()
            bare = BareRepo(self.root / "repos" / f"{key}.git")
            repo = HostedRepo(owner, name, self._next_id(), bare, private, description)
            self.repos[key] = repo
            if auto_init:
                who = GitIdentity(owner.name or owner.login, owner.email, datetime.now(UTC))
                readme = f"# {name}\n\n{description or ''}\n".replace("\n\n\n", "\n")
                tree = bare.write_tree(None, [("README.md", "100644", bare.write_blob(readme.encode()))])
                commit = bare.commit_tree(tree, [], "Initial commit\n", who, who)
                bare.update_ref(f"refs/heads/{repo.default_branch}", commit, "")
            return repo

    def bare(self, full_name: str) -> BareRepo:
        return self.repos[full_name.lower()].bare

    def before(self, method: str, path_pattern: str, hook: Hook) -> None:
        """Run ``hook`` just before a request whose method matches and path (after /api/v3) matches."""
        self.hooks.append((method.upper(), re.compile(path_pattern), hook))

    def exhaust_rate_limit(self, reset_in_seconds: int = 3600) -> None:
        with self._lock:
            self.remaining = 0
            self.reset_at = int(datetime.now(UTC).timestamp()) + reset_in_seconds

    def writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.requests if m != "GET"]

    # ------------------------------------------------------------------ plumbing

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def _routes(self) -> list[Route]:
        repo = "/repos/{owner}/{repo}"
        table: list[tuple[str, str, Handler]] = [
            ("GET", "/user", self._get_user),
            ("POST", "/user/repos", self._create_user_repo),
            ("GET", "/orgs/{org}", self._get_org),
            ("POST", "/orgs/{org}/repos", self._create_org_repo),
            ("GET", repo, self._get_repo),
            ("GET", f"{repo}/contents", self._get_contents),
            ("GET", f"{repo}/contents/{{path:path}}", self._get_contents),
            ("POST", f"{repo}/git/blobs", self._create_blob),
            ("GET", f"{repo}/git/blobs/{{sha}}", self._get_blob),
            ("POST", f"{repo}/git/trees", self._create_tree),
            ("GET", f"{repo}/git/trees/{{sha:path}}", self._get_tree),
            ("POST", f"{repo}/git/commits", self._create_commit),
            ("GET", f"{repo}/git/commits/{{sha}}", self._get_commit),
            ("GET", f"{repo}/git/ref/{{ref:path}}", self._get_ref),
            ("GET", f"{repo}/git/refs/{{ref:path}}", self._get_ref),
            ("POST", f"{repo}/git/refs", self._create_ref),
            ("PATCH", f"{repo}/git/refs/{{ref:path}}", self._update_ref),
        ]
        by_path: dict[str, dict[str, Handler]] = {}
        for method, path, handler in table:
            by_path.setdefault(path, {})[method] = handler
        return [
            Route(path, self._endpoint(handlers), methods=list(handlers))
            for path, handlers in by_path.items()
        ]

    def _endpoint(self, handlers: dict[str, Handler]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            raw = await request.body()
            return await run_in_threadpool(self._dispatch, request, raw, handlers[request.method])

        return endpoint

    def _dispatch(self, request: Request, raw: bytes, handler: Handler) -> Response:
        with self._lock:
            path = request.url.path.removeprefix(API_PREFIX)
            self.requests.append((request.method, path))
            try:
                user = self._authenticate(request, write=request.method != "GET")
                body = json.loads(raw) if raw else None
                call = Call(dict(request.path_params), dict(request.query_params), body, user)
                for method, pattern, hook in list(self.hooks):
                    if method == request.method and pattern.search(path):
                        hook(call)
                if self.remaining <= 0:
                    raise self._rate_limit_error(user)
                self.remaining -= 1
                status, payload = handler(call)
            except ApiError as e:
                return JSONResponse(e.body(), e.status, headers={**self._rate_headers(), **e.headers})
            return JSONResponse(payload, status, headers=self._rate_headers())

    def _authenticate(self, request: Request, *, write: bool) -> Account | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            if write:
                raise ApiError(401, "Requires authentication", doc="/overview/authenticating")
            return None
        login = self.tokens.get(token.strip()) if scheme.lower() in ("token", "bearer") else None
        if login is None:
            raise ApiError(401, "Bad credentials", doc="")
        return self.accounts[login]

    def _rate_limit_error(self, user: Account | None) -> ApiError:
        who = f"user ID {user.id}" if user else "127.0.0.1"
        return ApiError(
            403,
            f"API rate limit exceeded for {who}. If you reach out to GitHub Support for help, please "
            "include the request ID 0000:0000:0000000:0000000:00000000.",
            doc="/overview/rate-limits-for-the-rest-api",
        )

    def _rate_headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(self.remaining, 0)),
            "X-RateLimit-Reset": str(self.reset_at),
            "X-RateLimit-Used": str(self.rate_limit - max(self.remaining, 0)),
            "X-RateLimit-Resource": "core",
        }

    # ------------------------------------------------------------------ JSON shapes

    def _html(self, *parts: str) -> str:
        return "/".join([self.base_url, *parts])

    def _account_json(self, account: Account) -> Json:
        data: Json = {
            "login": account.login,
            "id": account.id,
            "node_id": f"U_{account.id}",
            "type": account.type,
            "site_admin": False,
            "url": f"{self.api_url}/{'orgs' if account.type == 'Organization' else 'users'}/{account.login}",
            "html_url": self._html(account.login),
        }
        if account.type == "User":
            data |= {"name": account.name, "email": account.email}
        return data

    def _repo_json(self, repo: HostedRepo, user: Account | None) -> Json:
        api = f"{self.api_url}/repos/{repo.full_name}"
        stamp = _iso(repo.created_at)
        can_push = self._can_push(repo, user)
        return {
            "id": repo.id,
            "node_id": f"R_{repo.id}",
            "name": repo.name,
            "full_name": repo.full_name,
            "private": repo.private,
            "visibility": "private" if repo.private else "public",
            "owner": self._account_json(repo.owner),
            "html_url": self._html(repo.full_name),
            "description": repo.description,
            "fork": False,
            "url": api,
            "git_refs_url": f"{api}/git/refs{{/sha}}",
            "contents_url": f"{api}/contents/{{+path}}",
            "clone_url": self._html(f"{repo.full_name}.git"),
            "default_branch": repo.default_branch,
            "created_at": stamp,
            "updated_at": stamp,
            "pushed_at": stamp,
            "size": 0,
            "archived": False,
            "permissions": {"admin": can_push, "maintain": can_push, "push": can_push, "pull": True},
        }

    def _commit_json(self, repo: HostedRepo, sha: str) -> Json:
        parsed = repo.bare.read_commit(sha)
        api = f"{self.api_url}/repos/{repo.full_name}"

        def person(key: str) -> Json:
            who = parsed[key]
            assert isinstance(who, dict)
            when = datetime.fromtimestamp(who["timestamp"], UTC)
            return {"name": who["name"], "email": who["email"], "date": _iso(when)}

        parents = parsed["parents"]
        assert isinstance(parents, list)
        return {
            "sha": sha,
            "node_id": f"C_{sha}",
            "url": f"{api}/git/commits/{sha}",
            "html_url": self._html(repo.full_name, "commit", sha),
            "author": person("author"),
            "committer": person("committer"),
            "tree": {"sha": parsed["tree"], "url": f"{api}/git/trees/{parsed['tree']}"},
            "message": str(parsed["message"]).removesuffix("\n"),
            "parents": [
                {
                    "sha": p,
                    "url": f"{api}/git/commits/{p}",
                    "html_url": self._html(repo.full_name, "commit", p),
                }
                for p in parents
            ],
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        }

    def _ref_json(self, repo: HostedRepo, ref: str, sha: str) -> Json:
        api = f"{self.api_url}/repos/{repo.full_name}"
        kind = repo.bare.object_type(sha) or "commit"
        return {
            "ref": ref,
            "node_id": f"REF_{quote(ref, safe='')}",
            "url": f"{api}/git/{quote(ref)}",
            "object": {"sha": sha, "type": kind, "url": f"{api}/git/{kind}s/{sha}"},
        }

    def _tree_json(self, repo: HostedRepo, sha: str, *, recursive: bool) -> Json:
        api = f"{self.api_url}/repos/{repo.full_name}"
        entries = repo.bare.ls_tree(sha, recursive=recursive)
        return {
            "sha": sha,
            "url": f"{api}/git/trees/{sha}",
            "tree": [_tree_entry_json(api, e) for e in entries],
            "truncated": False,
        }

    def _content_json(self, repo: HostedRepo, entry: TreeEntry, ref: str, *, full: bool) -> Json:
        api = f"{self.api_url}/repos/{repo.full_name}"
        kind = {"tree": "dir", "commit": "submodule"}.get(entry.type, "file")
        if entry.mode == "120000":
            kind = "symlink"
        self_url = f"{api}/contents/{quote(entry.path)}?ref={quote(ref, safe='')}"
        git_url = f"{api}/git/{'trees' if kind == 'dir' else 'blobs'}/{entry.sha}"
        html_url = self._html(repo.full_name, "tree" if kind == "dir" else "blob", ref, entry.path)
        data: Json = {
            "type": kind,
            "size": entry.size or 0,
            "name": entry.path.rsplit("/", 1)[-1],
            "path": entry.path,
            "sha": entry.sha,
            "url": self_url,
            "git_url": git_url,
            "html_url": html_url,
            "download_url": None if kind == "dir" else self._html("raw", repo.full_name, ref, entry.path),
            "_links": {"self": self_url, "git": git_url, "html": html_url},
        }
        if full and kind == "file":
            content = repo.bare.read_blob(entry.sha)
            if len(content) > self.contents_limit:
                data |= {"encoding": "none", "content": ""}
            else:
                data |= {"encoding": "base64", "content": _b64_lines(content)}
        return data

    # ------------------------------------------------------------------ access

    def _repo(self, call: Call, *, write: bool = False) -> HostedRepo:
        repo = self.repos.get(f"{call.params['owner']}/{call.params['repo']}".lower())
        if repo is None or (repo.private and not self._can_push(repo, call.user)):
            raise ApiError(404, "Not Found", doc="/repos/repos#get-a-repository")
        if write and not self._can_push(repo, call.user):
            raise ApiError(403, "Resource not accessible by personal access token", doc="/git")
        return repo

    def _git_repo(self, call: Call, *, write: bool = False) -> HostedRepo:
        """A repository for the Git Data API, which answers 409 while the repository has no commit."""
        repo = self._repo(call, write=write)
        if repo.bare.is_empty():
            raise ApiError(409, "Git Repository is empty.", doc="/git")
        return repo

    @staticmethod
    def _can_push(repo: HostedRepo, user: Account | None) -> bool:
        if user is None:
            return False
        return repo.owner.login.lower() == user.login.lower() or user.login.lower() in repo.owner.members

    @staticmethod
    def _body(call: Call) -> Json:
        if not isinstance(call.body, dict):
            raise ApiError(400, "Problems parsing JSON", doc="/overview/resources-in-the-rest-api")
        return call.body

    # ------------------------------------------------------------------ users and repositories

    def _get_user(self, call: Call) -> tuple[int, Any]:
        if call.user is None:
            raise ApiError(401, "Requires authentication", doc="/users/users#get-the-authenticated-user")
        return 200, self._account_json(call.user)

    def _get_org(self, call: Call) -> tuple[int, Any]:
        org = self.accounts.get(call.params["org"].lower())
        if org is None or org.type != "Organization":
            raise ApiError(404, "Not Found", doc="/orgs/orgs#get-an-organization")
        return 200, self._account_json(org)

    def _create_user_repo(self, call: Call) -> tuple[int, Any]:
        assert call.user is not None
        return self._new_repo(call, call.user)

    def _create_org_repo(self, call: Call) -> tuple[int, Any]:
        assert call.user is not None
        org = self.accounts.get(call.params["org"].lower())
        if org is None or org.type != "Organization":
            raise ApiError(404, "Not Found", doc="/repos/repos#create-an-organization-repository")
        if call.user.login.lower() not in org.members:
            raise ApiError(
                403,
                "You need admin access to the organization before adding a repository to it.",
                doc="/repos/repos#create-an-organization-repository",
            )
        return self._new_repo(call, org)

    def _new_repo(self, call: Call, owner: Account) -> tuple[int, Any]:
        body = self._body(call)
        name = body.get("name")
        problem = None
        if not isinstance(name, str) or not _NAME.match(name) or name in (".", ".."):
            problem = "name is invalid"
        elif f"{owner.login}/{name}".lower() in self.repos:
            problem = "name already exists on this account"
        if problem:
            raise ApiError(
                422,
                "Repository creation failed.",
                doc="/repos/repos#create-a-repository-for-the-authenticated-user",
                errors=[{"resource": "Repository", "code": "custom", "field": "name", "message": problem}],
            )
        repo = self.create_repo(
            f"{owner.login}/{name}",
            private=bool(body.get("private", False)),
            auto_init=bool(body.get("auto_init", False)),
            description=body.get("description"),
        )
        return 201, self._repo_json(repo, call.user)

    def _get_repo(self, call: Call) -> tuple[int, Any]:
        repo = self._repo(call)
        return 200, self._repo_json(repo, call.user)

    # ------------------------------------------------------------------ contents

    def _get_contents(self, call: Call) -> tuple[int, Any]:
        repo = self._repo(call)
        doc = "/repos/contents#get-repository-content"
        if repo.bare.is_empty():
            raise ApiError(404, "This repository is empty.", doc=doc)
        ref = call.query.get("ref") or repo.default_branch
        commit = repo.bare.resolve(ref)
        if commit is None:
            raise ApiError(404, f"No commit found for the ref {ref}", doc=doc)
        path = call.params.get("path", "").strip("/")
        tree = repo.bare.resolve(commit, "tree")
        assert tree is not None
        if not path:
            entries = repo.bare.ls_tree(tree)
            return 200, [self._content_json(repo, e, ref, full=False) for e in entries]
        found = repo.bare.ls_tree(tree, path)
        entry = next((e for e in found if e.path == path), None)
        if entry is None:
            raise ApiError(404, "Not Found", doc=doc)
        if entry.type == "tree":
            entries = repo.bare.ls_tree(entry.sha)
            listing = [TreeEntry(e.mode, e.type, e.sha, e.size, f"{path}/{e.path}") for e in entries]
            return 200, [self._content_json(repo, e, ref, full=False) for e in listing]
        return 200, self._content_json(repo, entry, ref, full=True)

    # ------------------------------------------------------------------ git data: blobs and trees

    def _create_blob(self, call: Call) -> tuple[int, Any]:
        repo = self._git_repo(call, write=True)
        body = self._body(call)
        content, encoding = body.get("content"), body.get("encoding", "utf-8")
        if not isinstance(content, str) or encoding not in ("utf-8", "base64"):
            raise ApiError(422, "Invalid request.", doc="/git/blobs#create-a-blob")
        data = base64.b64decode(content) if encoding == "base64" else content.encode("utf-8")
        sha = repo.bare.write_blob(data)
        return 201, {"sha": sha, "url": f"{self.api_url}/repos/{repo.full_name}/git/blobs/{sha}"}

    def _get_blob(self, call: Call) -> tuple[int, Any]:
        repo = self._git_repo(call)
        sha = call.params["sha"]
        if repo.bare.object_type(sha) != "blob":
            raise ApiError(404, "Not Found", doc="/git/blobs#get-a-blob")
        content = repo.bare.read_blob(sha)
        return 200, {
            "sha": sha,
            "node_id": f"B_{sha}",
            "size": len(content),
            "url": f"{self.api_url}/repos/{repo.full_name}/git/blobs/{sha}",
            "content": _b64_lines(content),
            "encoding": "base64",
        }

    def _create_tree(self, call: Call) -> tuple[int, Any]:
        repo = self._git_repo(call, write=True)
        body = self._body(call)
        doc = "/git/trees#create-a-tree"
        base = body.get("base_tree")
        if base is not None and (not isinstance(base, str) or repo.bare.object_type(base) != "tree"):
            raise ApiError(
                422, "Invalid tree info", doc=doc, errors=[{"field": "base_tree", "code": "invalid"}]
            )
        entries = body.get("tree")
        if not isinstance(entries, list):
            raise ApiError(422, "Invalid tree info", doc=doc)
        changes: list[tuple[str, str, str | None]] = []
        for entry in entries:
            path, mode, kind = entry.get("path"), entry.get("mode"), entry.get("type")
            if not isinstance(path, str) or not path or path.startswith("/") or ".." in path.split("/"):
                raise ApiError(422, f"tree.path {path!r} is invalid", doc=doc)
            if _MODES.get(str(mode)) != kind:
                raise ApiError(422, f"tree entry {path}: only blob entries are supported here", doc=doc)
            if "content" in entry:
                changes.append((path, str(mode), repo.bare.write_blob(str(entry["content"]).encode())))
            elif entry.get("sha") is None:
                changes.append((path, str(mode), None))
            elif repo.bare.object_type(str(entry["sha"])) == "blob":
                changes.append((path, str(mode), str(entry["sha"])))
            else:
                raise ApiError(422, f"tree.sha {entry['sha']} is not a valid blob", doc=doc)
        tree = repo.bare.write_tree(base, changes)
        return 201, self._tree_json(repo, tree, recursive=False)

    def _get_tree(self, call: Call) -> tuple[int, Any]:
        repo = self._git_repo(call)
        tree = repo.bare.resolve(call.params["sha"], "tree")
        if tree is None:
            raise ApiError(404, "Not Found", doc="/git/trees#get-a-tree")
        return 200, self._tree_json(repo, tree, recursive=call.query.get("recursive") not in (None, "", "0"))

    # ------------------------------------------------------------------ git data: commits and refs

    def _create_commit(self, call: Call) -> tuple[int, Any]:
        repo = self._git_repo(call, write=True)
        assert call.user is not None
        body = self._body(call)
        doc = "/git/commits#create-a-commit"
        message, tree, parents = body.get("message"), body.get("tree"), body.get("parents", [])
        if not isinstance(message, str):
            raise ApiError(422, 'Invalid request.\n\n"message" wasn\'t supplied.', doc=doc)
        if not isinstance(tree, str) or repo.bare.object_type(tree) != "tree":
            raise ApiError(422, "Tree SHA does not exist", doc=doc)
        if not isinstance(parents, list) or any(repo.bare.object_type(str(p)) != "commit" for p in parents):
            raise ApiError(422, "Parent SHA does not exist or is not a commit object", doc=doc)
        now = datetime.now(UTC)
        default = {"name": call.user.name or call.user.login, "email": call.user.email}
        author = _identity(body.get("author") or default, now)
        committer = _identity(body.get("committer") or body.get("author") or default, now)
        sha = repo.bare.commit_tree(tree, [str(p) for p in parents], message, author, committer)
        return 201, self._commit_json(repo, sha)

    def _get_commit(self, call: Call) -> tuple[int, Any]:
        repo = self._git_repo(call)
        sha = call.params["sha"]
        if repo.bare.object_type(sha) != "commit":
            raise ApiError(404, "Not Found", doc="/git/commits#get-a-commit-object")
        return 200, self._commit_json(repo, sha)

    def _get_ref(self, call: Call) -> tuple[int, Any]:
        repo = self._git_repo(call)
        ref = "refs/" + call.params["ref"].strip("/")
        sha = repo.bare.ref(ref) if ref.count("/") >= 2 else None
        if sha is None:
            raise ApiError(404, "Not Found", doc="/git/refs#get-a-reference")
        return 200, self._ref_json(repo, ref, sha)

    def _create_ref(self, call: Call) -> tuple[int, Any]:
        repo = self._git_repo(call, write=True)
        body = self._body(call)
        doc = "/git/refs#create-a-reference"
        ref, sha = body.get("ref"), body.get("sha")
        if not isinstance(ref, str) or not ref.startswith("refs/") or ref.count("/") < 2:
            raise ApiError(422, "Reference name is invalid", doc=doc)
        if not repo.bare.check_ref_format(ref):
            raise ApiError(422, f"{ref} is not a valid ref name.", doc=doc)
        if not isinstance(sha, str) or repo.bare.object_type(sha) is None:
            raise ApiError(422, "Object does not exist", doc=doc)
        if not repo.bare.update_ref(ref, sha, ""):
            raise ApiError(422, "Reference already exists", doc=doc)
        return 201, self._ref_json(repo, ref, sha)

    def _update_ref(self, call: Call) -> tuple[int, Any]:
        repo = self._git_repo(call, write=True)
        body = self._body(call)
        doc = "/git/refs#update-a-reference"
        ref = "refs/" + call.params["ref"].strip("/")
        sha, force = body.get("sha"), bool(body.get("force", False))
        current = repo.bare.ref(ref)
        if current is None:
            raise ApiError(422, "Reference does not exist", doc=doc)
        if not isinstance(sha, str) or repo.bare.object_type(sha) is None:
            raise ApiError(422, "Object does not exist", doc=doc)
        if not force and not repo.bare.is_ancestor(current, sha):
            raise ApiError(422, "Update is not a fast forward", doc=doc)
        if not repo.bare.update_ref(ref, sha, current):
            raise ApiError(422, "Reference cannot be updated", doc=doc)
        return 200, self._ref_json(repo, ref, sha)


def _tree_entry_json(api: str, entry: TreeEntry) -> Json:
    data: Json = {"path": entry.path, "mode": entry.mode, "type": entry.type, "sha": entry.sha}
    if entry.type == "blob":
        data["size"] = entry.size
    data["url"] = f"{api}/git/{entry.type}s/{entry.sha}"
    return data


def _identity(data: Json, now: datetime) -> GitIdentity:
    date = data.get("date")
    when = datetime.fromisoformat(str(date).replace("Z", "+00:00")) if date else now
    return GitIdentity(str(data.get("name", "")), str(data.get("email", "")), when)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64_lines(content: bytes) -> str:
    """Base64 in lines of 60 characters, each ending in a newline, as GitHub sends it."""
    encoded = base64.b64encode(content).decode("ascii")
    return "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60))
