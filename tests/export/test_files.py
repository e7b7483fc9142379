"""The files an export writes: byte-stable, secrets by name only, a README people can read."""

from __future__ import annotations

import pytest

from agents_store.documents import dump_definition, parse_definition
from agents_store.errors import ConfigError, ExportRejected
from export.files import agent_files, check_no_secret_values, clean_base_path, render_readme, secret_names
from export.plan import git_blob_sha
from tests.export.conftest import run_git
from tests.factories import agent_doc


def _portal() -> dict[str, object]:
    doc = agent_doc("Pay | the bills", chunks=2, params={"base_url": "http://127.0.0.1:8080", "retries": 3})
    doc["settings"] = {"retries": 0, "headless": False}
    doc["chunks"][0].update(start_time="00:05", end_time="00:21")
    doc["chunks"][0]["actions"] = [
        {"type": "goto", "url": "{{ params.base_url }}/login"},
        {"type": "fill", "selector": "#user", "value": "{{ secrets.PORTAL_USER }}"},
        {"type": "fill", "selector": "#password", "value": "{{secrets.PORTAL_PASSWORD}}"},
        {"type": "click", "selector": "#login"},
    ]
    doc["chunks"][1]["status"] = "Needs Review"
    doc["chunks"][1]["actions"] = [
        {"type": "http", "url": "https://hooks.test", "headers": {"X-Key": "{{ secrets.HOOK_KEY }}"}}
    ]
    return doc


def test_the_files_are_the_yaml_and_a_readme_in_the_agents_folder() -> None:
    definition = parse_definition(_portal())
    files = agent_files(definition, "team/agents")
    assert files.folder == "team/agents/pay-the-bills"
    assert list(files.files) == [
        "team/agents/pay-the-bills/agent.yaml",
        "team/agents/pay-the-bills/README.md",
    ]
    assert files.files["team/agents/pay-the-bills/agent.yaml"] == dump_definition(definition).encode()
    assert agent_files(parse_definition(_portal()), "team/agents") == files  # same agent, same bytes
    assert agent_files(definition, "").folder == "pay-the-bills"


def test_secrets_travel_as_templates_and_the_readme_names_them() -> None:
    definition = parse_definition(_portal())
    yaml_text = agent_files(definition, "agents").files["agents/pay-the-bills/agent.yaml"].decode()
    assert "value: '{{ secrets.PORTAL_USER }}'" in yaml_text
    assert "X-Key: '{{ secrets.HOOK_KEY }}'" in yaml_text
    assert secret_names(definition) == ["HOOK_KEY", "PORTAL_PASSWORD", "PORTAL_USER"]
    readme = render_readme(definition)
    assert "## Secrets" in readme
    assert (
        "- `HOOK_KEY`: `AGENTCTL_SECRET_HOOK_KEY` or the block `hook-key`\n"
        "- `PORTAL_PASSWORD`: `AGENTCTL_SECRET_PORTAL_PASSWORD` or the block `portal-password`\n"
        "- `PORTAL_USER`: `AGENTCTL_SECRET_PORTAL_USER` or the block `portal-user`\n"
    ) in readme
    assert "the environment variable, or as the Prefect Secret block, named beside it" in readme


def test_the_readme_says_what_the_agent_does() -> None:
    readme = render_readme(parse_definition(_portal()))
    assert readme.startswith("# Pay | the bills\n\nPay | the bills: does things\n")
    assert "[this Loom video](https://www.loom.com/share/4f3c2a1b0d9e8f7a6b5c4d3e2f1a0b9c)" in readme
    assert "| `base_url` | http://127.0.0.1:8080 |" in readme
    assert "| `headless` | false | true |" in readme
    assert "| 1 | Step 1 | 00:05–00:21 | goto, fill ×2, click |" in readme
    assert "| 2 | Step 2 (needs review) |  | http |" in readme
    assert "agentctl github import OWNER/REPO/<folder>/pay-the-bills" in readme
    plain = render_readme(parse_definition(agent_doc("Plain", chunks=1)))
    assert "## Params" not in plain
    assert "## Secrets" not in plain
    assert "## Settings" not in plain


def test_a_secret_value_in_the_files_is_refused_without_showing_it() -> None:
    files = {"a/agent.yaml": b"value: s3cr3t-value\n", "a/README.md": b"# a\n"}
    with pytest.raises(ExportRejected) as refused:
        check_no_secret_values(files, {"AGENTCTL_SECRET_X": "s3cr3t-value"})
    assert str(refused.value).startswith(
        "refusing to export: a/agent.yaml contains the value of AGENTCTL_SECRET_X"
    )
    assert "s3cr3t" not in str(refused.value)
    check_no_secret_values(files, {"AGENTCTL_SECRET_SHORT": "a", "AGENTCTL_SECRET_Y": "elsewhere"})


@pytest.mark.parametrize(
    ("given", "clean"),
    [("agents", "agents"), ("/agents/", "agents"), ("a//b/./c", "a/b/c"), ("", ""), ("/", "")],
)
def test_base_paths_are_cleaned(given: str, clean: str) -> None:
    assert clean_base_path(given) == clean


def test_a_base_path_may_not_climb_out() -> None:
    with pytest.raises(ConfigError, match=r"may not contain \.\."):
        clean_base_path("agents/../../etc")


def test_blob_shas_are_gits() -> None:
    content = "agent: ü\n".encode()
    assert git_blob_sha(content) == run_git("hash-object", "--stdin", input_bytes=content)
