"""Errors raised while running actions (the tree is drawn in ``agents_store/errors.py``).

An ``ActionError`` carries where it happened — chunk, action index, the selector tried, the page —
so that ``error_details`` can say it without parsing messages. Messages are masked before they are
stored or logged; the raising code never puts secret values in them.
"""

from __future__ import annotations

from typing import Any

from agents_store.errors import ExecutionError, TemplateError

__all__ = [
    "ActionError",
    "ActionTimeout",
    "AssertionFailed",
    "ElementNotFound",
    "HttpActionFailed",
    "TemplateError",
    "UnsafeAction",
    "UnusableUrl",
]


class ActionError(ExecutionError):
    """One action of a chunk failed."""

    def __init__(
        self,
        message: str,
        *,
        action_index: int | None = None,
        action_type: str | None = None,
        selector_tried: list[str] | None = None,
        page_url: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.action_index = action_index
        self.action_type = action_type
        self.selector_tried = selector_tried
        self.page_url = page_url
        self.details = details or {}


class ActionTimeout(ActionError):
    """The element was there but the action did not complete in time (hidden, disabled, covered…)."""


class ElementNotFound(ActionError):
    """None of the action's selectors matched an element within the timeout."""


class AssertionFailed(ActionError):
    """An ``expect_*`` action found the page not as the video showed it."""


class HttpActionFailed(ActionError):
    """An ``http`` action got an unexpected status, or no answer."""

    def __init__(self, message: str, *, status: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.status = status


class UnusableUrl(ActionError):
    """A ``goto`` URL, known only at run time, that no page can open (a relative one): not
    dangerous, but no retry opens it either."""


class UnsafeAction(ActionError):
    """An action would reach a dangerous URL, a file outside the allowed folder, or send a secret
    to a host it is not bound to."""
