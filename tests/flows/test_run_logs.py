"""Our loggers after a run attached Prefect's handlers to them, in a process that lives on."""

from __future__ import annotations

import logging

import pytest

from flows.run_logs import attach_to_prefect


@pytest.mark.usefixtures("prefect_harness")
def test_a_line_logged_outside_any_run_stays_local(caplog: pytest.LogCaptureFixture) -> None:
    """The dashboard or a test session logs between runs: Prefect's API handler, which has no run
    to file such a line under, must not see it (it warns — an error under ``-W error``, as here)."""
    import prefect.main  # noqa: F401 - configures Prefect's logging, as every flow run has by then
    from prefect.logging.handlers import APILogHandler

    attach_to_prefect()
    logger = logging.getLogger("agentctl.session")
    handlers = logging.getLogger("agentctl").handlers
    assert any(isinstance(getattr(h, "target", None), APILogHandler) for h in handlers)
    assert not any(isinstance(h, APILogHandler) for h in handlers)
    with caplog.at_level(logging.WARNING, logger="agentctl"):
        logger.warning("between runs: %s", "kept on this machine")
    attach_to_prefect()  # a second run in the same process adds nothing twice
    assert len(logging.getLogger("agentctl").handlers) == len(handlers)
