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

__all__ = ["MASK", "MIN_SECRET_LENGTH", "MaskingFilter", "SecretMasker", "masking_logs"]

MASK = "***"
MIN_SECRET_LENGTH = 2
"""Shorter values would mask ordinary text everywhere (a run refuses them: ``resolve_plan_secrets``).
Two characters (a PIN's) are masked, at the cost of that pair wherever a log line has it."""

# The characters the URL standard (WHATWG) percent-encodes in each part of a URL, beyond controls
# and non-ASCII. A browser encodes a URL part by part: Chromium turns ``?t=P@ss w0rd`` into
# ``?t=P@ss%20w0rd``, which is neither the raw value nor Python's ``quote``. Each set is a form a
# secret takes in a page URL (``error_details.page_url``, a saved session, a trace).
_FRAGMENT_SET = ' "<>`'
_QUERY_SET = ' "#<>'
_SPECIAL_QUERY_SET = _QUERY_SET + "'"
_PATH_SET = _QUERY_SET + "?^`{}"
_USERINFO_SET = _PATH_SET + "/:;=@[\\]|"
_COMPONENT_SET = _USERINFO_SET + "$%&+,"
_URL_SETS = (_FRAGMENT_SET, _QUERY_SET, _SPECIAL_QUERY_SET, _PATH_SET, _USERINFO_SET, _COMPONENT_SET)


def _percent_encoded(value: str, encode_set: str) -> str:
    """``value`` as a browser writes it into a URL part whose percent-encode set is ``encode_set``."""
    out: list[str] = []
    for char in value:
        if char in encode_set or not " " <= char <= "~":
            out += [f"%{byte:02X}" for byte in char.encode("utf-8")]
        else:
            out.append(char)
    return "".join(out)


_JSON_DEPTH = 6
"""How many JSON strings deep a secret is still found: a request body a server echoes in a JSON
string (2), an answer relayed into the next call and echoed again (3), and so on; each level
doubles the backslashes, so a few levels cover any real chain of echoes."""


def _json_escaped(secret: str) -> set[str]:
    """``secret`` inside 1 to ``_JSON_DEPTH`` nested JSON strings, each level written with non-ASCII
    characters kept (most servers) or as ``\\uXXXX`` escapes (Python's default)."""
    forms: set[str] = set()
    level = {secret}
    for _ in range(_JSON_DEPTH):
        level = {
            json.dumps(form, ensure_ascii=ascii_only)[1:-1] for form in level for ascii_only in (True, False)
        }
        forms |= level
    return forms


def _repr_escaped(text: str) -> str:
    """``text`` as it shows inside ``repr()`` of a longer string quoted with ``'``: backslashes
    doubled, ``'`` escaped (a string holding both quote kinds gets ``'…'``)."""
    return repr(text + "'\"")[1:-4]


class SecretMasker:
    """Replaces the run's secret values (and their encoded forms) with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._forms: list[str] = []
        self._values: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        if len(secret) < MIN_SECRET_LENGTH:
            return
        escaped = {secret, *_json_escaped(secret)}
        forms = {
            *escaped,
            # Inside a Python repr (a message quoting a page's text: found '…'), each JSON level too.
            *(_repr_escaped(form) for form in escaped),
            urllib.parse.quote(secret, safe=""),
            urllib.parse.quote_plus(secret),
            html.escape(secret),
            html.escape(secret, quote=False),
            # In a page URL as Chromium writes it, raw or inside a JSON body a page put in its URL.
            *(_percent_encoded(form, encode_set) for form in escaped for encode_set in _URL_SETS),
        }
        self._forms = sorted(set(self._forms) | forms, key=len, reverse=True)
        if secret not in self._values:
            self._values.append(secret)

    def __bool__(self) -> bool:
        return bool(self._forms)

    @property
    def values(self) -> list[str]:
        """The secret values themselves, as a page would show them (to paint over in screenshots)."""
        return list(self._values)

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
