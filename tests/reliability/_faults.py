"""What the fault tests share: a local site that misbehaves on purpose, agents as files, and a
throw-away PostgreSQL server of their own that a test may stop and start.

Everything is real and on 127.0.0.1: the site is a FastAPI app served by uvicorn, the PostgreSQL
instance is ``initdb`` + ``pg_ctl`` in a temporary folder.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from tests.conftest import require
from tests.factories import LOOM
from tests.helpers import agentctl

PG_BIN = Path(os.environ.get("AGENTCTL_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


@dataclass
class Received:
    """One request a hook got: when (monotonic seconds), its idempotency key, what it answered."""

    name: str
    at: float
    key: str | None
    answered: int


@dataclass
class FaultSite:
    """A site whose pages render late, move, need a session cookie, and whose hooks fail on purpose."""

    hold_members: bool = False
    """While True, the members page never shows ``#ready`` (a chunk waiting for it hangs)."""
    sessions: dict[str, str] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    received: list[Received] = field(default_factory=list)

    def reset(self) -> None:
        self.hold_members = False
        self.sessions.clear()
        self.hits.clear()
        self.received.clear()

    def hook(self, name: str) -> list[Received]:
        return [r for r in self.received if r.name == name]

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/login")
        async def login(user: str) -> Response:
            """Signs ``user`` in: a fresh random session cookie, valid only on this site; then /home."""
            token = secrets.token_hex(16)
            self.sessions[token] = user
            page = RedirectResponse("/home", status_code=303)
            page.set_cookie("sid", token, httponly=True)
            return page

        @app.get("/home", response_class=HTMLResponse)
        async def home(request: Request) -> Response:
            user = self.sessions.get(request.cookies.get("sid", ""), "nobody")
            return HTMLResponse(f"<h1>Welcome</h1><p id='who'>{user}</p>")

        @app.get("/members", response_class=HTMLResponse)
        async def members(request: Request) -> Response:
            user = self.sessions.get(request.cookies.get("sid", ""))
            self.hits["members" if user else "members-refused"] += 1
            if user is None:
                return HTMLResponse("<p id='signin'>sign in first</p>", status_code=401)
            ready = (
                "<script>const poll = setInterval(async () => {"
                " if ((await (await fetch('/members/held')).text()) === 'no') {"
                " clearInterval(poll); document.body.insertAdjacentHTML('beforeend', "
                "\"<p id='ready'>ready</p>\"); } }, 100);</script>"
                if self.hold_members
                else "<p id='ready'>ready</p>"
            )
            return HTMLResponse(f"<p id='who'>{user}</p><p id='count'>{self.hits['members']}</p>{ready}")

        @app.get("/members/held")
        async def held() -> Response:
            return Response("yes" if self.hold_members else "no", media_type="text/plain")

        @app.get("/late", response_class=HTMLResponse)
        async def late(after_ms: int, how: str = "insert") -> HTMLResponse:
            """``#late`` is inserted, revealed (display:none before) or enabled after ``after_ms``."""
            if how == "insert":
                now = "<p>waiting</p>"
                later = "document.body.insertAdjacentHTML('beforeend', \"<button id='late'>late</button>\")"
            elif how == "reveal":
                now = "<button id='late' style='display:none'>late</button>"
                later = "document.getElementById('late').style.display = 'inline'"
            else:
                now = "<button id='late' disabled>late</button>"
                later = "document.getElementById('late').disabled = false"
            return HTMLResponse(
                f"{now}<p id='log'>none</p><script>"
                "document.addEventListener('click', e => { if (e.target.id === 'late')"
                " document.getElementById('log').textContent = 'late clicked'; });"
                f"setTimeout(() => {{ {later}; }}, {after_ms});</script>"
            )

        @app.get("/moving", response_class=HTMLResponse)
        async def moving(stop_ms: int) -> HTMLResponse:
            """``#target`` slides right for ``stop_ms`` (< 0: forever); a decoy takes its first place."""
            forever = "true" if stop_ms < 0 else "false"
            return HTMLResponse(
                "<style>button{position:absolute;top:40px;width:120px;height:40px}</style>"
                "<p id='log'>none</p>"
                "<button id='decoy' style='left:20px'>decoy</button>"
                "<button id='target' style='left:20px;z-index:2'>target</button>"
                "<script>"
                "for (const id of ['decoy', 'target']) document.getElementById(id).onclick ="
                " () => { document.getElementById('log').textContent = id; };"
                "const t = document.getElementById('target'); const start = performance.now();"
                "function step(now) { const ms = now - start;"
                f" if ({forever} || ms < {stop_ms}) {{ t.style.left = (20 + (ms / 4) % 400) + 'px';"
                " requestAnimationFrame(step); } }"
                "requestAnimationFrame(step);</script>"
            )

        @app.post("/hook/{name}")
        async def hook(
            name: str,
            request: Request,
            fail: int = 0,
            status: int = 500,
            retry_after: str = "",
            sleep: float = 0.0,
        ) -> Response:
            """The first ``fail`` calls answer ``status`` (with Retry-After), or answer after ``sleep`` s."""
            await request.body()
            self.hits[f"hook:{name}"] += 1
            failing = self.hits[f"hook:{name}"] <= fail
            answer = status if failing and not sleep else 200
            self.received.append(
                Received(name, time.monotonic(), request.headers.get("idempotency-key"), answer)
            )
            if failing and sleep:
                await asyncio.sleep(sleep)
            if failing and not sleep:
                headers = {"Retry-After": retry_after} if retry_after else {}
                return JSONResponse({"error": f"{status} on purpose"}, status_code=status, headers=headers)
            return JSONResponse({"ok": True, "n": self.hits[f"hook:{name}"]})

        return app


def write_agent(tmp_path: Path, chunks: list[dict[str, Any]], **settings: Any) -> Path:
    """An agent file with these chunks (no retries, short timeouts unless ``settings`` says)."""
    doc = {
        "name": f"Fault {tmp_path.name}"[:200],
        "loom_url": LOOM,
        "settings": {"retries": 0, "retry_delay_seconds": 0, "action_timeout_ms": 3000, **settings},
        "chunks": chunks,
    }
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def import_agent(env: dict[str, str], path: Path) -> str:
    result = agentctl(env, "import", str(path))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


# --------------------------------------------------------------------------- a PostgreSQL of our own


@dataclass
class PrivatePostgres:
    """A PostgreSQL server in a temporary folder, on a free port, that the test may restart."""

    data: Path
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str, timeout: float = 60) -> None:
        command = [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", *args]
        subprocess.run(_as_postgres(command), check=True, capture_output=True, timeout=timeout)

    def start(self) -> None:
        self.pg_ctl("start", "-o", f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1")

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("stop", "-m", mode)


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its tools as the ``postgres`` user."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """``initdb`` + ``pg_ctl start`` in a folder of its own; stopped (immediately) and deleted afterwards."""
    from deployments.server import free_port

    initdb = PG_BIN / "initdb"
    require(initdb.is_file() and shutil.which("pg_ctl", path=str(PG_BIN)) is not None, f"{initdb}")
    root = Path(tempfile.mkdtemp(prefix="agentctl-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data = root / "pgdata"
    subprocess.run(
        _as_postgres(
            [str(initdb), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]
        ),
        check=True,
        capture_output=True,
        timeout=120,
    )
    server = PrivatePostgres(data, free_port(), root / "postgres.log")
    try:
        server.start()
        yield server
    finally:
        subprocess.run(
            _as_postgres(
                [str(PG_BIN / "pg_ctl"), "-D", str(data), "stop", "-m", "immediate", "-w", "-t", "30"]
            ),
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)
