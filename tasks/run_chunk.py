"""The Prefect task that runs one chunk: its actions in order, its retries, its evidence.

Retries are Prefect's (``retries`` / ``retry_delay_seconds`` set per chunk by the flow). Each attempt
starts where the chunk started — a retried chunk first returns the page to the URL it began on — and
every failed attempt is reported to the observer, which writes it to the store; on the last one the
report is the chunk's ``error_details``.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import ValidationError

from agents_store.models import Action, BrowserAction, GotoAction, HttpAction, SleepAction, url_scheme
from agents_store.templates import references
from tasks.browser.actions import (
    BrowserActionContext,
    Outcome,
    playwright_message,
    run_browser_action,
    run_sleep,
    screenshot_page,
)
from tasks.errors import ActionError, TemplateError, UnsafeAction
from tasks.http import UrlGuard, idempotency_key, run_http_action
from tasks.runtime import AttemptRecord, RunRuntime, no_retry_helps, worth_retrying
from tasks.secrets import secrets_in
from tasks.steps import ChunkResult, ChunkStep
from tasks.templating import as_text, render, render_url

__all__ = ["run_chunk"]

logger = logging.getLogger("agentctl.chunks")


def _task_run_name() -> str:
    """``NN · chunk name``: read from the (quoted) step parameter, so Prefect never walks the step."""
    from prefect.runtime import task_run

    step = task_run.parameters["step"]
    step = step.unquote() if hasattr(step, "unquote") else step
    return str(step.title)


@task(
    name="run-chunk",
    task_run_name=_task_run_name,
    cache_policy=NO_CACHE,
    persist_result=False,
    log_prints=False,
    retry_condition_fn=worth_retrying,
)
async def run_chunk(step: ChunkStep, runtime: RunRuntime) -> ChunkResult:
    """Run one chunk's actions in order on the run's page and HTTP client."""
    from prefect.runtime import task_run

    attempt = runtime.next_attempt(step.order)
    await runtime.observer.attempt_started(step, attempt)
    started = time.perf_counter()
    result = ChunkResult(order=step.order, attempts=attempt, duration_seconds=0.0)
    index = -1
    action: Action | None = None
    try:
        if step.needs_browser:
            await _return_to_start(step, attempt, runtime)
        for index, action in enumerate(step.actions):
            if runtime.debug:  # debugging mode's verbose log: each action as it runs, secrets masked
                logger.debug("%s, action %s: %s", step.label, index + 1, _shown(action, runtime))
                began = time.perf_counter()
            outcome = await _run_action(step, index, action, runtime)
            _note(result, index, outcome)
            if runtime.debug:
                matched = f", matched {outcome.selector_used!r}" if outcome.selector_used else ""
                took = (time.perf_counter() - began) * 1000
                logger.debug("%s, action %s done in %.0f ms%s", step.label, index + 1, took, matched)
            if runtime.debug and isinstance(action, BrowserAction):
                # Per attempt, as traces are: a retried chunk's first screenshots are what to compare.
                shot = await _screenshot(runtime, step, f"action-{index + 1:02d}-attempt-{attempt}")
                result.screenshots.append(str(shot))
    except Exception as error:
        details = await _failure_details(step, attempt, index, action, error, runtime, str(task_run.id or ""))
        final = attempt > step.retries or runtime.cancelled or no_retry_helps(error)  # as worth_retrying
        earlier = runtime.failed_attempts.setdefault(step.order, [])
        if final:
            details["attempt_errors"] = [
                {k: r.error[k] for k in ("attempt", "type", "message", "at") if k in r.error} for r in earlier
            ] + [{k: details[k] for k in ("attempt", "type", "message", "at")}]
        earlier.append(AttemptRecord(attempt, details))
        await runtime.observer.attempt_failed(step, attempt, details, final=final)
        logger.warning("%s, attempt %s of %s: %s", step.label, attempt, step.retries + 1, details["message"])
        logger.debug("%s failed with", step.label, exc_info=error)
        raise _masked(error, details) from None
    result.duration_seconds = time.perf_counter() - started
    await runtime.observer.chunk_completed(step, result)
    return result


async def _return_to_start(step: ChunkStep, attempt: int, runtime: RunRuntime) -> None:
    """A retry starts on the page the chunk started on: a web page only.

    A chunk that started on the browser's error page (the chunk before it failed to load a site, and
    a person stepped on past it in debugging mode) starts its retries where it is; loading
    ``chrome-error://…`` failed with a raw "net::ERR_ABORTED" that hid the chunk's own error.
    """
    from playwright.async_api import Error as PlaywrightError

    page = await runtime.browser.page()
    if attempt == 1:
        runtime.start_urls[step.order] = page.url
        return
    start = runtime.start_urls.get(step.order, "about:blank")
    if url_scheme(start) not in ("http", "https"):
        return
    logger.info("%s: retry %s starts again from %s", step.label, attempt, start)
    try:
        await page.goto(start, timeout=step.action_timeout_ms)
    except PlaywrightError as e:
        raise ActionError(
            f"retry {attempt} could not return to {start}, where the chunk started: {playwright_message(e)}",
            page_url=start,
        ) from e


async def _run_action(step: ChunkStep, index: int, action: Action, runtime: RunRuntime) -> Outcome:
    rendered = _render(action, runtime) if step.is_templated(index) else action
    if isinstance(rendered, SleepAction):
        return await run_sleep(rendered)
    if isinstance(rendered, HttpAction):
        key = idempotency_key(runtime.flow_run_id, step.chunk_id, index)
        guard = _secret_guard(step, index, action, rendered, runtime)
        answer = await run_http_action(rendered, runtime.http, key=key, guard=guard)
        if rendered.var:
            runtime.templates.vars[rendered.var] = answer.as_var()
            return Outcome(var=(rendered.var, answer.as_var()))
        return Outcome()
    page = await runtime.browser.page()
    ctx = BrowserActionContext(
        page=page,
        timeout_ms=step.action_timeout_ms,
        artifacts_dir=runtime.artifacts_dir,
        upload_dir=runtime.upload_dir,
        allow_unsafe_urls=step.allow_unsafe_urls,
        sensitive_locators=runtime.sensitive_locators,
        secret_values=runtime.masker.values,
        chunk_order=step.order,
    )
    outcome = await run_browser_action(rendered, ctx, sensitive=index in step.secret_actions)
    if outcome.var is not None:
        runtime.templates.vars[outcome.var[0]] = outcome.var[1]
    return outcome


def _secret_guard(
    step: ChunkStep, index: int, action: Action, rendered: HttpAction, runtime: RunRuntime
) -> UrlGuard | None:
    """A check of every URL the request goes to, when it carries a secret bound to some hosts.

    A secret counts as carried when the action's templates name it, or when its value shows in the
    rendered request (it came in through a var).
    """
    bindings = runtime.secret_hosts
    if not bindings:
        return None
    named = {
        r.name
        for r in references(action.model_dump(by_alias=True, exclude={"type"}))
        if r.namespace == "secrets"
    }
    bound_values = {n: v for n, v in runtime.templates.secrets.items() if n in bindings}
    found = secrets_in(rendered.model_dump(by_alias=True, exclude_none=True), bound_values)
    carried = sorted((named | found) & set(bindings))
    if not carried:
        return None

    def guard(url: str) -> None:
        for name in carried:
            if not bindings[name].allows(url):
                raise UnsafeAction(
                    f"{step.label}, action {index + 1} (http): refused before sending: "
                    f"{bindings[name].refusal(url)}",
                    action_index=index,
                    action_type="http",
                )

    return guard


def _render(action: Action, runtime: RunRuntime) -> Action:
    """The action with its templates replaced.

    A field that is one whole template takes the value as it is (a number stays a number in a JSON
    body); where the action wants text (a fill's ``value``), a number or a boolean — a param sent
    as JSON by the dashboard, Prefect's API or a schedule — is typed as the text it shows: it was a
    raw pydantic error on the chunk's every try.

    Raises:
        TemplateError: the rendered value does not fit the field, naming it.
    """
    data = action.model_dump(by_alias=True, exclude_none=True)
    if isinstance(action, GotoAction | HttpAction):
        data = {**data, "url": render_url(action.url, runtime.templates)}
    rendered = render(data, runtime.templates)
    try:
        return type(action).model_validate(rendered)
    except ValidationError as e:
        for error in e.errors():
            if error["type"] == "string_type" and isinstance(_at(data, error["loc"]), str):
                _set(rendered, error["loc"], as_text(error["input"]))
        try:
            return type(action).model_validate(rendered)
        except ValidationError as still:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in err['loc'])}: {err['msg'].lower()}"
                for err in still.errors(include_url=False)
            )
            raise TemplateError(f"after its templates, the action does not fit: {problems}") from None


def _at(data: Any, loc: tuple[int | str, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _set(data: Any, loc: tuple[int | str, ...], value: Any) -> None:
    for part in loc[:-1]:
        data = data[part]
    data[loc[-1]] = value


def _note(result: ChunkResult, index: int, outcome: Outcome) -> None:
    if outcome.selector_used is not None:
        result.selectors_used[index] = outcome.selector_used
    if outcome.fallback_from is not None and outcome.selector_used is not None:
        result.fallbacks[index] = outcome.selector_used
    if outcome.var is not None:
        result.vars_set.append(outcome.var[0])
    if outcome.screenshot is not None:
        result.screenshots.append(str(outcome.screenshot))


async def _screenshot(runtime: RunRuntime, step: ChunkStep, name: str) -> Path:
    page = await runtime.browser.page()
    path = runtime.artifacts_dir / f"chunk-{step.order:02d}-{name}.png"
    return await screenshot_page(page, path, runtime.sensitive_locators, runtime.masker.values)


async def _failure_details(
    step: ChunkStep,
    attempt: int,
    index: int,
    action: Action | None,
    error: BaseException,
    runtime: RunRuntime,
    task_run_id: str,
) -> dict[str, Any]:
    """``error_details`` as the format defines them, every string masked."""
    mask = runtime.masker.mask
    screenshot: str | None = None
    page_url: str | None = getattr(error, "page_url", None)
    if runtime.browser.started:
        try:
            page = await runtime.browser.page()
            page_url = page_url or page.url
            shot = await _screenshot(runtime, step, f"failed-attempt-{attempt}")
            screenshot = str(shot)
        except Exception as shot_error:  # noqa: BLE001 - evidence is best effort; the failure is what matters
            logger.debug("no failure screenshot for %s: %s", step.label, shot_error)
    message = error.message if isinstance(error, ActionError) else str(error)
    details: dict[str, Any] = {
        "type": type(error).__name__,
        "message": mask(message) or type(error).__name__,
        "action_index": index if index >= 0 else None,
        "action": _masked_action(action, runtime) if action is not None else None,
        "selector_tried": getattr(error, "selector_tried", None),
        "page_url": mask(page_url) if page_url else None,
        "attempt": attempt,
        "attempts": attempt,
        "screenshot": screenshot,
        "flow_run_id": str(runtime.flow_run_id),
        "task_run_id": task_run_id or None,
        "at": datetime.now(UTC).isoformat(),
    }
    extra = getattr(error, "details", None)
    if extra:
        details["details"] = runtime.masker.mask_data(extra)
    return details


def _masked_action(action: Action, runtime: RunRuntime) -> dict[str, Any]:
    """The action with params and vars filled in and every secret shown as ``***``."""
    from tasks.masking import MASK
    from tasks.templating import TemplateContext

    hidden = TemplateContext(
        params=runtime.templates.params,
        vars=runtime.templates.vars,
        secrets={name: MASK for name in runtime.templates.secrets},
    )
    data = action.model_dump(mode="json", by_alias=True, exclude_none=True)
    try:
        shown = render(data, hidden)
    except Exception:  # noqa: BLE001 - an unrenderable action is shown as written
        shown = data
    masked: dict[str, Any] = runtime.masker.mask_data(shown)
    return masked


def _shown(action: Action, runtime: RunRuntime) -> str:
    """``click selector="#go"``: the action as a log line shows it (templates filled, secrets ``***``)."""
    fields = _masked_action(action, runtime)
    kind = fields.pop("type", action.type)
    return f"{kind} " + ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in fields.items())


def _masked(error: BaseException, details: dict[str, Any]) -> BaseException:
    """The exception Prefect sees and stores in its state message: masked, same type when possible."""
    message = str(details["message"])
    if isinstance(error, ActionError):
        clone = type(error).__new__(type(error))
        ActionError.__init__(
            clone,
            message,
            action_index=details["action_index"],
            action_type=error.action_type,
            selector_tried=error.selector_tried,
            page_url=details["page_url"],
        )
        return clone
    if isinstance(error, TemplateError):  # its type tells the retry condition that no retry helps
        return TemplateError(message)
    return ActionError(f"{type(error).__name__}: {message}", action_index=details["action_index"])
