"""``agentctl export AGENT --git PATH_OR_REMOTE``: plain git against real local bare repositories."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import pytest
import yaml

from agents_store.errors import ExportConflict, GitCommandFailed, RepositoryNotFound
from export.git import _failure, remote_url
from tests.cli.conftest import CliRunner
from tests.export.conftest import changed_files, git_log
from tests.factories import agent_doc
from tests.github_double import BareRepo


@pytest.fixture
def bare(tmp_path: Path) -> BareRepo:
    """An empty bare repository, as a fresh GitLab/Gitea project or ``git init --bare`` gives."""
    return BareRepo(tmp_path / "remote.git")


@pytest.fixture(autouse=True)
def _no_git_identity(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No global git config: the export must commit without one (as on a fresh CI machine)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home-without-gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("GIT_AUTHOR_EMAIL", raising=False)


def _agent(agentctl: CliRunner, tmp_path: Path, doc: dict[str, object]) -> str:
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    result = agentctl("import", str(path))
    assert result.code == 0, result.err
    return result.out.strip()


def test_git_export_commits_both_files_once_then_nothing(
    agentctl: CliRunner, tmp_path: Path, bare: BareRepo
) -> None:
    agent_id = _agent(agentctl, tmp_path, agent_doc("Ship orders", chunks=2))

    first = agentctl("export", agent_id, "--git", str(bare.path))

    assert first.code == 0, first.err
    [commit] = git_log(bare, "main")
    assert first.out.strip() == commit
    assert changed_files(bare, commit) == [
        "A\tagents/ship-orders/README.md",
        "A\tagents/ship-orders/agent.yaml",
    ]
    # The agent now names the repository it lives in (version 2), and the file holds that version.
    shown = yaml.safe_load(agentctl("show", agent_id, "--json").out)
    assert shown["version"] == 2
    assert shown["github_repo_url"] == bare.path.resolve().as_uri()
    assert (
        bare.out("show", f"{commit}:agents/ship-orders/agent.yaml") + "\n" == agentctl("export", agent_id).out
    )
    assert bare.ref("refs/tags/agent/ship-orders/v2") == commit
    # Without a git identity, the exporter commits at a placeholder address.
    assert bare.out("log", "-1", "--format=%an <%ae>") == f"{getpass.getuser()} <agentctl@localhost>"

    [version_2] = [v for v in json.loads(agentctl("versions", agent_id, "--json").out) if v["version"] == 2]
    assert [(e["target"], e["commit_sha"], e["tag"]) for e in version_2["exports"]] == [
        ("git", commit, "agent/ship-orders/v2")
    ]
    assert f"remote:main@{commit[:7]}" in agentctl("versions", agent_id).out

    second = agentctl("export", agent_id, "--git", str(bare.path))

    assert second.code == 0, second.err
    assert second.out.startswith("no change: ")
    assert second.out.rstrip().endswith(f"(commit {commit[:12]}, tag agent/ship-orders/v2)")
    assert "tagged" not in second.err
    assert git_log(bare, "main") == [commit]
    [version_2] = [v for v in json.loads(agentctl("versions", agent_id, "--json").out) if v["version"] == 2]
    assert len(version_2["exports"]) == 1  # the same commit, not recorded twice


def test_git_export_to_an_empty_local_repository_lands_on_its_own_head_branch(
    agentctl: CliRunner, tmp_path: Path
) -> None:
    """``git init --bare`` without ``--initial-branch`` points HEAD at an unborn ``master`` (git's
    default): the export goes there, so a clone checks the agent out (on ``main``, it had nothing)."""
    master = BareRepo(tmp_path / "plain.git", default_branch="master")
    agent_id = _agent(agentctl, tmp_path, agent_doc("Ship orders", chunks=1))

    result = agentctl("export", agent_id, "--git", str(master.path))

    assert result.code == 0, result.err
    assert git_log(master, "master") == [result.out.strip()]
    assert master.git("rev-parse", "--verify", "--quiet", "refs/heads/main", check=False).returncode != 0


def test_git_export_to_a_repository_with_a_work_tree_says_how_to_do_it(
    agentctl: CliRunner, tmp_path: Path
) -> None:
    """``git init`` (not bare): its HEAD is read from ``.git`` — it was looked for in the folder
    itself, not found, and the export went to a new ``main`` beside the unborn ``master``, which
    stayed empty. Git refuses a push to a checked-out branch: the error says what to do instead."""
    import subprocess

    work = tmp_path / "work"
    subprocess.run(["git", "init", "--quiet", "--initial-branch", "master", str(work)], check=True)
    agent_id = _agent(agentctl, tmp_path, agent_doc("Ship orders", chunks=1))

    def heads() -> list[str]:
        listed = subprocess.run(
            ["git", "-C", str(work), "for-each-ref", "--format=%(refname:short)", "refs/heads"],
            check=True,
            capture_output=True,
            text=True,
        )
        return listed.stdout.split()

    refused = agentctl("export", agent_id, "--git", str(work))

    assert refused.code == 1
    assert refused.err.count("\n") == 1
    assert "has branch master checked out in its work tree" in refused.err
    assert "git init --bare" in refused.err
    assert heads() == []
    aside = agentctl("export", agent_id, "--git", str(work), "--branch", "agents")
    assert aside.code == 0, aside.err
    assert heads() == ["agents"]


def test_git_export_to_a_new_branch_makes_it_even_without_a_change(
    agentctl: CliRunner, tmp_path: Path, bare: BareRepo
) -> None:
    """Exported to the default branch, then to a new one: "no change" was said and no branch made,
    while the export was recorded on it."""
    agent_id = _agent(agentctl, tmp_path, agent_doc("Branched", chunks=1))
    first = agentctl("export", agent_id, "--git", str(bare.path))
    assert first.code == 0, first.err
    default = bare.out("symbolic-ref", "--short", "HEAD")

    review = agentctl("export", agent_id, "--git", str(bare.path), "--branch", "review")

    assert review.code == 0, review.err
    assert "no change" not in review.out + review.err
    assert git_log(bare, "review") == git_log(bare, default)
    again = agentctl("export", agent_id, "--git", str(bare.path), "--branch", "refs/heads/review")
    assert "no change" in again.out + again.err  # the same branch, named as git names it
    assert (
        bare.git("rev-parse", "--verify", "--quiet", "refs/heads/refs/heads/review", check=False).returncode
        != 0
    )


def test_git_export_builds_on_the_branch_and_moves_a_renamed_agent(
    agentctl: CliRunner, tmp_path: Path, bare: BareRepo
) -> None:
    bare.commit_on("trunk", {"README.md": b"# our agents\n"}, "initial")
    bare.git("symbolic-ref", "HEAD", "refs/heads/trunk")
    doc = agent_doc("Old name", chunks=1)
    agent_id = _agent(agentctl, tmp_path, doc)
    assert agentctl("export", agent_id, "--git", str(bare.path), "-m", "Add the agent").code == 0
    assert agentctl("edit", agent_id, "--name", "New name").code == 0

    moved = agentctl("export", agent_id, "--git", f"file://{bare.path}")

    assert moved.code == 0, moved.err
    log = git_log(bare, "trunk")
    assert len(log) == 3
    assert bare.out("log", "-1", "--format=%s", log[1]) == "Add the agent"
    assert bare.out("log", "-1", "--format=%B", log[0]).startswith('Export agent "New name" version 3')
    assert sorted(changed_files(bare, log[0])) == [
        "A\tagents/new-name/README.md",
        "A\tagents/new-name/agent.yaml",
        "D\tagents/old-name/README.md",
        "D\tagents/old-name/agent.yaml",
    ]
    assert bare.out("show", "trunk:README.md") == "# our agents"


def test_git_export_to_another_branch_and_folder(agentctl: CliRunner, tmp_path: Path, bare: BareRepo) -> None:
    bare.commit_on("main", {"README.md": b"x\n"}, "initial")
    agent_id = _agent(agentctl, tmp_path, agent_doc("Side", chunks=1))

    result = agentctl("export", agent_id, "--git", str(bare.path), "--branch", "agents", "--path", "bots/")

    assert result.code == 0, result.err
    assert len(git_log(bare, "main")) == 1
    assert git_log(bare, "agents")[1:] == git_log(bare, "main")
    assert bare.out("ls-tree", "-r", "--name-only", "agents").splitlines() == [
        "README.md",
        "bots/side/README.md",
        "bots/side/agent.yaml",
    ]


def test_two_agents_with_one_name_do_not_share_a_folder(
    agentctl: CliRunner, tmp_path: Path, bare: BareRepo
) -> None:
    """The second export replaced the first agent's files without a word (same name, same folder)."""
    first = _agent(agentctl, tmp_path, agent_doc("Twin", chunks=1))
    second = _agent(agentctl, tmp_path, agent_doc("Twin", chunks=2))
    assert agentctl("export", first, "--git", str(bare.path)).code == 0
    exported = bare.out("show", "HEAD:agents/twin/agent.yaml")

    refused = agentctl("export", second, "--git", str(bare.path))

    assert refused.code == 1
    assert f'agents/twin/ in {bare.path.as_uri()} holds another agent of this store, "Twin" ({first})' in (
        refused.err
    )
    assert bare.out("show", "HEAD:agents/twin/agent.yaml") == exported
    assert len(git_log(bare, "--all")) == 1
    moved = agentctl("export", second, "--git", str(bare.path), "--path", "twins")
    assert moved.code == 0, moved.err
    assert agentctl("export", first, "--git", str(bare.path)).code == 0  # its own folder: still fine


def test_two_names_with_one_slug_do_not_share_a_folder(
    agentctl: CliRunner, tmp_path: Path, bare: BareRepo
) -> None:
    """Names "Query param" and "query: param" both give agents/query-param/: the second export replaced
    the first agent's files, with only a warning about the tag, and ``versions`` of the first agent
    still said it was exported there."""
    first = _agent(agentctl, tmp_path, agent_doc("Query param", chunks=1))
    second = _agent(agentctl, tmp_path, agent_doc("query: param", chunks=1))
    assert agentctl("export", "Query param", "--git", str(bare.path)).code == 0
    exported = bare.out("show", "HEAD:agents/query-param/agent.yaml")
    log = git_log(bare, "--all")

    refused = agentctl("export", second, "--git", str(bare.path))

    assert refused.code == 1
    assert refused.err == (
        f"agentctl: error: agents/query-param/ in {bare.path.as_uri()} holds another agent of this store, "
        f'"Query param" ({first}), exported there: rename this one so that its folder differs '
        "(agentctl edit --name) or export it under another --path\n"
    )
    assert bare.out("show", "HEAD:agents/query-param/agent.yaml") == exported
    assert git_log(bare, "--all") == log
    assert agentctl("edit", second, "--name", "query: param 2").code == 0
    assert agentctl("export", second, "--git", str(bare.path)).code == 0
    assert bare.out("show", "HEAD:agents/query-param/agent.yaml") == exported
    assert "name: 'query: param 2'" in bare.out("show", "HEAD:agents/query-param-2/agent.yaml")
    assert agentctl("export", first, "--git", str(bare.path)).code == 0  # its own folder: still fine


def test_a_renamed_agents_old_folder_is_not_taken_by_its_new_namesake(
    agentctl: CliRunner, tmp_path: Path, bare: BareRepo
) -> None:
    """The other agent's current name no longer gives the folder it was exported to; it is still there."""
    first = _agent(agentctl, tmp_path, agent_doc("Nightly", chunks=1))
    assert agentctl("export", first, "--git", str(bare.path)).code == 0
    assert agentctl("edit", first, "--name", "Nightly report").code == 0
    second = _agent(agentctl, tmp_path, agent_doc("Nightly", chunks=2))

    refused = agentctl("export", second, "--git", str(bare.path))

    assert refused.code == 1
    assert f'holds another agent of this store, "Nightly report" ({first})' in refused.err
    assert len(git_log(bare, "--all")) == 1


def test_an_edit_made_in_the_repository_is_not_undone_by_the_next_export(
    agentctl: CliRunner, tmp_path: Path, bare: BareRepo
) -> None:
    """A reviewer fixed a selector in agent.yaml on the branch; the next export (after a local
    description edit) replaced the file with the agent's copy, and the fix was gone."""
    agent_id = _agent(agentctl, tmp_path, agent_doc("Reviewed", chunks=1))
    assert agentctl("export", agent_id, "--git", str(bare.path)).code == 0
    branch = bare.out("symbolic-ref", "--short", "HEAD")
    theirs = bare.out("show", f"{branch}:agents/reviewed/agent.yaml").replace("#", "#fixed-")
    bare.commit_on(branch, {"agents/reviewed/agent.yaml": theirs.encode()}, "fix a selector")
    assert agentctl("edit", agent_id, "--description", "edited here").code == 0
    log = git_log(bare, branch)

    refused = agentctl("export", agent_id, "--git", str(bare.path))

    assert refused.code == 1
    assert "agents/reviewed/agent.yaml was changed in the repository since agentctl exported version 2" in (
        refused.err
    )
    assert git_log(bare, branch) == log
    assert bare.out("show", f"{branch}:agents/reviewed/agent.yaml") == theirs


def test_git_export_errors_are_one_line(agentctl: CliRunner, tmp_path: Path, bare: BareRepo) -> None:
    agent_id = _agent(agentctl, tmp_path, agent_doc("Errors", chunks=1))
    missing = agentctl("export", agent_id, "--git", str(tmp_path / "no-such-repo"))
    assert missing.code == 1
    assert missing.err.startswith(f"agentctl: error: {(tmp_path / 'no-such-repo').as_uri()} is not a git")
    assert missing.err.count("\n") == 1
    both = agentctl("export", agent_id, "--git", str(bare.path), "-o", str(tmp_path / "x.yaml"))
    assert (
        both.err
        == "agentctl: error: --git writes agent.yaml and README.md: it takes no --output or --format\n"
    )
    stray = agentctl("export", agent_id, "--branch", "main")
    assert stray.err == "agentctl: error: --branch and --message go with --git\n"
    assert git_log(bare, "--all") == []


def test_git_failures_map_to_their_errors() -> None:
    assert isinstance(
        _failure("push", "r", " ! [rejected]        main -> main (fetch first)\nerror: failed to push"),
        ExportConflict,
    )
    assert isinstance(
        _failure("ls-remote", "r", "fatal: 'x' does not appear to be a git repository"), RepositoryNotFound
    )
    other = _failure("push", "r", "remote: hook declined\nerror: failed to push some refs")
    assert isinstance(other, GitCommandFailed)
    assert str(other) == "git push failed for r: remote: hook declined error: failed to push some refs"
    assert remote_url("git@gitlab.com:acme/agents.git") == "git@gitlab.com:acme/agents.git"
    assert remote_url("https://gitea.example/acme/agents.git") == "https://gitea.example/acme/agents.git"
