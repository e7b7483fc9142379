"""The listing tables (list, runs, show, versions, schedules): fitted to a terminal, whole in a pipe."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from rich.console import Console
from rich.text import Text

from cli._listing import Column, Listing, fitted_widths, print_listing
from tests.cli.conftest import CliRunner
from tests.factories import agent_doc

LONG_NAME = "Reconcile the supplier invoices of every regional office with the ledger"
LONG_ERROR = "ElementNotFound: no element matches '#submit-invoice' (waited 5000 ms) " + "on the page " * 8
STARTED = datetime(2026, 12, 6, 2, 6, 37, tzinfo=UTC)


def _runs_listing(run_id: uuid.UUID) -> Listing:
    listing = Listing(
        (
            Column("RUN"),
            Column("AGENT", floor=12),
            Column("STATUS"),
            Column("STARTED", kind="time"),
            Column("ERROR", floor=12),
        ),
        [],
    )
    listing.add(str(run_id)[:8], Text(LONG_NAME), Text("Failed"), STARTED, Text(LONG_ERROR))
    return listing


def test_a_narrow_terminal_cuts_only_the_columns_that_may_give_way() -> None:
    run_id = uuid.uuid4()
    out = io.StringIO()
    print_listing(_runs_listing(run_id), Console(file=out, width=80, force_terminal=True, color_system=None))
    header, row = out.getvalue().splitlines()
    assert max(len(header.rstrip()), len(row.rstrip())) <= 80
    assert row.startswith(f"{str(run_id)[:8]}  ")  # the id `agentctl logs` takes, whole
    assert "  Failed  " in row
    assert "12-06 02:06" in row
    assert "2026-12-06" not in row
    assert "Reconcile" in row
    assert "…" in row
    assert LONG_NAME not in row


def test_a_wide_terminal_shows_everything_whole() -> None:
    out = io.StringIO()
    print_listing(_runs_listing(uuid.uuid4()), Console(file=out, width=400, force_terminal=True))
    assert LONG_NAME in out.getvalue()
    assert " ".join(LONG_ERROR.split()) in " ".join(out.getvalue().split())
    assert "2026-12-06 02:06:37Z" in out.getvalue()


def test_columns_never_go_below_their_floor() -> None:
    widths, short = fitted_widths(_runs_listing(uuid.uuid4()), 30)
    assert short
    assert widths[0] == 8  # RUN: never cut
    assert widths[1] == 12
    assert widths[4] == 12
    assert widths[2] == len("STATUS")
    assert widths[3] == len("12-06 02:06")


def test_no_limit_keeps_every_cell_whole() -> None:
    widths, short = fitted_widths(_runs_listing(uuid.uuid4()), None)
    assert not short
    assert widths[1] == len(LONG_NAME)
    assert widths[3] == len("2026-12-06 02:06:37Z")


def test_piped_runs_and_list_print_every_cell_whole(agentctl: CliRunner, tmp_path: Path) -> None:
    """Rich lays out for 80 columns when stdout is not a terminal: ids were cut to ``bf3e5…``."""
    from agents_store.backends import open_store
    from agents_store.settings import get_settings
    from agents_store.store import RunRecord, RunStatus

    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(agent_doc(LONG_NAME, chunks=2)), encoding="utf-8")
    agent_id = uuid.UUID(agentctl("import", str(path)).out.strip())
    store = open_store(get_settings().resolved_database_url())
    run_id = uuid.uuid4()
    store.record_run(
        RunRecord(
            flow_run_id=run_id,
            agent_id=agent_id,
            agent_version=1,
            mode="automatic",
            status=RunStatus.FAILED,
            started_at=STARTED,
            finished_at=STARTED + timedelta(seconds=3),
            error=LONG_ERROR,
        )
    )
    store.close()

    runs = agentctl("runs")
    assert runs.code == 0, runs.err
    header, row = runs.out.splitlines()
    assert header.split() == ["RUN", "AGENT", "VER", "MODE", "STATUS", "STARTED", "TOOK", "ERROR"]
    prefix = f"{str(run_id)[:8]}  {LONG_NAME}  "
    assert row.startswith(prefix)
    assert row.removeprefix(prefix).split()[:8] == [
        "1",
        "automatic",
        "Failed",
        "2026-12-06",
        "02:06:37Z",
        "3.0",
        "s",
        "ElementNotFound:",
    ]
    assert row.rstrip().endswith(" ".join(LONG_ERROR.split()))
    assert "…" not in runs.out

    listed = agentctl("list")
    assert listed.code == 0, listed.err
    (row,) = listed.out.splitlines()[1:]
    assert row.startswith(f"{str(agent_id)[:8]}  {LONG_NAME}  Not Started  2 ")
    assert "…" not in listed.out


def test_schedules_says_which_schedules_are_off(agentctl: CliRunner, tmp_path: Path) -> None:
    """A schedule turned off on the dashboard (kept, "On" unticked) was listed as ``on``; so was a
    schedule that no Prefect server knows about (``stored``, with its next time: no server here)."""
    from agents_store.backends import open_store
    from agents_store.settings import get_settings
    from agents_store.store import Schedule

    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(agent_doc("Nightly", chunks=1)), encoding="utf-8")
    on_id = uuid.UUID(agentctl("import", str(path)).out.strip())
    off_id = uuid.UUID(agentctl("import", str(path)).out.strip())
    store = open_store(get_settings().resolved_database_url())
    store.set_schedule(Schedule(agent_id=on_id, cron="0 3 * * *"))
    store.set_schedule(Schedule(agent_id=off_id, cron="0 3 * * *", active=False))
    store.close()

    listed = agentctl("schedules", "--json")
    assert listed.code == 0, listed.err
    states = {
        uuid.UUID(s["agent_id"]): (s["state"], s["next_run"] is not None) for s in json.loads(listed.out)
    }
    assert states[off_id] == ("off", False)
    assert states[on_id][0] in ("stored", "not deployed")  # no server, or the session's test server
    table = agentctl("schedules")
    assert ["off", "-"] in [line.split()[-2:] for line in table.out.splitlines()[1:]]


def test_pending_shows_a_chunks_actions_with_masks_and_globs_whole() -> None:
    """Taking the markdown's bold marks off removed every ``**``: a masked password read ``*`` and
    the glob ``**/records`` read ``/records``."""
    from cli.approvals import _one_line

    described = (
        "### Approve: 02 · Sign in\n\n"
        '1. **fill** selector="#password", value="***"\n'
        '2. **wait_for_url** url="**/records"\n'
        '3. **http POST** url="http://127.0.0.1/hook"'
    )
    assert _one_line(described) == (
        '1. fill selector="#password", value="***"; 2. wait_for_url url="**/records"; '
        '3. http POST url="http://127.0.0.1/hook"'
    )


def test_an_unnamed_chunk_is_named_by_its_number_in_show() -> None:
    """A chunk name cleared in the dashboard showed as a blank cell, and as `chunk 1 "None" failed`."""
    from agents_store.documents import parse_definition
    from agents_store.models import Agent, ChunkStatus
    from cli._render import chunk_table, failure_lines

    doc = agent_doc("Unnamed", chunks=1)
    del doc["chunks"][0]["name"]
    agent = Agent.from_definition(parse_definition(doc), user_id=uuid.uuid4())
    failed = agent.chunks[0].model_copy(
        update={"status": ChunkStatus.FAILED, "error_details": {"type": "ActionTimeout", "message": "late"}}
    )
    out = io.StringIO()
    print_listing(chunk_table(agent), Console(file=out, width=120, force_terminal=True, color_system=None))
    assert out.getvalue().splitlines()[1].startswith("1  chunk 1")
    assert failure_lines(failed)[0] == "chunk 1 failed"
