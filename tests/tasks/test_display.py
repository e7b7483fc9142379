"""check_display: a headed browser is refused only where it has no screen."""

from __future__ import annotations

import sys

import pytest

from tasks.browser.session import BrowserUnavailable, check_display


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 and Wayland displays are Linux's")
def test_headed_needs_a_display_headless_does_not() -> None:
    with pytest.raises(BrowserUnavailable, match=r"\$DISPLAY and \$WAYLAND_DISPLAY are empty"):
        check_display(headless=False, environ={})
    with pytest.raises(BrowserUnavailable):
        check_display(headless=False, environ={"DISPLAY": ""})
    check_display(headless=False, environ={"DISPLAY": ":99"})
    check_display(headless=False, environ={"WAYLAND_DISPLAY": "wayland-0"})
    check_display(headless=True, environ={})
