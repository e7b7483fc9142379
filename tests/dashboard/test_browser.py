"""The dashboard in a real Chromium, through the real uvicorn server on 127.0.0.1.

The main path a person takes — list, filter, open, edit a chunk, save, run, watch the statuses
change, approve in verification mode, see a failure's screenshot, export, delete — and sign-in,
a new agent from a file, re-ordering, and a hostile name that must stay text. Screenshots of the
list, detail and approval pages go to ``tests/artifacts/`` (not committed).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agents_store.documents import parse_definition
from agents_store.models import Agent
from agents_store.store import AgentStore
from cli.background_server import serve_in_background
from tests.dashboard.conftest import TOKEN, AppFactory, agent_yaml
from tests.factories import LOOM

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
Page = Any  # playwright.async_api.Page


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    from tasks.browser.session import LAUNCH_ARGS

    async with async_playwright() as playwright:
        executable = None if chromium == "playwright" else chromium
        launched = await playwright.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    opened = await context.new_page()
    opened.set_default_timeout(30_000)
    from playwright.async_api import expect

    expect.set_options(timeout=30_000)  # a run starts a browser of its own on a busy machine
    yield opened
    await context.close()


@pytest.fixture
def dashboard_url(make_app: AppFactory) -> Iterator[str]:
    """The dashboard in local mode, served by uvicorn on 127.0.0.1."""
    with serve_in_background(make_app()) as url:
        yield url


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


def sale_agent(store: AgentStore, base_url: str) -> Agent:
    """Two chunks on the local test site: the first works, the second waits for an element never shown."""
    doc = {
        "name": "Record a sale",
        "description": "Opens the sales page, presses Go and checks the total",
        "loom_url": LOOM,
        "params": {"base_url": base_url},
        "settings": {"retries": 0, "retry_delay_seconds": 0, "action_timeout_ms": 3000},
        "chunks": [
            {
                "name": "Open the sales page",
                "start_time": "00:04",
                "end_time": "00:19",
                "actions": [
                    {"type": "goto", "url": "{{ params.base_url }}/page/sales"},
                    {"type": "click", "selector": "#real"},
                    {"type": "expect_visible", "selector": "#clicked"},
                ],
            },
            {
                "name": "Check the result",
                "start_time": "00:19",
                "end_time": "00:31",
                "actions": [{"type": "expect_visible", "selector": "#ok"}],
            },
        ],
    }
    return store.create(parse_definition(doc))


async def download_text(download: Any) -> str:
    path = await download.path()
    return await asyncio.to_thread(Path(path).read_text, encoding="utf-8")


async def status_of(page: Page, order: int) -> str:
    text: str = await page.locator(f'tr[data-order="{order}"] [data-role="status"]').inner_text()
    return text


@pytest.mark.usefixtures("prefect_harness")
async def test_the_main_path(
    page: Page, dashboard_url: str, store: AgentStore, base_url: str, local_agent: Callable[..., Agent]
) -> None:
    from playwright.async_api import expect

    for name in ("Sync CRM leads", "Weekly payroll export", "Onboard a new hire", "Reconcile payouts"):
        local_agent(name)
    agent = sale_agent(store, base_url)

    # list → filter → open
    await page.goto(dashboard_url)
    await expect(page.locator("table.agents tbody tr")).to_have_count(5)
    await shot(page, "list")
    await page.get_by_placeholder("Search name or description").fill("sale")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator("table.agents tbody tr")).to_have_count(1)
    await page.get_by_role("link", name="Record a sale").click()
    await expect(page.get_by_test_id("agent-name")).to_have_text("Record a sale")
    await expect(page.get_by_test_id("agent-version")).to_have_text("version 1")

    # edit a chunk: an invalid action is shown inline, then a valid edit saves version 2
    row = page.locator('tr[data-order="2"]')
    await row.get_by_role("button", name="Edit").click()
    editor = page.locator(f"#edit-{agent.chunks[1].id}")
    await editor.get_by_label("Name").fill("Check the total")
    await editor.get_by_label("Actions (YAML, one per line)").fill("- {type: expect_visible}\n")
    await editor.get_by_role("button", name="Save chunk").click()
    await expect(editor.locator('[data-error-for="actions_yaml"]')).to_have_text(
        'chunk 2 "Check the total", action 1 (expect_visible): selector: field required'
    )
    await editor.get_by_label("Actions (YAML, one per line)").fill(
        "- {type: expect_visible, selector: '#total', timeout_ms: 400}\n"
    )
    await editor.get_by_role("button", name="Save chunk").click()
    await expect(page.get_by_test_id("agent-version")).to_have_text("version 2")
    await expect(page.locator('tr[data-order="2"] [data-role="name"]')).to_have_text("Check the total")

    # run in verification mode; the run page follows it live
    await page.locator("#run-form").get_by_label("Mode").select_option("verification")
    await page.get_by_role("button", name="▶ Run all chunks").click()
    await page.wait_for_url("**/runs/*")
    approval = page.get_by_test_id("approval")
    await expect(approval).to_contain_text("Waiting for approval: 01 · Open the sales page")
    await expect(approval).to_contain_text(f'goto url="{base_url}/page/sales"')
    assert await status_of(page, 1) == "Awaiting Approval"
    async with page.expect_request("**/decision") as sent:
        await approval.get_by_role("button", name="Approve").click()
    # The answer names the pause it was given for: a late one is refused, not applied to the next.
    assert (await sent.value).post_data_json["pause_key"].startswith("approve-")
    await expect(page.locator('tr[data-order="1"] [data-role="status"]')).to_have_text("Completed")

    # the pending approvals page lists the next one
    await page.goto(f"{dashboard_url}/approvals")
    pending = page.get_by_test_id("approval")
    await expect(pending).to_contain_text("Waiting for approval: 02 · Check the total")
    await expect(page.get_by_test_id("pending-count")).to_have_text("1")
    await shot(page, "approvals")
    await pending.get_by_placeholder("Note (optional)").fill("let it fail, to see the screenshot")
    async with page.expect_request("**/decision") as sent:
        await pending.get_by_role("button", name="Approve").click()
    assert (await sent.value).post_data_json["pause_key"].startswith("approve-")
    await expect(page.get_by_test_id("no-pending")).to_be_visible()

    # the failure: its row on the run page, then its screenshot on the agent's page
    run_id = store.list_runs(agent.id)[0].flow_run_id
    await page.goto(f"{dashboard_url}/runs/{run_id}")
    await expect(page.locator('tr[data-order="2"] [data-role="status"]')).to_have_text("Failed")
    await expect(page.locator('[data-role="run-status"] [data-role="status"]')).to_have_text("Failed")
    await expect(page.get_by_test_id("logs")).to_contain_text("Finished in state Failed")
    await shot(page, "run")
    await page.get_by_role("link", name="Back to the agent").click()
    image = page.get_by_test_id("failure-screenshot")
    await expect(image).to_be_visible()
    # Visible is not loaded: wait for the image itself (an immediate check raced its download).
    loaded = "img => img.complete && img.naturalWidth > 100"
    await page.wait_for_function(loaded, arg=await image.element_handle(), timeout=15_000)
    await expect(page.locator("tr.failure")).to_contain_text("ElementNotFound: no element matches '#total'")
    await shot(page, "detail")

    # export: the YAML download is the agent file
    async with page.expect_download() as download_info:
        await page.get_by_test_id("download-yaml").click()
    download = await download_info.value
    assert download.suggested_filename == "record-a-sale.yaml"
    text = await download_text(download)
    assert "- name: Check the total\n" in text
    assert text == await (await page.request.get(f"{dashboard_url}/api/agents/{agent.id}/document")).text()

    # delete, after confirming
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Delete").click()
    await page.wait_for_url(dashboard_url + "/")
    await expect(page.locator("table.agents tbody tr")).to_have_count(4)
    assert [a.name for a in store.list_agents().items if a.name == "Record a sale"] == []


async def test_sign_in_new_agent_reorder_and_a_hostile_name(
    page: Page, make_app: AppFactory, local_agent: Callable[..., Agent], tmp_path: Path
) -> None:
    from playwright.async_api import expect

    local_agent("<script>alert(1)</script>")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    with serve_in_background(make_app(token=TOKEN)) as url:
        await page.goto(url)
        await page.wait_for_url("**/login?next=%2F")
        await page.get_by_label("Dashboard token or access token").fill("wrong")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("alert")).to_have_text("the token is not valid")
        await page.get_by_label("Dashboard token or access token").fill(TOKEN)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("link", name="<script>alert(1)</script>")).to_be_visible()

        await page.get_by_role("link", name="+ New agent").click()
        document = tmp_path / "agent.yaml"
        document.write_text(agent_yaml("From a file", chunks=3), encoding="utf-8")
        await page.get_by_label("Agent file", exact=True).set_input_files(str(document))
        await expect(page.get_by_label("Agent file (YAML or JSON)")).to_have_value(document.read_text())
        await page.get_by_label("Loom video URL").fill("https://example.com/video")
        await page.get_by_role("button", name="Create agent").click()
        await expect(page.locator('[data-error-for="loom_url"]')).to_contain_text("not a Loom video URL")
        await page.get_by_label("Loom video URL").fill("")
        await page.get_by_role("button", name="Create agent").click()
        await expect(page.get_by_test_id("agent-name")).to_have_text("From a file")

        await page.locator('tr[data-order="3"]').get_by_role("button", name="Move Step 3 up").click()
        await expect(page.get_by_test_id("agent-version")).to_have_text("version 2")
        names = await page.locator('table.chunks [data-role="name"]').all_inner_texts()
        assert names == ["Step 1", "Step 3", "Step 2"]

        await page.get_by_role("button", name="Sign out").click()
        await page.wait_for_url("**/login")
    assert dialogs == []  # the hostile name never ran


async def test_changing_a_schedules_time_zone_keeps_its_mode_and_params(
    page: Page, dashboard_url: str, store: AgentStore, base_url: str
) -> None:
    """The form had cron, time zone and On only, and the API replaces the whole schedule: updating
    the time zone turned a verification schedule into an automatic one and dropped its params."""
    from playwright.async_api import expect

    from agents_store.store import Schedule

    agent = sale_agent(store, base_url)
    store.set_schedule(
        Schedule(
            agent_id=agent.id,
            cron="0 9 * * 1-5",
            timezone="Europe/Paris",
            mode="verification",
            params={"base_url": "http://127.0.0.1:9/elsewhere"},
        )
    )
    await page.goto(f"{dashboard_url}/agents/{agent.id}")
    await expect(page.locator("#schedule-mode")).to_have_value("verification")
    await page.fill("#timezone", "Europe/Berlin")
    await page.get_by_role("button", name="Update schedule").click()
    await expect(page.get_by_test_id("schedule-state").locator("..")).to_contain_text("Europe/Berlin")
    [saved] = store.list_schedules(agent.id)
    assert (saved.timezone, saved.mode, saved.params) == (
        "Europe/Berlin",
        "verification",
        {"base_url": "http://127.0.0.1:9/elsewhere"},
    )
    await expect(page.get_by_test_id("schedule-state").locator("..")).to_contain_text(
        "verification, base_url=http://127.0.0.1:9/elsewhere"
    )


@pytest.mark.usefixtures("prefect_harness")
async def test_a_late_answer_is_refused_and_the_next_pause_says_so(
    page: Page, dashboard_url: str, store: AgentStore
) -> None:
    """Someone else answered while this page still showed that pause: the click is refused (409),
    and the refusal stays in sight on the next pause's box (it vanished with the old box)."""
    import asyncio

    import httpx
    from playwright.async_api import expect

    from agents_store.documents import parse_definition
    from tests.factories import agent_doc

    doc = agent_doc("Late answers", 2)
    doc["chunks"] = [{"name": n, "actions": [{"type": "sleep", "seconds": 0}]} for n in ("One", "Two")]
    agent = store.create(parse_definition(doc))
    async with httpx.AsyncClient(base_url=dashboard_url, timeout=30) as other:
        csrf = (await other.get("/api/session")).json()["csrf_token"]
        headers = {"X-CSRF-Token": csrf}
        started = await other.post(
            f"/api/agents/{agent.id}/runs", json={"mode": "verification"}, headers=headers
        )
        run_id = started.json()["flow_run_id"]

        async def awaiting_order() -> int | None:
            awaiting = (await other.get(f"/api/runs/{run_id}")).json()["run"].get("awaiting")
            return awaiting["order"] if awaiting else None

        await page.goto(f"{dashboard_url}/runs/{run_id}")
        box = page.get_by_test_id("approval").or_(page.locator("section.approval")).first
        await expect(box.locator("h2")).to_contain_text("01 ·")
        # This page stops hearing from the run (a slow network), while the other person answers.
        released = asyncio.Event()

        async def hold(route: Any) -> None:
            await released.wait()
            await route.continue_()

        await page.route("**/api/runs/*", hold)
        answered = await other.post(
            f"/api/runs/{run_id}/decision", json={"decision": "approve"}, headers=headers
        )
        assert answered.status_code == 200, answered.text
        for _ in range(120):
            if await awaiting_order() == 2:
                break
            await asyncio.sleep(0.25)
        assert await awaiting_order() == 2

        await box.get_by_role("button", name="Skip").click()
        await expect(box.locator(".form-error")).to_contain_text("someone answered it first")
        released.set()  # the page hears from the run again

        next_box = page.locator("section.approval").filter(has=page.locator("h2", has_text="02 ·"))
        await expect(next_box).to_be_visible()
        await expect(next_box.locator(".form-error")).to_contain_text("someone answered it first")
        assert await awaiting_order() == 2  # the click skipped nothing
        await other.post(f"/api/runs/{run_id}/decision", json={"decision": "abort"}, headers=headers)


async def test_forms_send_only_what_the_person_changed(
    page: Page, dashboard_url: str, store: AgentStore
) -> None:
    """The run form sent every param as text (``flag: true`` as "True", ``nothing: null`` as "",
    ``count: 3`` as "3") though nobody had touched them; a chunk's editor sent its Needs Review box
    as the page had loaded it, so renaming a chunk a run had since reviewed marked it again."""
    from playwright.async_api import expect

    from agents_store.models import ChunkStatus

    doc = {
        "name": "Typed params",
        "loom_url": LOOM,
        "params": {"count": 3, "flag": True, "nothing": None, "who": "me"},
        "chunks": [
            {"name": "Wait", "actions": [{"type": "sleep", "seconds": 0}]},
            {"name": "Unsure", "status": "Needs Review", "actions": [{"type": "sleep", "seconds": 0}]},
        ],
    }
    agent = store.create(parse_definition(doc))
    await page.goto(f"{dashboard_url}/agents/{agent.id}")
    await expect(page.locator("#param-flag")).to_have_value("true")
    await expect(page.locator("#param-nothing")).to_have_value("")
    await page.fill("#param-who", "you")
    body = await page.evaluate("formBody(document.getElementById('run-form'))")
    assert body["params"] == {"who": "you"}

    # A verification run approved "Unsure" after this page loaded: it is reviewed, with no new version.
    store.update_chunk_status(agent.chunks[1].id, ChunkStatus.COMPLETED, attempts=1)
    await page.locator('tr[data-order="2"]').get_by_role("button", name="Edit").click()
    await page.fill(f"#name-{agent.chunks[1].id}", "Checked")
    await page.get_by_role("button", name="Save chunk").click()
    await expect(page.get_by_test_id("agent-version")).to_have_text("version 2")
    saved = store.get(agent.id).chunks[1]
    assert (saved.name, saved.status) == ("Checked", ChunkStatus.COMPLETED)


async def test_a_refused_download_or_duplicate_says_why_and_keeps_its_button(
    page: Page, dashboard_url: str, store: AgentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused YAML download (a secret pasted into the agent) only cancelled the download, and
    a refused Duplicate replaced its own button with the message."""
    from playwright.async_api import expect

    monkeypatch.setenv("AGENTCTL_SECRET_PASTED", "pasted-s3cret-value")
    doc = {
        "name": "Pasted",
        "loom_url": LOOM,
        "params": {"token": "pasted-s3cret-value"},
        "chunks": [{"name": "Wait", "actions": [{"type": "sleep", "seconds": 0}]}],
    }
    agent = store.create(parse_definition(doc))
    await page.goto(f"{dashboard_url}/agents/{agent.id}")
    await page.get_by_test_id("download-yaml").click()
    refusal = page.locator('[data-testid="download-yaml"] + .form-error')
    await expect(refusal).to_contain_text("secret")
    assert "pasted-s3cret-value" not in await refusal.inner_text()

    store.delete(agent.id)  # from another window
    await page.get_by_role("button", name="Duplicate").click()
    await expect(page.locator("form + .form-error")).to_contain_text(f"no agent {agent.id}")
    await expect(page.get_by_role("button", name="Duplicate")).to_be_visible()


async def test_a_live_run_page_drops_the_failure_panel_of_the_run_before(
    page: Page, dashboard_url: str, store: AgentStore
) -> None:
    """Rows went Completed as a new run went, but the red panel (and screenshot) of the previous
    run's failure stayed under them until a reload; a chunk failing live got no panel at all."""
    from playwright.async_api import expect

    from agents_store.models import ChunkStatus

    doc = {
        "name": "Again",
        "loom_url": LOOM,
        "chunks": [{"name": "Wait", "actions": [{"type": "sleep", "seconds": 0}]}],
    }
    agent = store.create(parse_definition(doc))
    chunk = agent.chunks[0]
    store.update_chunk_status(
        chunk.id, ChunkStatus.FAILED, attempts=3, error_details={"type": "Old", "message": "before"}
    )
    await page.goto(f"{dashboard_url}/agents/{agent.id}")
    panel = page.locator(f'tr.failure[data-failure-for="{chunk.id}"]')
    await expect(panel).to_contain_text("Old: before")

    row = {"id": str(chunk.id), "in_run": True, "attempts": 1, "screenshot": None, "task_run": None}
    same = {**row, "status": "Failed", "error_summary": "Old: before"}
    await page.evaluate("chunk => updateRows(document, [chunk])", same)
    await expect(panel.locator("details.raw")).to_have_count(1)  # the page's own panel, all details, stays
    await page.evaluate(
        "chunk => updateRows(document, [chunk])", {**row, "status": "Completed", "error_summary": None}
    )
    await expect(panel).to_have_count(0)
    failed = {**row, "status": "Failed", "error_summary": "ElementNotFound: no element matches '#x'"}
    await page.evaluate("chunk => updateRows(document, [chunk])", failed)
    await expect(panel).to_contain_text("ElementNotFound: no element matches '#x'")


async def test_a_long_name_without_spaces_does_not_widen_the_page(
    page: Page, dashboard_url: str, store: AgentStore
) -> None:
    doc = {
        "name": "x" * 200,
        "loom_url": LOOM,
        "chunks": [{"name": "y" * 200, "actions": [{"type": "sleep", "seconds": 0}]}],
    }
    agent = store.create(parse_definition(doc))
    for path in ("/", f"/agents/{agent.id}"):
        await page.goto(f"{dashboard_url}{path}")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1440, f"{path} is {width} px wide"
