"""Dangerous actions, attacked with a real Chromium and the real engine: ``goto`` to local files,
browser internals and script URLs; ``upload`` of files outside the upload folder; and secrets sent
by ``http`` actions to hosts they are not bound to (``AGENTCTL_SECRET_<NAME>_HOSTS``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from agents_store.models import Agent, ChunkStatus, GotoAction, UploadAction
from agents_store.store import AgentStore
from flows.errors import RunRefused
from flows.plan import Selection
from flows.preflight import prepare_run
from tasks.browser.actions import _UNSAFE_SCHEMES, BrowserActionContext, run_browser_action
from tasks.errors import UnsafeAction
from tasks.secrets import HostBinding, parse_hosts
from tests.reliability._guards import *  # noqa: F403 - the engine fixtures, used by name
from tests.reliability._guards import Receiver

MakeAgent = Callable[..., Agent]


def refused_run(store: AgentStore, run_flow: Callable[..., Any], agent: Agent, order: int) -> dict[str, Any]:
    """Run ``agent``, which must fail on chunk ``order`` refused as unsafe; that chunk's error details."""
    assert run_flow(agent).is_failed()
    chunk = store.get(agent.id).chunks[order - 1]
    assert chunk.status == ChunkStatus.FAILED
    assert chunk.error_details is not None
    assert chunk.error_details["type"] == "UnsafeAction"
    return chunk.error_details


SECRET = "Hk7-bound-secret-4412"


@pytest.fixture
async def page(chromium: str, tmp_path: Path) -> AsyncIterator[Any]:
    """A real Chromium page showing a form with a file input."""
    from playwright.async_api import async_playwright

    from tasks.browser.session import LAUNCH_ARGS, find_chromium

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=find_chromium(), args=LAUNCH_ARGS)
        page = await browser.new_page()
        await page.set_content("<p id='mark'>untouched</p><input type='file' id='file'>")
        yield page
        await browser.close()


def _ctx(page: Any, tmp_path: Path, **extra: Any) -> BrowserActionContext:
    uploads = (tmp_path / "uploads").resolve()
    return BrowserActionContext(
        page=page, timeout_ms=2000, artifacts_dir=tmp_path, upload_dir=uploads, **extra
    )


# --------------------------------------------------------------------------- goto


UNSAFE_URLS = [
    *(f"{scheme}//x/" for scheme in _UNSAFE_SCHEMES),
    "file:///etc/passwd",
    "FILE:///etc/passwd",
    "  javascript:document.getElementById('mark').textContent='pwned'",
    "java\tscript:document.getElementById('mark').textContent='pwned'",
    "fi\tle:///etc/passwd",
    "\x01file:///etc/passwd",
    "data:text/html,<p>phish</p>",
    "view-source:http://127.0.0.1/",
    "blob:http://127.0.0.1/0",
    "filesystem:http://127.0.0.1/temporary/x",
    "devtools://devtools/bundled/inspector.html",
    "chrome-untrusted://x/",
]


@pytest.mark.browser
async def test_goto_refuses_every_unsafe_scheme_and_its_disguises(page: Any, tmp_path: Path) -> None:
    start = page.url
    for url in UNSAFE_URLS:
        refused = r"goto refuses [a-z-]+: URLs \(only http and https\); set settings.allow_unsafe_urls"
        with pytest.raises(UnsafeAction, match=refused):
            await run_browser_action(GotoAction(type="goto", url=url), _ctx(page, tmp_path))
        assert page.url == start, f"{url!r} navigated"
    assert await page.text_content("#mark") == "untouched"


@pytest.mark.browser
async def test_goto_opens_them_when_the_agent_allows_unsafe_urls(page: Any, tmp_path: Path) -> None:
    local = tmp_path / "local.html"
    local.write_text("<p id='mark'>a local file</p>", encoding="utf-8")
    ctx = _ctx(page, tmp_path, allow_unsafe_urls=True)
    await run_browser_action(GotoAction(type="goto", url=local.as_uri()), ctx)
    assert await page.text_content("#mark") == "a local file"
    await run_browser_action(GotoAction(type="goto", url="data:text/html,<p id='mark'>data</p>"), ctx)
    assert await page.text_content("#mark") == "data"


@pytest.mark.browser
@pytest.mark.slow
def test_a_run_refuses_a_file_url_unless_its_settings_allow_it(
    sqlite_engine_store: AgentStore, make_agent: MakeAgent, run_flow: Callable[..., Any], tmp_path: Path
) -> None:
    """A literal file: URL is refused by the import; one from a param, by the run."""
    from agents_store.errors import InvalidAgent

    local = tmp_path / "local.html"
    local.write_text("<p id='mark'>a local file</p>", encoding="utf-8")

    def chunks(url: str) -> list[dict[str, Any]]:
        return [
            {
                "name": "Open a local file",
                "actions": [
                    {"type": "goto", "url": url},
                    {"type": "expect_text", "selector": "#mark", "text": "a local file"},
                ],
            }
        ]

    with pytest.raises(InvalidAgent, match=r"action 1 \(goto\): url: goto refuses file: URLs"):
        make_agent(sqlite_engine_store, chunks(local.as_uri()), name="Refused at import")
    params = {"page": local.as_uri()}
    refused = make_agent(sqlite_engine_store, chunks("{{ params.page }}"), name="Refused", params=params)
    details = refused_run(sqlite_engine_store, run_flow, refused, 1)
    assert details["message"].startswith("goto refuses file: URLs")
    assert details["action_index"] == 0

    settings = {"retries": 0, "retry_delay_seconds": 0, "action_timeout_ms": 3000, "allow_unsafe_urls": True}
    allowed = make_agent(sqlite_engine_store, chunks(local.as_uri()), name="Allowed", settings=settings)
    assert run_flow(allowed).is_completed()
    assert sqlite_engine_store.get(allowed.id).chunks[0].status == ChunkStatus.COMPLETED


# --------------------------------------------------------------------------- upload


@pytest.mark.browser
async def test_upload_reads_only_from_the_upload_folder(page: Any, tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    (uploads / "sub").mkdir(parents=True)
    (uploads / "invoice.pdf").write_text("inside", encoding="utf-8")
    (uploads / "sub" / "nested.txt").write_text("inside too", encoding="utf-8")
    outside = tmp_path / "outside.txt"
    outside.write_text("private", encoding="utf-8")
    (uploads / "escape").symlink_to(outside)
    (uploads / "escape-dir").symlink_to(tmp_path)
    (uploads / "alias.pdf").symlink_to(uploads / "invoice.pdf")
    ctx = _ctx(page, tmp_path)

    refused = [
        "../outside.txt",
        "sub/../../outside.txt",
        str(outside),
        "/etc/passwd",
        "escape",  # a symlink inside the folder, pointing outside
        "escape-dir/outside.txt",  # a symlinked folder
    ]
    for path in refused:
        with pytest.raises(UnsafeAction, match=r"leaves the upload folder .*AGENTCTL_UPLOAD_DIR"):
            await run_browser_action(UploadAction(type="upload", selector="#file", path=path), ctx)
    assert await page.evaluate("document.getElementById('file').files.length") == 0

    allowed = [("invoice.pdf", "invoice.pdf"), ("sub/nested.txt", "nested.txt"), ("alias.pdf", "invoice.pdf")]
    for path, name in allowed:
        await run_browser_action(UploadAction(type="upload", selector="#file", path=path), ctx)
        assert await page.evaluate("document.getElementById('file').files[0].name") == name


@pytest.mark.browser
@pytest.mark.slow
def test_a_run_names_the_upload_that_left_the_folder(
    sqlite_engine_store: AgentStore,
    make_agent: MakeAgent,
    run_flow: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uploads = tmp_path / "my-uploads"
    uploads.mkdir()
    (uploads / "report").symlink_to("/etc/passwd")
    monkeypatch.setenv("AGENTCTL_UPLOAD_DIR", str(uploads))
    agent = make_agent(
        sqlite_engine_store,
        [{"name": "Attach", "actions": [{"type": "upload", "selector": "#file", "path": "report"}]}],
    )
    details = refused_run(sqlite_engine_store, run_flow, agent, 1)
    assert details["message"] == (
        f"upload path 'report' leaves the upload folder {uploads.resolve()}; "
        "agents may only upload files from there (AGENTCTL_UPLOAD_DIR)"
    )


# --------------------------------------------------------------------------- secret → host binding


@pytest.mark.parametrize(
    ("entries", "url", "allowed"),
    [
        ("api.example.com", "https://api.example.com/hook", True),
        ("api.example.com", "https://API.Example.com.:8443/hook", True),  # any port, case, trailing dot
        ("api.example.com", "https://api.example.com.evil.test/", False),
        ("api.example.com", "https://evil.test/?u=https://api.example.com", False),
        ("api.example.com", "https://api.example.com@evil.test/", False),  # userinfo is not the host
        ("api.example.com:8443", "https://api.example.com/", False),
        ("api.example.com:8443", "https://api.example.com:8443/", True),
        ("*.example.com", "https://hooks.eu.example.com/", True),
        ("*.example.com", "https://example.com/", False),
        ("*.example.com", "https://badexample.com/", False),
        ("127.0.0.1", "http://127.0.0.1:9999/x", True),
        ("127.0.0.1", "http://localhost/x", False),
        ("[::1]", "http://[::1]:80/", True),
        ("::1", "http://[::1]/", True),
        ('["api.example.com", "127.0.0.1"]', "http://127.0.0.1/", True),  # a block may hold a JSON list
        ("", "https://api.example.com/", False),  # bound to nothing: sent nowhere
        ("api.example.com", "not a url", False),
    ],
)
def test_host_binding_entries(entries: str, url: str, allowed: bool) -> None:
    binding = HostBinding("TOKEN", parse_hosts(entries), "AGENTCTL_SECRET_TOKEN_HOSTS")
    assert binding.allows(url) is allowed
    if not allowed:
        assert SECRET not in binding.refusal(url)
        assert binding.refusal(url).startswith("{{ secrets.TOKEN }} may only be sent to ")


def _send_chunk(url: str, where: str) -> dict[str, Any]:
    """One ``http`` action carrying the secret in its header, its URL query or its JSON body."""
    action: dict[str, Any] = {"type": "http", "url": url}
    if where == "header":
        action["headers"] = {"X-Api-Key": "{{ secrets.BOUND_TOKEN }}"}
    elif where == "query":
        action["url"] = f"{url}?token={{{{ secrets.BOUND_TOKEN }}}}"
    else:
        action["json"] = {"token": "{{ secrets.BOUND_TOKEN }}"}
    return {"name": "Send it", "actions": [action]}


def _carried(request: dict[str, Any], where: str) -> str:
    if where == "header":
        return str(request["headers"]["x-api-key"])
    return str(request["query"] if where == "query" else request["body"])


@pytest.fixture
def bound_secret(monkeypatch: pytest.MonkeyPatch) -> Callable[[str | None], None]:
    monkeypatch.setenv("AGENTCTL_SECRET_BOUND_TOKEN", SECRET)

    def bind(hosts: str | None) -> None:
        if hosts is None:
            monkeypatch.delenv("AGENTCTL_SECRET_BOUND_TOKEN_HOSTS", raising=False)
        else:
            monkeypatch.setenv("AGENTCTL_SECRET_BOUND_TOKEN_HOSTS", hosts)

    return bind


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("where", ["header", "query", "json"])
def test_a_bound_secret_goes_to_its_host_and_is_refused_elsewhere(
    where: str,
    sqlite_engine_store: AgentStore,
    make_agent: MakeAgent,
    run_flow: Callable[..., Any],
    receiver: tuple[Receiver, int],
    bound_secret: Callable[[str | None], None],
) -> None:
    sink, port = receiver
    bound_secret(f"api.example.com, 127.0.0.1:{port}")
    allowed = make_agent(sqlite_engine_store, [_send_chunk(f"http://127.0.0.1:{port}/allowed", where)])
    assert run_flow(allowed).is_completed()
    [got] = sink.to("/allowed")
    assert SECRET in _carried(got, where)

    # The same request to another host (localhost is the same server: only the binding differs).
    refused = make_agent(
        sqlite_engine_store, [_send_chunk(f"http://localhost:{port}/refused", where)], name="Refused"
    )
    expected = (
        'chunk 1 "Send it", action 1 (http): {{ secrets.BOUND_TOKEN }} may only be sent to '
        f"api.example.com, 127.0.0.1:{port} (AGENTCTL_SECRET_BOUND_TOKEN_HOSTS); "
        f"this request goes to localhost:{port}"
    )
    # Refused at preflight (the CLI and the dashboard call it before anything starts) …
    with pytest.raises(RunRefused) as refusal:
        prepare_run(sqlite_engine_store, str(refused.id), "automatic", Selection(), None)
    assert str(refusal.value) == expected
    # … and by the flow itself.
    state = run_flow(refused)
    assert state.is_failed()
    assert expected in str(state.message)
    assert SECRET not in str(state.message)
    assert sink.to("/refused") == []


@pytest.mark.browser
def test_a_url_known_only_at_run_time_is_checked_before_sending(
    sqlite_engine_store: AgentStore,
    make_agent: MakeAgent,
    run_flow: Callable[..., Any],
    receiver: tuple[Receiver, int],
    bound_secret: Callable[[str | None], None],
) -> None:
    sink, port = receiver
    bound_secret(f"127.0.0.1:{port}")
    first = {
        "name": "Ask where",
        "actions": [
            {
                "type": "http",
                "url": f"http://127.0.0.1:{port}/first",
                "json": {"next": f"http://localhost:{port}/leak", "copy": "{{ secrets.BOUND_TOKEN }}"},
                "var": "first",
            }
        ],
    }
    by_template = {
        "name": "Send to the answer",
        "actions": [
            {
                "type": "http",
                "url": "{{ vars.first.json.echo.next }}",
                "headers": {"Authorization": "Bearer {{ secrets.BOUND_TOKEN }}"},
            }
        ],
    }
    agent = make_agent(sqlite_engine_store, [first, by_template])
    details = refused_run(sqlite_engine_store, run_flow, agent, 2)
    assert details["message"] == (
        'chunk 2 "Send to the answer", action 1 (http): refused before sending: '
        f"{{{{ secrets.BOUND_TOKEN }}}} may only be sent to 127.0.0.1:{port} "
        f"(AGENTCTL_SECRET_BOUND_TOKEN_HOSTS); this request goes to localhost:{port}"
    )
    assert len(sink.to("/first")) == 1
    assert sink.to("/leak") == []

    # A secret that came back in a var, sent on without naming it: found by its value.
    by_value = {
        "name": "Forward the copy",
        "actions": [
            {
                "type": "http",
                "url": f"http://localhost:{port}/leak",
                "json": {"forwarded": "{{ vars.first.json.echo.copy }}"},
            }
        ],
    }
    agent = make_agent(sqlite_engine_store, [first, by_value], name="By value")
    details = refused_run(sqlite_engine_store, run_flow, agent, 2)
    assert "{{ secrets.BOUND_TOKEN }} may only be sent to" in details["message"]
    assert sink.to("/leak") == []


@pytest.mark.browser
def test_a_redirect_to_another_host_is_not_followed_with_the_secret(
    sqlite_engine_store: AgentStore,
    make_agent: MakeAgent,
    run_flow: Callable[..., Any],
    receiver: tuple[Receiver, int],
    bound_secret: Callable[[str | None], None],
) -> None:
    sink, port = receiver
    bound_secret(f"127.0.0.1:{port}")

    def via_redirect(target: str) -> list[dict[str, Any]]:
        return [
            {
                "name": "Post through a redirect",
                "actions": [
                    {
                        "type": "http",
                        "url": f"http://127.0.0.1:{port}/redirect?to={target}",
                        "headers": {"X-Api-Key": "{{ secrets.BOUND_TOKEN }}"},
                        "json": {"token": "{{ secrets.BOUND_TOKEN }}"},
                    }
                ],
            }
        ]

    same_host = make_agent(sqlite_engine_store, via_redirect(f"http://127.0.0.1:{port}/landed"))
    assert run_flow(same_host).is_completed()
    [landed] = sink.to("/landed")
    assert landed["headers"]["x-api-key"] == SECRET  # a 307 resends headers and body

    other_host = make_agent(
        sqlite_engine_store, via_redirect(f"http://localhost:{port}/leak"), name="Other host"
    )
    details = refused_run(sqlite_engine_store, run_flow, other_host, 1)
    assert details["message"].endswith(f"this request goes to localhost:{port}")
    assert len(sink.to("/redirect")) == 2
    assert sink.to("/leak") == []


@pytest.mark.browser
def test_an_unbound_secret_goes_anywhere_with_a_warning(
    sqlite_engine_store: AgentStore,
    make_agent: MakeAgent,
    run_flow: Callable[..., Any],
    receiver: tuple[Receiver, int],
    bound_secret: Callable[[str | None], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink, port = receiver
    bound_secret(None)
    agent = make_agent(sqlite_engine_store, [_send_chunk(f"http://localhost:{port}/anywhere", "header")])
    with caplog.at_level(logging.WARNING, logger="agentctl.flow"):
        assert run_flow(agent).is_completed()
    assert sink.to("/anywhere")[0]["headers"]["x-api-key"] == SECRET
    warnings = [r.getMessage() for r in caplog.records if r.name == "agentctl.flow"]
    assert warnings == [
        "secrets sent by http actions but bound to no host (they may go to any host): BOUND_TOKEN; "
        "bind them with AGENTCTL_SECRET_BOUND_TOKEN_HOSTS=host,…"
    ]


@pytest.mark.browser
def test_a_binding_in_a_prefect_secret_block_is_enforced_by_the_flow(
    sqlite_engine_store: AgentStore,
    make_agent: MakeAgent,
    run_flow: Callable[..., Any],
    receiver: tuple[Receiver, int],
    bound_secret: Callable[[str | None], None],
) -> None:
    from prefect.blocks.system import Secret

    sink, port = receiver
    bound_secret(None)
    Secret(value='["api.example.com"]').save("bound-token-hosts", overwrite=True)
    try:
        agent = make_agent(sqlite_engine_store, [_send_chunk(f"http://127.0.0.1:{port}/blocked", "json")])
        state = run_flow(agent)
        assert state.is_failed()
        assert (
            "{{ secrets.BOUND_TOKEN }} may only be sent to api.example.com "
            "(Prefect Secret block 'bound-token-hosts'); this request goes to 127.0.0.1"
        ) in str(state.message)
        assert sink.to("/blocked") == []
    finally:
        Secret.delete("bound-token-hosts")
