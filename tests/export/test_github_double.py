"""The GitHub double answers the way GitHub does: shapes, statuses, headers, and git's own shas."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.export.conftest import run_git
from tests.github_double import GitHubDouble


@pytest.fixture
def http(github_double: GitHubDouble) -> httpx.Client:
    return httpx.Client(
        base_url=github_double.api_url, headers={"Authorization": "token ghp_octo"}, timeout=10
    )


def test_errors_are_shaped_like_githubs(http: httpx.Client, github_double: GitHubDouble) -> None:
    missing = http.get("/repos/octo/nothing")
    assert missing.status_code == 404
    assert missing.json() == {
        "message": "Not Found",
        "documentation_url": "https://docs.github.com/rest/repos/repos#get-a-repository",
        "status": "404",
    }
    assert missing.headers["x-ratelimit-limit"] == "5000"
    assert int(missing.headers["x-ratelimit-remaining"]) < 5000
    bad = http.get("/user", headers={"Authorization": "token nope"})
    assert (bad.status_code, bad.json()["message"]) == (401, "Bad credentials")
    github_double.create_repo("octo/empty")
    empty = http.post("/repos/octo/empty/git/blobs", json={"content": "x", "encoding": "utf-8"})
    assert (empty.status_code, empty.json()["message"]) == (409, "Git Repository is empty.")
    taken = http.post("/user/repos", json={"name": "empty"})
    assert taken.status_code == 422
    assert taken.json()["errors"] == [
        {
            "resource": "Repository",
            "code": "custom",
            "field": "name",
            "message": "name already exists on this account",
        }
    ]
    github_double.exhaust_rate_limit(reset_in_seconds=60)
    limited = http.get("/user")
    assert limited.status_code == 403
    assert limited.json()["message"].startswith("API rate limit exceeded for user ID")
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert int(limited.headers["x-ratelimit-reset"]) == github_double.reset_at


def test_git_data_is_gits_own(http: httpx.Client, github_double: GitHubDouble) -> None:
    repo = github_double.create_repo("octo/data", auto_init=True)
    content = b"schema_version: 1\n"
    blob = http.post(
        "/repos/octo/data/git/blobs",
        json={"content": base64.b64encode(content).decode(), "encoding": "base64"},
    ).json()
    assert blob["sha"] == run_git("hash-object", "--stdin", input_bytes=content)
    head = http.get("/repos/octo/data/git/ref/heads/main").json()["object"]["sha"]
    base_tree = http.get(f"/repos/octo/data/git/commits/{head}").json()["tree"]["sha"]
    tree = http.post(
        "/repos/octo/data/git/trees",
        json={
            "base_tree": base_tree,
            "tree": [{"path": "a/b.yaml", "mode": "100644", "type": "blob", "sha": blob["sha"]}],
        },
    ).json()
    assert repo.bare.out("ls-tree", "-r", "--name-only", tree["sha"]).splitlines() == [
        "README.md",
        "a/b.yaml",
    ]
    assert [e["path"] for e in tree["tree"]] == ["README.md", "a"]
    commit = http.post(
        "/repos/octo/data/git/commits", json={"message": "m", "tree": tree["sha"], "parents": [head]}
    ).json()
    assert commit["author"]["name"] == "Octo"
    assert repo.bare.out("rev-parse", f"{commit['sha']}^{{tree}}") == tree["sha"]
    not_ff = http.patch("/repos/octo/data/git/refs/heads/main", json={"sha": head})
    assert not_ff.status_code == 200  # moving to itself is a fast forward
    moved = http.patch("/repos/octo/data/git/refs/heads/main", json={"sha": commit["sha"]})
    assert moved.json()["object"]["sha"] == commit["sha"]
    back = http.patch("/repos/octo/data/git/refs/heads/main", json={"sha": head})
    assert (back.status_code, back.json()["message"]) == (422, "Update is not a fast forward")
    listing = http.get("/repos/octo/data/contents/a", params={"ref": "main"}).json()
    assert [(e["type"], e["path"], e["sha"]) for e in listing] == [("file", "a/b.yaml", blob["sha"])]
    file = http.get("/repos/octo/data/contents/a/b.yaml").json()
    assert base64.b64decode(file["content"]) == content
