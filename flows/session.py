"""The browser session after each chunk, kept so a later run can start from the middle.

After every chunk the run saves the context's storage state (cookies, local storage), the page URL
and the vars saved so far to ``$AGENTCTL_HOME/runs/<flow_run_id>/session-after-NN.json`` (mode 0600:
it holds login cookies). ``agentctl run --from-chunk N`` loads the file of chunk N-1 — of the run
given with ``--session-from``, or of this agent's latest run that has one — so a failure in chunk 7
does not mean signing in again by hand. Everything is stored masked: a secret, or a value derived
from one, is never written — a page URL that carries one is kept as ``…***…`` and not reopened (the
next chunk then starts on a blank page, and says so), and a var that holds one is left out (a
resume whose chunks use it is refused before it starts).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents_store.store import AgentStore
from tasks.browser.session import RunBrowser
from tasks.masking import MASK, SecretMasker

__all__ = ["SavedSession", "find_session", "save_session"]

logger = logging.getLogger("agentctl.session")


@dataclass
class SavedSession:
    path: Path
    run_id: uuid.UUID
    after_order: int
    storage_state: dict[str, Any] | None
    """None when the run that saved it had opened no browser yet (``http`` chunks only)."""
    url: str | None
    vars: dict[str, Any]
    withheld_vars: frozenset[str] = frozenset()
    """Vars the run had that held a secret: not kept, so not restored (a resume that needs one is
    refused, naming the chunk that saves it)."""


def session_file(runs_dir: Path, run_id: uuid.UUID | str, after_order: int) -> Path:
    return runs_dir / str(run_id) / f"session-after-{after_order:02d}.json"


async def save_session(
    browser: RunBrowser,
    runs_dir: Path,
    run_id: uuid.UUID,
    after_order: int,
    vars_: dict[str, Any],
    masker: SecretMasker,
    url: str | None = None,
) -> Path | None:
    """Write the session as it is after chunk ``after_order``.

    ``url`` is the page's URL when the chunk ended: the save runs while the next chunk starts, so
    the page may already be elsewhere when it is read here (a resume would then start on the next
    chunk's page, not where chunk ``after_order`` left it). Before the run opened a browser (chunks
    of ``http`` actions only) the session is the one it started with, if any, and the vars: a
    webhook-only agent resumes too.
    """
    from playwright.async_api import Error as PlaywrightError

    try:
        state = await browser.session_state()
    except PlaywrightError as e:  # the browser went away (the run is ending): nothing to keep
        logger.debug("no session saved after chunk %s: %s", after_order, e)
        return None
    if state is None and not browser.started:
        state = browser.storage_state
        url = url or browser.start_url
    if state is None and not vars_:
        return None
    path = session_file(runs_dir, run_id, after_order)
    # A var that held a secret is left out rather than kept masked: restored, "***" would be sent
    # on as if it were the value (a relayed webhook answer, a field's text).
    payload: dict[str, Any] = {"storage_state": state, "url": url or browser.url, "vars": vars_}
    withheld: list[str] = []
    if masker:
        masked = {name: masker.mask_data(value) for name, value in vars_.items()}
        withheld = sorted(name for name, value in vars_.items() if masked[name] != value)
        payload = {
            "storage_state": masker.mask_data(state),
            "url": masker.mask_data(payload["url"]),
            "vars": {name: value for name, value in masked.items() if name not in withheld},
        }
    if withheld:
        payload["withheld_vars"] = withheld
    text = json.dumps(payload)  # json.dump to a file takes the pure-Python encoder: 4x slower
    # The file system calls go to a worker thread: made on the event loop, each of them handed the
    # interpreter to Prefect's and the store's threads at a chunk's end, and the five took 1.9 ms
    # per chunk there (0.15 ms on their own), in the gap before the next chunk.
    await asyncio.to_thread(_write_privately, path, text)
    return path


def _write_privately(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (mode 0600) aside and rename it into place: a process killed
    mid-write (kill -9, the very case a saved session is for) leaves the previous file or none,
    never a truncated one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(partial, path)


def find_session(
    store: AgentStore, runs_dir: Path, agent_id: uuid.UUID, after_order: int, run_ref: str | None
) -> SavedSession | None:
    """The session to start from: of ``run_ref`` if given, else of the agent's latest run that has one.

    Raises:
        ConfigError: ``run_ref`` names a run without a session after that chunk.
    """
    from agents_store.errors import ConfigError

    if run_ref is not None:
        candidates = [
            r.flow_run_id
            for r in store.list_runs(agent_id, limit=200)
            if str(r.flow_run_id).startswith(run_ref)
        ]
        if not candidates:
            try:
                candidates = [uuid.UUID(run_ref)]
            except ValueError as e:
                raise ConfigError(f"--session-from: no run of this agent matches {run_ref!r}") from e
    else:
        candidates = [r.flow_run_id for r in store.list_runs(agent_id, limit=200)]
    for run_id in candidates:
        path = session_file(runs_dir, run_id, after_order)
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except ValueError as e:  # written by a version that did not save atomically
                if run_ref is not None:
                    raise ConfigError(f"--session-from: the session file {path} is unreadable: {e}") from e
                logger.warning("skipping the unreadable session file %s: %s", path, e)
                continue
            url = data.get("url")
            if url and MASK in url:
                logger.warning(
                    "the page URL after chunk %s held a secret and was not kept: chunk %s starts on a "
                    "blank page (its first action should open the page)",
                    after_order,
                    after_order + 1,
                )
                url = None
            return SavedSession(
                path,
                run_id,
                after_order,
                data["storage_state"],
                url,
                data.get("vars", {}),
                frozenset(data.get("withheld_vars", ())),
            )
    if run_ref is not None:
        raise ConfigError(f"--session-from: run {run_ref} kept no session after chunk {after_order}")
    # A warning, shown by the command line: chunk N usually needs the page and sign-in N-1 left.
    logger.warning(
        "no earlier run of this agent kept a session after chunk %s; starting without one", after_order
    )
    return None
