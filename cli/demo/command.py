"""``agentctl demo``: the demo app on 127.0.0.1, the demo agent imported, run through the real engine."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli._context import CliState, err_console, out_console, state_of

if TYPE_CHECKING:
    from agents_store.models import Agent

__all__ = ["DEMO_AGENT", "PASSWORD_ENV", "register"]

DEMO_AGENT = Path(__file__).with_name("demo-agent.yaml")
PASSWORD_ENV = "AGENTCTL_SECRET_DEMO_PASSWORD"  # noqa: S105 - the name of the variable, not a value
"""The demo agent's secret ``DEMO_PASSWORD``, which is also the demo app's password."""


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    ctx: typer.Context,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the demo app running afterwards, until Ctrl+C.")
    ] = False,
    port: Annotated[
        int, typer.Option("--port", help="Port of the demo app on 127.0.0.1 (default: a free one).")
    ] = 0,
) -> None:
    """Run the demo agent against the demo app: sign in, add a record, read the total, call a webhook.

    The app's password is $AGENTCTL_SECRET_DEMO_PASSWORD when set (so that other runs can sign in
    to an app kept with --keep), else a new random one; it is never printed.
    """
    from cli._listing import print_listing
    from cli._live import LiveRun, run_with_progress, why_not_completed
    from cli._prefect import flow_run_url, note_prefect_mode
    from cli._render import chunk_table
    from cli.background_server import serve_in_background
    from cli.demo.site import DemoState, create_demo_app
    from flows.plan import Selection
    from flows.preflight import prepare_run

    state = state_of(ctx)
    store = state.store()
    chosen_password = bool(os.environ.get(PASSWORD_ENV))
    password = os.environ.get(PASSWORD_ENV) or secrets.token_urlsafe(12)
    os.environ[PASSWORD_ENV] = password  # the agent types it; it is never stored
    site = DemoState(password=password)
    agent = _demo_agent(state)
    err_console.print(
        f"demo agent {agent.name!r} ({agent.id}) is in {store_description(state)}", markup=False
    )
    with serve_in_background(create_demo_app(site), port=port) as url:
        err_console.print(f"demo app at {url}", markup=False)
        params = {"base_url": url}
        plan = prepare_run(store, str(agent.id), "automatic", Selection(), params).plan
        note_prefect_mode()
        live_run = LiveRun.for_steps(plan.steps)
        parameters = {"agent_id": str(agent.id), "params": params}
        final = run_with_progress(live_run, parameters, store=store, transient=True)
        run_id = live_run.flow_run_id or final.state_details.flow_run_id
        out_console.print()
        print_listing(chunk_table(store.get(agent.id)), out_console)
        added = ", ".join(f"{r['title']} {r['amount']}" for r in site.records) or "none"
        payloads = [h["payload"] for h in site.hooks]
        out_console.print(
            f"\nThe demo app now holds these records: {added}; its webhook received {payloads}.",
            markup=False,
        )
        _print_next_steps(run_id, agent.id, flow_run_url(run_id) if run_id else None)
        if keep:
            password_note = (
                f"its password is ${PASSWORD_ENV}"
                if chosen_password
                else f"its password is random: set {PASSWORD_ENV} before `agentctl demo --keep` "
                "to run other agents against it"
            )
            err_console.print(f"demo app still at {url} ({password_note}); Ctrl+C to stop", markup=False)
            _wait_for_a_stop_signal()
    if not final.is_completed():
        why = why_not_completed(store, run_id, final)
        err_console.print(f"agentctl: the demo run {final.name.lower()}: {why}", markup=False)
        raise typer.Exit(1)


def _wait_for_a_stop_signal() -> None:
    """Until Ctrl+C or SIGTERM. Not a prompt: with stdin not a terminal (a script, ``&``, a service)
    a prompt read end-of-file at once and the app went away before anything could use it."""
    import signal
    import threading

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(1.0):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _demo_agent(state: CliState) -> Agent:
    """The demo agent in the store, brought up to date with the shipped file, or created.

    Several agents may carry its name (``examples/demo-records.yaml`` is the same file): the
    oldest whose definition equals the shipped file is taken, so every demo run lands on the same
    agent; else the oldest of them is updated.
    """
    from agents_store.documents import load_definition

    store = state.store()
    definition = load_definition(DEMO_AGENT.read_bytes())
    found = [store.get(agent_id) for agent_id in store.find_ids(definition.name, limit=50)]
    same_name = sorted((a for a in found if a.name == definition.name), key=lambda a: str(a.created_at))
    if not same_name:
        return store.create(definition, user_id=state.settings().user_id, author=state.author())
    for agent in same_name:
        if agent.definition() == definition:
            return agent
    return store.save(same_name[0].with_definition(definition), author=state.author())


def store_description(state: object) -> str:
    from agents_store.settings import get_settings

    url = getattr(state, "database_url", None) or get_settings().resolved_database_url()
    return url.split("@")[-1] if "@" in url else url


def _print_next_steps(run_id: object, agent_id: object, url: str | None) -> None:
    out_console.print(f"\nflow run {run_id}", markup=False)
    if url:
        out_console.print(f"Prefect UI: {url}", markup=False)
    else:
        out_console.print(
            "See it in the Prefect UI: run `uv run agentctl server` (or `uv run prefect server start`), "
            "then open\n"
            f"  http://127.0.0.1:4200/runs/flow-run/{run_id}\n"
            "Embedded runs are kept in Prefect's local database, so the UI shows this one too.",
            markup=False,
        )
    out_console.print(
        f"More: `uv run agentctl show {str(agent_id)[:8]}`, `uv run agentctl runs`, "
        f"`uv run agentctl logs {str(run_id)[:8]}`",
        markup=False,
    )
