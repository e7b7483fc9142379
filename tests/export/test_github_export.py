"""GitHub export and import through the real PyGithub client, against the double's real bare repositories."""

from __future__ import annotations

from typing import Any

import pytest
from github import Github

from agents_store.documents import definition_to_dict, dump_definition, parse_definition
from agents_store.errors import ExportConflict, ExportRejected, InvalidAgent, RepositoryNotFound
from agents_store.store import AgentStore
from export.github import export_to_github, fetch_agents, parse_location
from tests.export.conftest import changed_files, git_log
from tests.factories import agent_doc, definition
from tests.github_double import GitHubDouble


def _edit(store: AgentStore, agent_id: Any, change: Any) -> None:
    agent = store.get(agent_id)
    doc = definition_to_dict(agent.definition())
    change(doc)
    store.save(agent.with_definition(parse_definition(doc)), author="ann")


def test_export_is_one_commit_with_both_files_then_no_commit_without_change(
    store: AgentStore, client: Github, github_double: GitHubDouble
) -> None:
    repo = github_double.create_repo("octo/agents", auto_init=True)
    agent = store.create(definition("Send invoices", chunks=2), author="ann")
    before = git_log(repo.bare)

    first = export_to_github(store, client, agent.id, "octo/agents", author="bob")

    log = git_log(repo.bare)
    assert log[1:] == before  # exactly one new commit, on top of the branch
    assert log[0] == first.record.commit_sha
    assert first.changed
    assert changed_files(repo.bare, log[0]) == [
        "A\tagents/send-invoices/README.md",
        "A\tagents/send-invoices/agent.yaml",
    ]
    # One commit through the Git Data API: two blobs, one tree, one commit, one ref update, one tag.
    assert [w for w in github_double.writes() if "/git/" in w[1]] == [
        ("POST", "/repos/octo/agents/git/blobs"),
        ("POST", "/repos/octo/agents/git/blobs"),
        ("POST", "/repos/octo/agents/git/trees"),
        ("POST", "/repos/octo/agents/git/commits"),
        ("PATCH", "/repos/octo/agents/git/refs/heads/main"),
        ("POST", "/repos/octo/agents/git/refs"),
    ]
    # The first export recorded the repository on the agent (a new version, by the exporter), and the
    # committed YAML is that version's byte-stable export.
    saved = store.get(agent.id)
    assert saved.version == 2
    assert saved.github_repo_url == f"{github_double.base_url}/octo/agents"
    assert store.list_versions(agent.id)[-1].author == "bob"
    committed = repo.bare.out("show", f"{log[0]}:agents/send-invoices/agent.yaml") + "\n"
    assert committed == dump_definition(saved.definition())
    message = repo.bare.out("log", "-1", "--format=%B", log[0])
    assert message.startswith('Export agent "Send invoices" version 2')
    assert "Agent-Version: 2" in message
    # Tagged with the version it came from; the export is recorded.
    assert repo.bare.ref("refs/tags/agent/send-invoices/v2") == log[0]
    assert first.record.tag == "agent/send-invoices/v2"
    assert first.commit_url == f"{github_double.base_url}/octo/agents/commit/{log[0]}"
    [recorded] = store.list_exports(agent.id)
    assert (recorded.target, recorded.branch, recorded.path, recorded.agent_version) == (
        "github",
        "main",
        "agents/send-invoices",
        2,
    )

    second = export_to_github(store, client, agent.id, "octo/agents", author="bob")

    assert not second.changed
    assert git_log(repo.bare) == log
    assert second.record.commit_sha == log[0]
    assert store.get(agent.id).version == 2
    assert not any(
        path.endswith(("/git/commits", "/refs/heads/main")) for _, path in github_double.writes()[6:]
    )
    assert len(store.list_exports(agent.id)) == 1  # the same commit of the same version, recorded once


def test_a_change_is_one_more_commit_whose_message_says_what_changed(
    store: AgentStore, client: Github, github_double: GitHubDouble
) -> None:
    repo = github_double.create_repo("octo/agents", auto_init=True)
    agent = store.create(definition("Reports", chunks=2))
    first = export_to_github(store, client, agent.id, "octo/agents")
    _edit(store, agent.id, lambda doc: doc["chunks"].append({"name": "Mail it", "actions": []}))

    third = export_to_github(store, client, agent.id, "octo/agents")

    log = git_log(repo.bare)
    assert log[1] == first.record.commit_sha
    assert changed_files(repo.bare, log[0]) == ["M\tagents/reports/README.md", "M\tagents/reports/agent.yaml"]
    message = repo.bare.out("log", "-1", "--format=%B")
    assert 'Since version 2, the last export here: chunks added "Mail it".' in message
    assert third.record.agent_version == 3
    assert repo.bare.ref("refs/tags/agent/reports/v3") == log[0]
    assert repo.bare.ref("refs/tags/agent/reports/v2") == log[1]


def test_import_gives_back_the_same_agent_and_reexport_makes_no_commit(
    store: AgentStore, client: Github, github_double: GitHubDouble
) -> None:
    repo = github_double.create_repo("octo/agents", auto_init=True)
    doc = agent_doc("Round trip", chunks=3, params={"base_url": "http://127.0.0.1:8080", "n": 2})
    doc["chunks"][1]["actions"] = [
        {"type": "fill", "selector": "#password", "value": "{{ secrets.PORTAL_PASSWORD }}"},
        {"type": "http", "method": "POST", "url": "https://hooks.test/x", "json": {"b": [1, 2], "a": None}},
    ]
    agent = store.create(parse_definition(doc))
    export_to_github(store, client, agent.id, "octo/agents")
    exported = store.get(agent.id).definition()

    [fetched] = fetch_agents(client, parse_location("octo/agents/agents/round-trip"))

    assert fetched.path == "agents/round-trip/agent.yaml"
    assert fetched.definition == exported
    copy = store.create(fetched.definition)
    assert dump_definition(copy.definition()) == dump_definition(exported)
    log = git_log(repo.bare)
    again = export_to_github(store, client, copy.id, "octo/agents")
    assert not again.changed
    assert git_log(repo.bare) == log


def test_import_of_a_folder_a_file_and_a_tag(
    store: AgentStore, client: Github, github_double: GitHubDouble
) -> None:
    github_double.create_repo("octo/agents", auto_init=True)
    ids = [store.create(definition(name, chunks=1)).id for name in ("Alpha", "Beta")]
    for agent_id in ids:
        export_to_github(store, client, agent_id, "octo/agents", base_path="team/agents")
    _edit(store, ids[0], lambda doc: doc.update(description="changed since"))
    export_to_github(store, client, ids[0], "octo/agents", base_path="team/agents")

    everything = fetch_agents(client, parse_location("octo/agents"))
    assert [f.path for f in everything] == ["team/agents/alpha/agent.yaml", "team/agents/beta/agent.yaml"]
    [one] = fetch_agents(client, parse_location("octo/agents/team/agents/beta/agent.yaml"))
    assert one.definition.name == "Beta"
    [at_tag] = fetch_agents(client, parse_location("octo/agents/team/agents/alpha@agent/alpha/v2"))
    assert at_tag.definition.description == "Alpha: does things"
    [latest] = fetch_agents(client, parse_location("octo/agents/team/agents/alpha@main"))
    assert latest.definition.description == "changed since"


def test_import_errors_name_the_place(store: AgentStore, client: Github, github_double: GitHubDouble) -> None:
    repo = github_double.create_repo("octo/agents", auto_init=True)
    with pytest.raises(RepositoryNotFound, match=r"octo/agents/nowhere@main was not found"):
        fetch_agents(client, parse_location("octo/agents/nowhere"))
    with pytest.raises(RepositoryNotFound, match="no agent file at octo/agents"):
        fetch_agents(client, parse_location("octo/agents"))
    with pytest.raises(RepositoryNotFound, match="repository octo/missing was not found"):
        fetch_agents(client, parse_location("octo/missing"))
    bad = b"schema_version: 1\nname: Broken\nloom_url: https://vimeo.com/1\n"
    repo.bare.commit_on("main", {"broken/agent.yaml": bad}, "a broken agent")
    with pytest.raises(InvalidAgent, match=r"^broken/agent.yaml: loom_url: not a Loom video URL"):
        fetch_agents(client, parse_location("octo/agents/broken"))


def test_a_file_too_big_for_the_contents_api_is_read_through_its_blob(
    store: AgentStore, client: Github, github_double: GitHubDouble
) -> None:
    github_double.create_repo("octo/agents", auto_init=True)
    agent = store.create(definition("Big", chunks=40))
    export_to_github(store, client, agent.id, "octo/agents")
    github_double.contents_limit = 1000  # GitHub's is 1 MB; the behaviour past it is the same

    [fetched] = fetch_agents(client, parse_location("octo/agents/agents/big"))

    assert fetched.definition == store.get(agent.id).definition()
    assert any(path.startswith("/repos/octo/agents/git/blobs/") for _, path in github_double.requests)


def test_create_repo_for_the_user_and_for_an_org(
    store: AgentStore, client: Github, github_double: GitHubDouble
) -> None:
    agent = store.create(definition("Fresh", chunks=1))
    result = export_to_github(store, client, agent.id, "octo/new-agents", create_repo=True)
    repo = github_double.repos["octo/new-agents"]
    assert repo.private
    log = git_log(repo.bare)
    assert len(log) == 2  # GitHub's initial commit (auto_init), then the export
    assert log[0] == result.record.commit_sha
    assert ("POST", "/user/repos") in github_double.requests

    github_double.add_org("acme", members={"octo"})
    export_to_github(store, client, agent.id, "acme/agents", create_repo=True)
    assert ("POST", "/orgs/acme/repos") in github_double.requests
    assert len(git_log(github_double.bare("acme/agents"))) == 2
    # The agent's repository is now the last one it was exported to.
    assert store.get(agent.id).github_repo_url == f"{github_double.base_url}/acme/agents"


def test_export_to_a_new_branch_starts_from_the_default_branch(
    store: AgentStore, client: Github, github_double: GitHubDouble
) -> None:
    repo = github_double.create_repo("octo/agents", auto_init=True)
    main = repo.bare.resolve("main")
    agent = store.create(definition("Branchy", chunks=1))

    export_to_github(store, client, agent.id, "octo/agents", branch="agents/review")

    assert repo.bare.resolve("main") == main
    assert git_log(repo.bare, "agents/review")[1:] == [main]


def test_a_renamed_agent_moves_its_folder_in_the_same_commit(
    store: AgentStore, client: Github, github_double: GitHubDouble
) -> None:
    repo = github_double.create_repo("octo/agents", auto_init=True)
    agent = store.create(definition("Old name", chunks=1))
    export_to_github(store, client, agent.id, "octo/agents")
    _edit(store, agent.id, lambda doc: doc.update(name="New name"))

    export_to_github(store, client, agent.id, "octo/agents")

    assert sorted(changed_files(repo.bare, "main")) == [
        "A\tagents/new-name/README.md",
        "A\tagents/new-name/agent.yaml",
        "D\tagents/old-name/README.md",
        "D\tagents/old-name/agent.yaml",
    ]


def test_an_edit_made_on_github_is_not_undone_by_the_next_export(
    store: AgentStore, client: Github, github_double: GitHubDouble
) -> None:
    repo = github_double.create_repo("octo/agents", auto_init=True)
    agent = store.create(definition("Reviewed", chunks=1))
    first = export_to_github(store, client, agent.id, "octo/agents")
    repo.bare.commit_on("main", {"agents/reviewed/agent.yaml": b"name: Reviewed\n# fixed on GitHub\n"}, "fix")
    _edit(store, agent.id, lambda doc: doc.update(description="edited here"))
    head = repo.bare.resolve("refs/heads/main")

    with pytest.raises(ExportConflict, match=f"exported version {first.record.agent_version} there"):
        export_to_github(store, client, agent.id, "octo/agents")

    assert repo.bare.resolve("refs/heads/main") == head


def test_a_moved_folder_that_someone_edited_is_left_alone(
    store: AgentStore, client: Github, github_double: GitHubDouble
) -> None:
    repo = github_double.create_repo("octo/agents", auto_init=True)
    agent = store.create(definition("Old name", chunks=1))
    export_to_github(store, client, agent.id, "octo/agents")
    repo.bare.commit_on("main", {"agents/old-name/README.md": b"# someone else's notes\n"}, "notes")
    _edit(store, agent.id, lambda doc: doc.update(name="New name"))

    export_to_github(store, client, agent.id, "octo/agents")

    assert sorted(changed_files(repo.bare, "main")) == [
        "A\tagents/new-name/README.md",
        "A\tagents/new-name/agent.yaml",
        "D\tagents/old-name/agent.yaml",
    ]


def test_two_names_with_one_slug_do_not_share_a_folder_on_github(
    store: AgentStore, client: Github, github_double: GitHubDouble
) -> None:
    """The GitHub export refuses as the git export does (one plan): the second agent replaced the first."""
    repo = github_double.create_repo("octo/agents", auto_init=True)
    first = store.create(definition("Query param", chunks=1))
    second = store.create(definition("query: param", chunks=2))
    export_to_github(store, client, first.id, "octo/agents")
    head = repo.bare.resolve("refs/heads/main")

    refusal = rf'agents/query-param/ in .* holds another agent of this store, "Query param" \({first.id}\)'
    with pytest.raises(ExportConflict, match=refusal):
        export_to_github(store, client, second.id, "octo/agents")

    assert repo.bare.resolve("refs/heads/main") == head
    assert store.list_exports(second.id) == []
    assert store.get(second.id).version == 1  # nothing saved: not even the repository's URL


def test_an_existing_tag_elsewhere_is_not_moved(
    store: AgentStore, client: Github, github_double: GitHubDouble
) -> None:
    repo = github_double.create_repo("octo/agents", auto_init=True)
    initial = repo.bare.resolve("main")
    assert initial is not None
    repo.bare.update_ref("refs/tags/agent/tagged/v2", initial, "")
    agent = store.create(definition("Tagged", chunks=1))

    result = export_to_github(store, client, agent.id, "octo/agents")

    assert result.changed
    assert result.record.tag is None
    assert repo.bare.ref("refs/tags/agent/tagged/v2") == initial
    assert result.warnings == (
        f"tag agent/tagged/v2 already points at another commit ({initial[:12]}); it was left as it is",
    )


def test_a_branch_that_moves_meanwhile_is_a_conflict_and_nothing_is_overwritten(
    store: AgentStore, client: Github, github_double: GitHubDouble
) -> None:
    repo = github_double.create_repo("octo/agents", auto_init=True)
    agent = store.create(definition("Racer", chunks=1))

    github_double.before(
        "PATCH",
        r"/git/refs/heads/main$",
        lambda _: repo.bare.commit_on("main", {"theirs.txt": b"x"}, "theirs"),
    )
    with pytest.raises(ExportConflict, match="moved while exporting"):
        export_to_github(store, client, agent.id, "octo/agents")
    assert repo.bare.out("log", "-1", "--format=%s", "main") == "theirs"
    assert store.list_exports(agent.id) == []


def test_secrets_are_exported_as_templates_and_a_pasted_value_is_refused(
    store: AgentStore, client: Github, github_double: GitHubDouble
) -> None:
    repo = github_double.create_repo("octo/agents", auto_init=True)
    doc = agent_doc("Portal", chunks=1)
    doc["chunks"][0]["actions"] = [
        {"type": "fill", "selector": "#user", "value": "{{ secrets.PORTAL_USER }}"},
        {"type": "fill", "selector": "#password", "value": "{{secrets.PORTAL_PASSWORD}}"},
    ]
    agent = store.create(parse_definition(doc))
    secrets = {"AGENTCTL_SECRET_PORTAL_PASSWORD": "hunter2-very-secret", "the GitHub token": "ghp_octo"}

    export_to_github(store, client, agent.id, "octo/agents", secrets=secrets)

    yaml_text = repo.bare.out("show", "main:agents/portal/agent.yaml")
    readme = repo.bare.out("show", "main:agents/portal/README.md")
    assert "value: '{{secrets.PORTAL_PASSWORD}}'" in yaml_text
    assert (
        "- `PORTAL_PASSWORD`: `AGENTCTL_SECRET_PORTAL_PASSWORD` or the block `portal-password`\n"
        "- `PORTAL_USER`: "
    ) in readme
    everything = repo.bare.out("log", "-p", "--all")
    assert "hunter2" not in everything
    assert "ghp_octo" not in everything

    pasted = agent_doc("Pasted", chunks=1)
    pasted["chunks"][0]["actions"] = [{"type": "fill", "selector": "#p", "value": "hunter2-very-secret"}]
    leaky = store.create(parse_definition(pasted))
    log = git_log(repo.bare)
    with pytest.raises(ExportRejected, match="contains the value of AGENTCTL_SECRET_PORTAL_PASSWORD"):
        export_to_github(store, client, leaky.id, "octo/agents", secrets=secrets)
    assert git_log(repo.bare) == log
    assert store.get(leaky.id).version == 1  # refused before the repository was recorded on it
