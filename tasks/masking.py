"""Keeping secret values out of everything a run writes: logs, error details, artifacts, traces.

A ``SecretMasker`` knows the run's secret values and replaces each with ``***`` — in plain text and
in the encodings a value takes on its way into JSON, URLs and HTML, because a trace or a log line may
hold any of them.
"""

from __future__ import annotations

import html
import json
import logging
import urllib.parse
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["MASK", "MaskingFilter", "SecretMasker", "masking_logs"]

MASK = "***"
_MIN_SECRET_LENGTH = 3  # shorter values would mask ordinary text everywhere


class SecretMasker:
    """Replaces the run's secret values (and their encoded forms) with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._forms: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        if len(secret) < _MIN_SECRET_LENGTH:
            return
        forms = {
            secret,
            json.dumps(secret)[1:-1],
            urllib.parse.quote(secret, safe=""),
            urllib.parse.quote_plus(secret),
            html.escape(secret),
            html.escape(secret, quote=False),
        }
        self._forms = sorted(set(self._forms) | forms, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._forms)

    @property
    def forms(self) -> list[str]:
        """Every encoded form, longest first (for scrubbing bytes, e.g. in a trace)."""
        return list(self._forms)

    def mask(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        return text

    def mask_data(self, value: Any) -> Any:
        """Strings inside dicts and lists masked; other values unchanged."""
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {self.mask(str(k)): self.mask_data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.mask_data(v) for v in value]
        return value

    def mask_bytes(self, data: bytes) -> bytes:
        for form in self._forms:
            encoded = form.encode("utf-8")
            if encoded in data:
                data = data.replace(encoded, MASK.encode())
        return data


class MaskingFilter(logging.Filter):
    """A logging filter that masks secrets in each record's final message."""

    def __init__(self, masker: SecretMasker) -> None:
        super().__init__("agentctl-masking")
        self.masker = masker

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.masker:
            return True
        message = record.getMessage()
        masked = self.masker.mask(message)
        if masked != message:
            record.msg = masked
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            text = self.masker.mask(logging.Formatter().formatException(record.exc_info))
            # The record is shared by every handler: the ones after this filter see the masked text
            # only, and the exception's type (not the exception: its message is not masked).
            record.exception_type = type(record.exc_info[1])
            record.exc_info = None
            record.exc_text = text
        return True


def _all_handlers() -> Iterator[logging.Handler]:
    seen: set[int] = set()
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [
        logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if id(handler) not in seen:
                seen.add(id(handler))
                yield handler


@contextmanager
def masking_logs(masker: SecretMasker) -> Iterator[MaskingFilter]:
    """Mask secrets in every handler of the process (console, Prefect's API log handler) while active.

    Handler filters run for records of every logger that reaches the handler, so one filter per
    handler covers Prefect's, Playwright's, httpx's and ours.
    """
    mask_filter = MaskingFilter(masker)
    handlers = list(_all_handlers())
    for handler in handlers:
        handler.addFilter(mask_filter)
    try:
        yield mask_filter
    finally:
        for handler in handlers:
            handler.removeFilter(mask_filter)
