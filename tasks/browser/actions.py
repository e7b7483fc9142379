"""Browser actions: one small handler per action type, registered by type.

Every handler gets the action with its templates already rendered. Playwright's errors are turned
into the project's own (``ElementNotFound``, ``ActionTimeout``, ``AssertionFailed``…) at this
boundary, with the original as the cause; their messages are masked by the caller.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from agents_store.models import (
    Action,
    CheckAction,
    ClickAction,
    DblclickAction,
    ExpectTextAction,
    ExpectVisibleAction,
    ExtractAction,
    FillAction,
    GotoAction,
    HoverAction,
    PressAction,
    ScreenshotAction,
    SelectAction,
    SelectorAction,
    SleepAction,
    TypeAction,
    UncheckAction,
    UploadAction,
    WaitForAction,
    WaitForUrlAction,
    browser_url,
    goto_url_problem,
    selectors_of,
    url_scheme,
)
from tasks.errors import (
    ActionError,
    ActionTimeout,
    AssertionFailed,
    ElementNotFound,
    UnsafeAction,
    UnusableUrl,
)

if TYPE_CHECKING:
    from playwright.async_api import Locator, Page

__all__ = ["BrowserActionContext", "Outcome", "playwright_message", "run_browser_action", "screenshot_page"]

logger = logging.getLogger("agentctl.actions")

_UNSAFE_SCHEMES = ("file:", "chrome:", "chrome-extension:", "javascript:", "data:", "view-source:", "about:")
"""Examples of what ``goto`` refuses; the rule itself is an allow-list (``models.SAFE_URL_SCHEMES``)."""


@dataclass
class BrowserActionContext:
    """What a browser action may use besides the page."""

    page: Page
    timeout_ms: int
    artifacts_dir: Path
    upload_dir: Path
    allow_unsafe_urls: bool = False
    sensitive_locators: list[Locator] = field(default_factory=list)
    """Elements that received a secret: screenshots paint over them."""
    secret_values: list[str] = field(default_factory=list)
    """The run's secrets: screenshots paint over any element that shows one."""
    chunk_order: int = 0


@dataclass
class Outcome:
    """What one action did, for logs, the chunk result and error details."""

    selector_used: str | None = None
    fallback_from: str | None = None
    var: tuple[str, Any] | None = None
    screenshot: Path | None = None


A = TypeVar("A", bound=Action)
Handler = Callable[[Any, BrowserActionContext], Awaitable[Outcome]]
_HANDLERS: dict[str, Handler] = {}


def _handles(*types: type[Any]) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for action_type in types:
            name = action_type.model_fields["type"].annotation.__args__[0]
            _HANDLERS[name] = handler
        return handler

    return register


async def run_browser_action(
    action: Action, ctx: BrowserActionContext, *, sensitive: bool = False
) -> Outcome:
    """Run one rendered browser action on the run's page."""
    from playwright.async_api import Error as PlaywrightError

    handler = _HANDLERS[action.type]
    try:
        outcome = await handler(action, ctx)
    except ActionError:
        raise
    except PlaywrightError as e:  # anything the handler did not classify itself
        raise ActionError(playwright_message(e), page_url=ctx.page.url) from e
    if sensitive and outcome.selector_used is not None:
        ctx.sensitive_locators.append(ctx.page.locator(outcome.selector_used))
    return outcome


# --------------------------------------------------------------------------- selectors


async def _element(
    action: SelectorAction, ctx: BrowserActionContext, *, state: str = "attached"
) -> tuple[Locator, Outcome]:
    """The first of the action's selectors that matches, without waiting a full timeout per miss.

    All alternatives are raced with ``locator.or_`` and the winner is the first, in the given
    order, that matches once something appeared.
    """
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    selectors = selectors_of(action.selector)
    timeout = _timeout(action, ctx)
    page = ctx.page
    if len(selectors) == 1:
        return page.locator(selectors[0]).first, Outcome(selector_used=selectors[0])
    combined = page.locator(selectors[0])
    for alternative in selectors[1:]:
        combined = combined.or_(page.locator(alternative))
    try:
        await combined.first.wait_for(state=state, timeout=timeout)  # type: ignore[arg-type]
        for selector in selectors:
            if await page.locator(selector).count() > 0:
                outcome = Outcome(selector_used=selector)
                if selector != selectors[0]:
                    outcome.fallback_from = selectors[0]
                    logger.info(
                        "chunk %s: selector %r matched no element; used fallback %r",
                        ctx.chunk_order,
                        selectors[0],
                        selector,
                    )
                return page.locator(selector).first, outcome
    except PlaywrightTimeout as e:
        raise ElementNotFound(
            f"none of {len(selectors)} selectors matched within {timeout:.0f} ms: {', '.join(selectors)}",
            selector_tried=selectors,
            page_url=page.url,
        ) from e
    except PlaywrightError as e:
        raise ActionError(
            f"bad selector: {playwright_message(e)}", selector_tried=selectors, page_url=page.url
        ) from e
    raise ElementNotFound(
        f"an element appeared and went away before it could be used: {', '.join(selectors)}",
        selector_tried=selectors,
        page_url=page.url,
    )


async def _act(
    action: SelectorAction,
    ctx: BrowserActionContext,
    do: Callable[[Locator, float], Awaitable[Any]],
) -> Outcome:
    """Find the element and act on it, telling "not there" apart from "there but stuck"."""
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    locator, outcome = await _element(action, ctx)
    timeout = _timeout(action, ctx)
    try:
        await do(locator, timeout)
    except PlaywrightTimeout as e:
        selector = outcome.selector_used or ""
        if await ctx.page.locator(selector).count() == 0:
            raise ElementNotFound(
                f"no element matches {selector!r} (waited {timeout:.0f} ms)",
                selector_tried=selectors_of(action.selector),
                page_url=ctx.page.url,
            ) from e
        why = _why_stuck(e)
        raise ActionTimeout(
            f"{action.type} on {selector!r} did not complete in {timeout:.0f} ms: {playwright_message(e)}"
            + (f" ({why})" if why else ""),
            selector_tried=selectors_of(action.selector),
            page_url=ctx.page.url,
        ) from e
    except PlaywrightError as e:
        raise ActionError(
            f"{action.type} on {outcome.selector_used!r} failed: {playwright_message(e)}",
            selector_tried=selectors_of(action.selector),
            page_url=ctx.page.url,
        ) from e
    return outcome


def _timeout(action: Any, ctx: BrowserActionContext) -> float:
    return float(getattr(action, "timeout_ms", None) or ctx.timeout_ms)


_STUCK = re.compile(r"^\s*-\s*((?:element is (?:not|outside)|.*intercepts pointer events).*)$", re.MULTILINE)


def _why_stuck(error: BaseException) -> str | None:
    """What Playwright last waited for ("element is not stable", "… intercepts pointer events").

    Playwright says it only in the call log of its timeout, which ``playwright_message`` drops; without
    it an ``ActionTimeout`` reads "Timeout 1000ms exceeded" and does not say why the element was
    not usable (moving, hidden, disabled, covered).
    """
    found = _STUCK.findall(str(error))
    return str(found[-1]).strip()[:200] if found else None


def playwright_message(error: BaseException) -> str:
    """A Playwright error's first useful line, without the API name and the call log."""
    text = str(error).strip()
    for prefix in ("Locator.", "Page.", "LocatorAssertions."):
        if text.startswith(prefix):
            text = text.split(": ", 1)[-1]
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("Call log")]
    return lines[0][:300] if lines else type(error).__name__


# --------------------------------------------------------------------------- handlers


@_handles(GotoAction)
async def _goto(action: GotoAction, ctx: BrowserActionContext) -> Outcome:
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    url = browser_url(action.url)
    problem = goto_url_problem(url, allow_unsafe_urls=ctx.allow_unsafe_urls)
    if problem is not None:  # checked at import for a literal URL; one from a param lands here
        refusal = UnsafeAction if url_scheme(url) else UnusableUrl  # a relative URL is not dangerous
        raise refusal(problem, page_url=ctx.page.url)
    timeout = _timeout(action, ctx)
    try:
        await ctx.page.goto(url, timeout=timeout)
    except PlaywrightTimeout as e:
        raise ActionTimeout(f"{url} did not load in {timeout:.0f} ms", page_url=url) from e
    except PlaywrightError as e:
        raise ActionError(f"could not open {url}: {playwright_message(e)}", page_url=url) from e
    return Outcome()


@_handles(ClickAction)
async def _click(action: ClickAction, ctx: BrowserActionContext) -> Outcome:
    return await _act(action, ctx, lambda el, t: el.click(timeout=t))


@_handles(DblclickAction)
async def _dblclick(action: DblclickAction, ctx: BrowserActionContext) -> Outcome:
    return await _act(action, ctx, lambda el, t: el.dblclick(timeout=t))


@_handles(HoverAction)
async def _hover(action: HoverAction, ctx: BrowserActionContext) -> Outcome:
    return await _act(action, ctx, lambda el, t: el.hover(timeout=t))


@_handles(CheckAction)
async def _check(action: CheckAction, ctx: BrowserActionContext) -> Outcome:
    return await _act(action, ctx, lambda el, t: el.check(timeout=t))


@_handles(UncheckAction)
async def _uncheck(action: UncheckAction, ctx: BrowserActionContext) -> Outcome:
    return await _act(action, ctx, lambda el, t: el.uncheck(timeout=t))


@_handles(FillAction)
async def _fill(action: FillAction, ctx: BrowserActionContext) -> Outcome:
    return await _act(action, ctx, lambda el, t: el.fill(action.value, timeout=t))


@_handles(TypeAction)
async def _type(action: TypeAction, ctx: BrowserActionContext) -> Outcome:
    delay = float(action.delay_ms or 0)
    return await _act(action, ctx, lambda el, t: el.press_sequentially(action.text, delay=delay, timeout=t))


@_handles(PressAction)
async def _press(action: PressAction, ctx: BrowserActionContext) -> Outcome:
    return await _act(action, ctx, lambda el, t: el.press(action.key, timeout=t))


@_handles(SelectAction)
async def _select(action: SelectAction, ctx: BrowserActionContext) -> Outcome:
    return await _act(action, ctx, lambda el, t: el.select_option(action.value, timeout=t))


@_handles(UploadAction)
async def _upload(action: UploadAction, ctx: BrowserActionContext) -> Outcome:
    root = ctx.upload_dir
    path = (root / action.path).resolve()
    if not path.is_relative_to(root):
        raise UnsafeAction(
            f"upload path {action.path!r} leaves the upload folder {root}; "
            "agents may only upload files from there (AGENTCTL_UPLOAD_DIR)",
            page_url=ctx.page.url,
        )
    if not path.is_file():
        raise ActionError(
            f"upload: no file {action.path!r} in the upload folder {root}", page_url=ctx.page.url
        )
    return await _act(action, ctx, lambda el, t: el.set_input_files(str(path), timeout=t))


@_handles(WaitForAction)
async def _wait_for(action: WaitForAction, ctx: BrowserActionContext) -> Outcome:
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    selectors = selectors_of(action.selector)
    state = action.state
    if state in ("visible", "attached"):
        if len(selectors) > 1:
            _, outcome = await _element(action, ctx, state=state)
            return outcome
        return await _act(action, ctx, lambda el, t: el.wait_for(state=state, timeout=t))
    # hidden / detached: wait until none of the alternatives is left
    combined = ctx.page.locator(selectors[0])
    for alternative in selectors[1:]:
        combined = combined.or_(ctx.page.locator(alternative))
    timeout = _timeout(action, ctx)
    try:
        await combined.first.wait_for(state=state, timeout=timeout)
    except PlaywrightTimeout as e:
        raise ActionTimeout(
            f"{', '.join(selectors)} still {'visible' if state == 'hidden' else 'attached'} "
            f"after {timeout:.0f} ms",
            selector_tried=selectors,
            page_url=ctx.page.url,
        ) from e
    return Outcome()


@_handles(WaitForUrlAction)
async def _wait_for_url(action: WaitForUrlAction, ctx: BrowserActionContext) -> Outcome:
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    timeout = _timeout(action, ctx)
    pattern: str | re.Pattern[str] = action.url
    try:
        await ctx.page.wait_for_url(pattern, timeout=timeout)
    except PlaywrightTimeout as e:
        raise ActionTimeout(
            f"the page did not reach {action.url!r} in {timeout:.0f} ms (it is at {ctx.page.url})",
            page_url=ctx.page.url,
        ) from e
    return Outcome()


@_handles(ExpectTextAction)
async def _expect_text(action: ExpectTextAction, ctx: BrowserActionContext) -> Outcome:
    from playwright.async_api import expect

    locator, outcome = await _element(action, ctx)
    timeout = _timeout(action, ctx)
    try:
        if action.exact:
            await expect(locator).to_have_text(action.text, timeout=timeout)
        else:
            await expect(locator).to_contain_text(action.text, timeout=timeout)
    except AssertionError as e:
        await _raise_if_missing(locator, action, ctx, outcome, e)
        actual = await _text_now(locator)
        how = "exactly" if action.exact else "containing"
        raise AssertionFailed(
            f"expected text {how} {action.text!r} in {outcome.selector_used!r}, found {actual!r}",
            selector_tried=selectors_of(action.selector),
            page_url=ctx.page.url,
            details={"expected": action.text, "actual": actual},
        ) from e
    return outcome


@_handles(ExpectVisibleAction)
async def _expect_visible(action: ExpectVisibleAction, ctx: BrowserActionContext) -> Outcome:
    from playwright.async_api import expect

    locator, outcome = await _element(action, ctx)
    try:
        await expect(locator).to_be_visible(timeout=_timeout(action, ctx))
    except AssertionError as e:
        await _raise_if_missing(locator, action, ctx, outcome, e)
        raise AssertionFailed(
            f"expected {outcome.selector_used!r} to be visible, it is hidden",
            selector_tried=selectors_of(action.selector),
            page_url=ctx.page.url,
        ) from e
    return outcome


@_handles(ExtractAction)
async def _extract(action: ExtractAction, ctx: BrowserActionContext) -> Outcome:
    locator, outcome = await _element(action, ctx)
    timeout = _timeout(action, ctx)
    if action.attribute:
        value = await locator.get_attribute(action.attribute, timeout=timeout)
        if value is None:
            raise ElementNotFound(
                f"{outcome.selector_used!r} has no attribute {action.attribute!r}",
                selector_tried=selectors_of(action.selector),
                page_url=ctx.page.url,
            )
    else:
        value = (await locator.inner_text(timeout=timeout)).strip()
    outcome.var = (action.var, value)
    return outcome


@_handles(ScreenshotAction)
async def _screenshot(action: ScreenshotAction, ctx: BrowserActionContext) -> Outcome:
    name = action.name or "screenshot"
    path = ctx.artifacts_dir / f"chunk-{ctx.chunk_order:02d}-{name}.png"
    await screenshot_page(ctx.page, path, ctx.sensitive_locators, ctx.secret_values)
    return Outcome(screenshot=path)


async def screenshot_page(page: Page, path: Path, sensitive: list[Locator], secrets: list[str]) -> Path:
    """A full-page screenshot with every element that received a secret, or shows one, painted over.

    Pixels cannot be masked afterwards as text is: a page that shows a key back ("your API key:
    …"), or a token from its URL, would otherwise put the secret in the picture.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    mask = [*sensitive, *(page.get_by_text(secret) for secret in secrets)]
    await page.screenshot(path=str(path), full_page=True, mask=mask or None, animations="disabled")
    return path


async def _raise_if_missing(
    locator: Locator, action: SelectorAction, ctx: BrowserActionContext, outcome: Outcome, error: Exception
) -> None:
    """An expectation that failed because no element is there says so: it read "it is hidden" or
    "found '<no text>'", which sends one looking at the element's style or text, not the selector."""
    if await locator.count() == 0:
        raise ElementNotFound(
            f"no element matches {outcome.selector_used!r} (waited {_timeout(action, ctx):.0f} ms)",
            selector_tried=selectors_of(action.selector),
            page_url=ctx.page.url,
        ) from error


async def _text_now(locator: Locator) -> str:
    try:
        return (await locator.inner_text(timeout=500)).strip()[:200]
    except Exception:  # noqa: BLE001 - best effort, for the error message only
        return "<no text>"


async def run_sleep(action: SleepAction) -> Outcome:
    await asyncio.sleep(action.seconds)
    return Outcome()
