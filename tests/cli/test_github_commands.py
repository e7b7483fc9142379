"""``agentctl github export|import`` through the real entry point, PyGithub and the GitHub double."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.cli.conftest import CliResult, CliRunner
from tests.export.conftest import changed_files, git_log
from tests.factories import agent_doc
from tests.github_double import GitHubDouble
from tests.helpers import agentctl as run_agentctl
from tests.helpers import process_env


@pytest.fixture
def gh(github_double: GitHubDouble, monkeypatch: pytest.MonkeyPatch) -> GitHubDouble:
    """The double as the CLI's GitHub: its URL in GITHUB_API_URL, octo's token, no throttling."""
    monkeypatch.setenv("GITHUB_API_URL", github_double.api_url)
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_octo")
    monkeypatch.setenv("AGENTCTL_GITHUB_THROTTLE", "false")
    return github_double


def _agent(agentctl: CliRunner, tmp_path: Path, name: str = "Pay invoices", chunks: int = 2) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(agent_doc(name, chunks=chunks), sort_keys=False), encoding="utf-8")
    result = agentctl("import", str(path))
    assert result.code == 0, result.err
    return result.out.strip()


def _one_error_line(result: CliResult) -> str:
    assert result.code == 1, result.out
    assert result.err.startswith("agentctl: error: ")
    assert result.err.count("\n") == 1, result.err
    assert "Traceback" not in result.err
    assert "ghp_" not in result.err + result.out
    return result.err.removeprefix("agentctl: error: ").strip()


def test_export_prints_the_commit_url_then_no_change(
    agentctl: CliRunner, tmp_path: Path, gh: GitHubDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = gh.create_repo("octo/agents", auto_init=True)
    monkeypatch.delenv("GITHUB_API_URL")
    agent_id = _agent(agentctl, tmp_path)
    args = ("github", "export", agent_id[:8], "--repo", "octo/agents", "--base-url", gh.api_url)

    first = agentctl(*args)

    assert first.code == 0, first.err
    head = git_log(repo.bare)[0]
    assert first.out == f"{gh.base_url}/octo/agents/commit/{head}\n"
    assert "exported version 2 to" in first.err
    assert "tagged agent/pay-invoices/v2" in first.err
    assert changed_files(repo.bare, head) == [
        "A\tagents/pay-invoices/README.md",
        "A\tagents/pay-invoices/agent.yaml",
    ]
    history = agentctl("versions", agent_id, "--json")
    assert '"summary": "github_repo_url changed"' in history.out

    second = agentctl(*args)

    assert second.code == 0, second.err
    assert second.out.startswith("no change: ")
    assert f"already holds version 2 (commit {head[:12]}, tag agent/pay-invoices/v2)" in second.out
    assert "tagged" not in second.err  # nothing was tagged this time
    assert git_log(repo.bare)[0] == head


def test_import_prints_the_new_ids_and_round_trips(
    agentctl: CliRunner, tmp_path: Path, gh: GitHubDouble
) -> None:
    gh.create_repo("octo/agents", auto_init=True)
    first = _agent(agentctl, tmp_path, "First")
    second = _agent(agentctl, tmp_path, "Second")
    for agent_id in (first, second):
        assert agentctl("github", "export", agent_id, "--repo", "octo/agents", "--path", "team").code == 0

    imported = agentctl("github", "import", "octo/agents/team@main")

    assert imported.code == 0, imported.err
    new_ids = imported.out.split()
    assert len(new_ids) == 2
    assert "imported team/first/agent.yaml as" in imported.err
    for old, new in zip((first, second), new_ids, strict=True):
        assert agentctl("export", new).out == agentctl("export", old).out
    replaced = agentctl("github", "import", "octo/agents/team/second", "--replace", first)
    assert replaced.out.strip() == first
    assert agentctl("export", first).out == agentctl("export", second).out
    refused = agentctl("github", "import", "octo/agents/team", "--replace", first)
    assert _one_error_line(refused) == "--replace takes one agent, and octo/agents/team holds 2"


def _empty_repo(gh: GitHubDouble) -> list[str]:
    gh.create_repo("octo/agents")
    return []


def _bad_token(gh: GitHubDouble) -> list[str]:
    gh.create_repo("octo/agents", auto_init=True)
    return ["GITHUB_TOKEN=ghp_wrong"]


def _no_token(gh: GitHubDouble) -> list[str]:
    return ["GITHUB_TOKEN="]


def _rate_limit(gh: GitHubDouble) -> list[str]:
    gh.create_repo("octo/agents", auto_init=True)
    gh.exhaust_rate_limit(reset_in_seconds=3600)
    return []


def _someone_elses(gh: GitHubDouble) -> list[str]:
    gh.add_user("hubot", token="ghp_hubot")
    gh.create_repo("hubot/agents", private=False, auto_init=True)
    return ["--repo=hubot/agents"]


def _bad_branch(gh: GitHubDouble) -> list[str]:
    gh.create_repo("octo/agents", auto_init=True)
    return ["--branch=bad..name"]


def _missing(gh: GitHubDouble) -> list[str]:
    return ["--repo=octo/nothing-here"]


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (
            _bad_token,
            r"GitHub refused the token \(401 Bad credentials\): check GITHUB_TOKEN or the --token-block",
        ),
        (_no_token, r"no GitHub token: set GITHUB_TOKEN, or give --token-block NAME \(a Prefect Secret\)"),
        (
            _missing,
            r"repository octo/nothing-here was not found on GitHub \(404\), or the token cannot see it",
        ),
        (
            _empty_repo,
            r"branch main of octo/agents is empty \(409 Git Repository is empty\.\): .*--create-repo",
        ),
        (
            _bad_branch,
            r"GitHub refused the request on branch bad\.\.name of octo/agents \(422 refs/heads/bad",
        ),
        (
            _someone_elses,
            r"GitHub refused access to branch main of hubot/agents \(403 Resource not accessible",
        ),
        (
            _rate_limit,
            r"GitHub's API rate limit is used up \(5000 requests an hour\): it resets at "
            r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ, in about 60 min; try again then",
        ),
    ],
    ids=["401", "no token", "404", "409 empty", "422", "403 rights", "403 rate limit"],
)
def test_each_github_error_is_one_clear_line(
    agentctl: CliRunner,
    tmp_path: Path,
    gh: GitHubDouble,
    monkeypatch: pytest.MonkeyPatch,
    setup: Callable[[GitHubDouble], list[str]],
    expected: str,
) -> None:
    agent_id = _agent(agentctl, tmp_path)
    args = ["--repo=octo/agents"]
    for item in setup(gh):
        if item.startswith("GITHUB_TOKEN="):
            monkeypatch.setenv("GITHUB_TOKEN", item.partition("=")[2])
        elif item.startswith("--repo="):
            args[0] = item
        else:
            args.append(item)

    result = agentctl("github", "export", agent_id, *args)

    assert re.fullmatch(expected + ".*", _one_error_line(result)), result.err
    for repo in gh.repos.values():  # nothing was committed anywhere: at most GitHub's initial commit
        assert len(git_log(repo.bare, "--all")) <= 1


@pytest.mark.parametrize("setup", [_someone_elses, _rate_limit], ids=["403 rights", "403 rate limit"])
def test_a_github_error_is_one_line_in_a_process_of_its_own(
    tmp_path: Path, gh: GitHubDouble, setup: Callable[[GitHubDouble], list[str]]
) -> None:
    """PyGithub gives its "github" logger a console handler of its own at INFO when imported: a
    real ``agentctl`` printed its retry lines ("Request POST … failed with 403: Forbidden") above
    agentctl's one-line error. (In this test process that handler writes to the stderr pytest had
    when PyGithub was first imported, so the in-process runner above cannot see those lines.)"""
    env = {**process_env(tmp_path, "unused"), "GITHUB_API_URL": gh.api_url, "GITHUB_TOKEN": "ghp_octo"}
    env["AGENTCTL_GITHUB_THROTTLE"] = "false"
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(agent_doc("Pay invoices", chunks=2), sort_keys=False), encoding="utf-8")
    agent_id = run_agentctl(env, "import", str(path)).stdout.strip()
    args = ["--repo=octo/agents", *[a for a in setup(gh) if a.startswith("--")]][-1:]

    result = run_agentctl(env, "github", "export", agent_id, *args)

    assert result.returncode == 1
    assert result.stderr.startswith("agentctl: error: GitHub"), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr


def test_the_token_can_come_from_a_prefect_secret_block(
    agentctl: CliRunner,
    tmp_path: Path,
    gh: GitHubDouble,
    monkeypatch: pytest.MonkeyPatch,
    prefect_harness: None,
) -> None:
    from prefect.blocks.system import Secret

    Secret(value="ghp_octo").save("agentctl-test-github-token", overwrite=True)
    monkeypatch.delenv("GITHUB_TOKEN")
    repo = gh.create_repo("octo/agents", auto_init=True)
    agent_id = _agent(agentctl, tmp_path)

    result = agentctl(
        "github", "export", agent_id, "--repo", "octo/agents", "--token-block", "agentctl-test-github-token"
    )

    assert result.code == 0, result.err
    assert result.out.strip().endswith(git_log(repo.bare)[0])
    missing = agentctl(
        "github", "export", agent_id, "--repo", "octo/agents", "--token-block", "no-such-block"
    )
    assert _one_error_line(missing) == "--token-block: there is no Prefect Secret block named 'no-such-block'"


def test_bad_repository_names_and_locations(agentctl: CliRunner, tmp_path: Path, gh: GitHubDouble) -> None:
    agent_id = _agent(agentctl, tmp_path)
    bad_repo = agentctl("github", "export", agent_id, "--repo", "just-a-name")
    assert "'just-a-name' is not a GitHub repository: expected OWNER/NAME" in _one_error_line(bad_repo)
    bad_location = agentctl("github", "import", "octo")
    assert "'octo' is not OWNER/NAME[/PATH][@REF]" in _one_error_line(bad_location)
    climbing = agentctl("github", "export", agent_id, "--repo", "octo/agents", "--path", "../up")
    assert _one_error_line(climbing) == "--path: '../up' may not contain .."
