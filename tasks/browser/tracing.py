"""Playwright traces per chunk, with the run's secrets scrubbed out.

A trace records what each action typed and the DOM it produced, so a chunk that fills a secret
would carry it. Every trace chunk is rewritten after Playwright saves it: each encoded form of each
secret (raw, JSON-escaped, URL- and HTML-encoded) becomes ``***`` in every text member of the zip.
The result still opens in ``playwright show-trace``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from tasks.browser.session import RunBrowser
from tasks.masking import SecretMasker

__all__ = ["scrub_trace", "start_trace_chunk", "stop_trace_chunk"]

_BINARY_SUFFIXES = (".jpeg", ".jpg", ".png", ".webp", ".woff", ".woff2", ".ttf")


async def start_trace_chunk(browser: RunBrowser, title: str) -> bool:
    """Begin a trace chunk; False when this run records no trace."""
    if not browser.trace:
        return False
    await browser.page()
    context = browser.context
    if context is None:
        return False
    await context.tracing.start_chunk(title=title)
    return True


async def stop_trace_chunk(browser: RunBrowser, path: Path, masker: SecretMasker) -> Path | None:
    """Save the current trace chunk to ``path``, scrubbed of secrets."""
    context = browser.context
    if context is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    await context.tracing.stop_chunk(path=str(path))
    scrub_trace(path, masker)
    return path


def scrub_trace(path: Path, masker: SecretMasker) -> None:
    """Rewrite the trace zip with every secret form masked (a no-op when the run has no secrets)."""
    if not masker:
        return
    scrubbed = path.with_suffix(".scrubbing")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(scrubbed, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item)
            if not item.filename.lower().endswith(_BINARY_SUFFIXES):
                data = masker.mask_bytes(data)
            target.writestr(item, data)
    scrubbed.replace(path)
