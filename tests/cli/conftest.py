from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class CliResult:
    code: int
    out: str
    err: str


CliRunner = Callable[..., CliResult]


@pytest.fixture
def agentctl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> CliRunner:
    """Run ``agentctl ARGS…`` in this process through the real entry point, on a fresh store."""
    from cli.main import main

    monkeypatch.setenv("AGENTCTL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("AGENTCTL_DATABASE_URL", raising=False)

    def run(*args: str, stdin: bytes | None = None) -> CliResult:
        from agents_store.settings import get_settings

        get_settings.cache_clear()
        capsys.readouterr()
        _prefect_console_to(sys.stderr, monkeypatch)
        monkeypatch.setattr(sys, "argv", ["agentctl", *args])
        if stdin is not None:
            import io

            fake = io.TextIOWrapper(io.BytesIO(stdin))
            monkeypatch.setattr(sys, "stdin", fake)
        code = 0
        try:
            main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def _prefect_console_to(stream: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point Prefect's console log handlers at this test's captured stderr, as a command's own
    process would have them. Prefect binds them to the stderr of when it set up logging — an earlier
    test's capture, closed by now ("I/O operation on closed file")."""
    import logging

    handlers_module = sys.modules.get("prefect.logging.handlers")
    if handlers_module is None:  # Prefect not imported yet: it will bind to this stderr itself
        return
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, handlers_module.PrefectConsoleHandler):
                monkeypatch.setattr(handler.console, "file", stream)
