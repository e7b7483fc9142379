"""A secret goes where the agent sends it — the sign-in page's password field and a webhook's
headers and body — and nowhere else, in every mode, through ``agentctl`` processes and a real
``prefect server``: not the store (every table; SQLite and PostgreSQL), the CLI's output, Prefect's
API (flow run, states, task runs, logs, artifacts, pause inputs) and its database file, run files
(screenshots with their metadata, every member of every Playwright trace, sessions), nor the YAML,
git and GitHub exports. Grepped in its raw, JSON-, URL-, HTML- and base64-encoded forms.

Builds on ``tests/flows/test_secrets.py`` (one in-process run in automatic mode).
"""

from __future__ import annotations

import base64
import html
import json
import sqlite3
import subprocess
import time
import urllib.parse
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import _SESSION_HOME
from tests.factories import LOOM
from tests.github_double import GitHubDouble
from tests.helpers import AGENTCTL, agentctl, process_env, wait_for, wait_for_task_runs
from tests.sites import LocalSite

SECRET_NAME = "DEMO_PASSWORD"


def secret_forms(secret: str) -> dict[str, bytes]:
    """The secret as it could be written anywhere: raw, JSON-escaped, URL- and HTML-encoded, and
    base64 at each of the three alignments a longer base64 text could hold it at."""
    forms = {
        "raw": secret,
        "json": json.dumps(secret)[1:-1],
        "url": urllib.parse.quote(secret, safe=""),
        "url+": urllib.parse.quote_plus(secret),
        "html": html.escape(secret),
    }
    found = {name: form.encode() for name, form in forms.items()}
    for shift in range(3):
        for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            text = encode(b"\0" * shift + secret.encode())
            # Drop the leading group (it mixes the padding bytes in) and the trailing one (it may
            # be cut short): what is left appears in any base64 text that holds the secret there.
            core = text[4 if shift else 0 : -4]
            found[f"{name}@{shift}"] = core
    return found


def leaks(places: dict[str, bytes], secret: str) -> list[str]:
    forms = secret_forms(secret)
    return [
        f"{form} in {where}" for where, data in places.items() for form, enc in forms.items() if enc in data
    ]


@pytest.mark.parametrize("shift", [0, 1, 2, 5])
def test_the_grep_finds_the_secret_in_every_encoding(shift: int) -> None:
    """The detector itself: a secret hidden in any of these ways inside longer text is found."""
    secret = "s3cret-Pa55word!"
    around = "x" * shift
    hidden = {
        "raw": f"{around}{secret}{around}".encode(),
        "json": json.dumps({"v": around + secret}).encode(),
        "url": urllib.parse.urlencode({"v": around + secret}).encode(),
        "html": html.escape(f"<{around}{secret}>").encode(),
        "base64": base64.b64encode(f"{around}{secret}{around}".encode()),
        "base64url": base64.urlsafe_b64encode(f"{around}{secret}?>".encode()),
    }
    assert [where.split(" in ")[1] for where in leaks(hidden, secret)].count("base64") >= 1
    assert {where.split(" in ")[1] for where in leaks(hidden, secret)} == set(hidden)
    assert leaks({"clean": b"s3cret-Pa55word", "masked": b"***"}, secret) == []


# --------------------------------------------------------------------------- collecting places


def _files(root: Path, label: str) -> Iterator[tuple[str, bytes]]:
    """Every file's bytes; a zip's members one by one; a SQLite database also as its SQL dump."""
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        where = f"{label}/{path.relative_to(root)}"
        data = path.read_bytes()
        yield where, data
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    yield f"{where}!{member}", archive.read(member)
        if data.startswith(b"SQLite format 3"):
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                yield f"{where} (dump)", "\n".join(db.iterdump()).encode()


def _git_history(repo: Path, label: str) -> Iterator[tuple[str, bytes]]:
    """Every commit, file and tag of a repository, decompressed (its object files are zlib)."""
    for args in (["log", "--all", "-p", "--format=fuller"], ["tag", "-n99"], ["show-ref"]):
        out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=True, timeout=30)
        yield f"{label} (git {' '.join(args)})", out.stdout


def _prefect_api(api: str, flow_run_id: str) -> Iterator[tuple[str, bytes]]:
    run_filter = {"flow_runs": {"id": {"any_": [flow_run_id]}}}
    with httpx.Client(base_url=api, timeout=30) as http:
        calls = {
            "flow run": http.get(f"/flow_runs/{flow_run_id}"),
            "flow run states": http.get("/flow_run_states/", params={"flow_run_id": flow_run_id}),
            "task runs": http.post("/task_runs/filter", json=run_filter),
            "logs": http.post(
                "/logs/filter", json={"logs": {"flow_run_id": {"any_": [flow_run_id]}}, "limit": 200}
            ),
            "artifacts": http.post(
                "/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}}
            ),
            "pause inputs": http.post(f"/flow_runs/{flow_run_id}/input/filter", json={"prefix": ""}),
        }
        for name, answer in calls.items():
            assert answer.status_code == 200, f"{name}: {answer.status_code} {answer.text}"
            yield f"prefect api: {name}", answer.content
        task_runs = json.loads(calls["task runs"].content)
        assert task_runs, "the run has task runs"
        for task_run in task_runs:
            states = http.get("/task_run_states/", params={"task_run_id": task_run["id"]})
            yield f"prefect api: states of task run {task_run['name']}", states.content
        logs = json.loads(calls["logs"].content)
        assert any("Sign in" in line["message"] or "chunk" in line["message"] for line in logs), logs


def _postgres_tables(url: str) -> Iterator[tuple[str, bytes]]:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url) as db:
        tables = db.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        assert tables
        for schema, table in tables:
            query = sql.SQL("SELECT row_to_json(t)::text FROM {} t").format(sql.Identifier(schema, table))
            rows = db.execute(query).fetchall()
            yield f"postgres {schema}.{table}", "\n".join(r[0] for r in rows).encode()


# --------------------------------------------------------------------------- the agent and the run


def _agent_file(tmp_path: Path, base_url: str) -> Path:
    doc = {
        "name": "Secret everywhere",
        "loom_url": LOOM,
        "params": {"base_url": base_url},
        "settings": {"retries": 0, "retry_delay_seconds": 0, "action_timeout_ms": 5000},
        "chunks": [
            {
                "name": "Sign in",
                "actions": [
                    {"type": "goto", "url": "{{ params.base_url }}/"},
                    {"type": "fill", "selector": "#username", "value": "demo"},
                    {"type": "fill", "selector": "#password", "value": "{{ secrets.DEMO_PASSWORD }}"},
                    {"type": "screenshot", "name": "typed"},
                    {"type": "click", "selector": "#login"},
                    {"type": "wait_for_url", "url": "**/records"},
                ],
            },
            {
                "name": "Tell the webhook",
                "actions": [
                    {
                        "type": "http",
                        "url": "{{ params.base_url }}/receive/secret",
                        "headers": {"Authorization": "Bearer {{ secrets.DEMO_PASSWORD }}"},
                        "json": {"note": "password is {{ secrets.DEMO_PASSWORD }}"},
                    }
                ],
            },
            {
                "name": "Fail with it",
                "retries": 1,
                "actions": [
                    {
                        "type": "expect_text",
                        "selector": "h1",
                        "text": "{{ secrets.DEMO_PASSWORD }} and more",
                        "timeout_ms": 300,
                    }
                ],
            },
        ],
    }
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _answer_pauses(env: dict[str, str], mode: str, outputs: list[str], run: subprocess.Popen[str]) -> None:
    """Approve (verification) or step on (debugging) at each of the three chunks, through the CLI."""
    command = "approve" if mode == "verification" else "step"
    for order in (1, 2, 3):

        def paused(order: int = order) -> dict[str, Any] | None:
            assert run.poll() is None, "the run ended while a pause was expected"
            listed = agentctl(env, "pending", "--json")
            outputs.extend([listed.stdout, listed.stderr])
            return next((p for p in json.loads(listed.stdout or "[]") if p["order"] == order), None)

        pause = wait_for(f"the pause at chunk {order}", paused, timeout=120, every=0.5)
        answered = agentctl(env, command, pause["flow_run_id"][:8], "--note", f"ok {order}")
        outputs.extend([answered.stdout, answered.stderr])
        assert answered.returncode == 0, answered.stderr


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(360)
@pytest.mark.parametrize(
    ("mode", "store"),
    [
        ("automatic", "sqlite"),
        ("verification", "sqlite"),
        ("debugging", "sqlite"),
        pytest.param("automatic", "postgres", marks=pytest.mark.postgres),
    ],
)
def test_a_secret_reaches_its_destinations_and_nothing_else_in_every_mode(
    mode: str,
    store: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    prefect_server: str,
    chromium: str,
    base_url: str,
    site: LocalSite,
    github_double: GitHubDouble,
) -> None:
    started = time.monotonic()
    secret = site.demo.password
    extra = {"AGENTCTL_SECRET_DEMO_PASSWORD": secret}
    if store == "postgres":
        extra["AGENTCTL_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    env = process_env(tmp_path, prefect_server, **extra)
    outputs: list[str] = []

    imported = agentctl(env, "import", str(_agent_file(tmp_path, base_url)))
    assert imported.returncode == 0, imported.stderr
    agent_id = imported.stdout.strip()

    run = subprocess.Popen(
        [AGENTCTL, "run", agent_id, "--mode", mode],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        if mode != "automatic":
            _answer_pauses(env, mode, outputs, run)
        out, err = run.communicate(timeout=180)
    finally:
        run.kill()
    outputs.extend([out, err])
    assert run.returncode == 1, err
    assert 'chunk 3 "Fail with it" failed' in err
    assert "***" in err

    # It reached its destinations: the sign-in form took it, the webhook got it.
    shown = json.loads(agentctl(env, "show", agent_id, "--json").stdout)
    assert [c["status"] for c in shown["chunks"]] == ["Completed", "Completed", "Failed"]
    failed = shown["chunks"][2]["error_details"]
    assert failed["action"]["text"] == "*** and more"
    assert len(failed["attempt_errors"]) == 2
    [received] = site.received("secret")
    assert received["headers"]["authorization"] == f"Bearer {secret}"
    assert json.loads(received["body"]) == {"note": f"password is {secret}"}

    runs = json.loads(agentctl(env, "runs", "--json").stdout)
    flow_run_id = runs[0]["flow_run_id"]
    logs = agentctl(env, "logs", flow_run_id)
    outputs.extend([logs.stdout, logs.stderr])
    assert logs.returncode == 0, logs.stderr

    # The exports (once: they hold the definition, which is the same in every mode).
    if mode == "automatic" and store == "sqlite":
        exported = agentctl(env, "export", agent_id, "-o", str(tmp_path / "exported.yaml"))
        assert exported.returncode == 0, exported.stderr
        outputs.append(agentctl(env, "export", agent_id, "--format", "json").stdout)
        bare = tmp_path / "plain.git"
        subprocess.run(["git", "init", "--bare", "-q", str(bare)], check=True, timeout=30)
        pushed = agentctl(env, "export", agent_id, "--git", str(bare))
        assert pushed.returncode == 0, pushed.stderr
        repo = github_double.create_repo("octo/agents", auto_init=True)
        gh_env = {**env, "GITHUB_TOKEN": "ghp_octo", "AGENTCTL_GITHUB_THROTTLE": "false"}
        to_github = agentctl(
            gh_env, "github", "export", agent_id, "--repo", "octo/agents", "--base-url", github_double.api_url
        )
        assert to_github.returncode == 0, to_github.stderr
        outputs.extend([pushed.stdout, pushed.stderr, to_github.stdout, to_github.stderr])

    places: dict[str, bytes] = {f"cli output {i}": text.encode() for i, text in enumerate(outputs)}
    places.update(_files(tmp_path, "tmp"))  # store, AGENTCTL_HOME (run files), Prefect client home, exports
    places.update(_files(_SESSION_HOME / "prefect-server", "prefect server home"))  # its database, its log
    wait_for_task_runs(prefect_server, flow_run_id, count=3)  # recorded from events, in batches
    places.update(_prefect_api(prefect_server, flow_run_id))
    if store == "postgres":
        places.update(_postgres_tables(env["AGENTCTL_DATABASE_URL"]))
    if mode == "automatic" and store == "sqlite":
        places.update(_git_history(tmp_path / "plain.git", "git export"))
        places.update(_git_history(repo.bare.path, "github export"))
        assert any(where.startswith("github export") for where in places)

    run_dir = tmp_path / "home" / "runs" / flow_run_id
    names = {p.name for p in run_dir.iterdir()}
    assert "chunk-01-typed.png" in names
    assert "chunk-03-failed-attempt-2.png" in names
    if mode == "debugging":
        traces = sorted(n for n in names if n.endswith(".zip"))
        assert traces == ["chunk-01-trace-1.zip", "chunk-03-trace-2.zip"], names
        assert any("!trace.trace" in where or ".trace" in where for where in places)
        # No screencast: its frames would show what a text field holds, and cannot be masked.
        assert not [where for where in places if "trace-" in where and where.endswith(".jpeg")]
    if store == "sqlite":
        assert any(where.endswith("agents.db (dump)") for where in places)
    assert any("prefect.db" in where for where in places), sorted(places)[:20]

    assert leaks(places, secret) == []
    took = time.monotonic() - started
    assert len(places) > 20, f"{mode}/{store}: only {len(places)} places grepped ({took:.1f} s)"
