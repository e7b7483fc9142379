"""Cron schedules checked before anything is saved (no Prefect server needed)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from agents_store.errors import ConfigError
from agents_store.store import Schedule
from deployments.schedules import make_schedule, next_runs


@pytest.mark.parametrize("cron", ["0 9 31 2 *", "0 0 30 2 *"])
def test_a_cron_no_date_matches_is_refused(cron: str) -> None:
    """31 February was saved and put on the deployment; then `agentctl schedules` failed with a
    traceback for every agent, as Prefect's date reader raises on it."""
    with pytest.raises(ConfigError) as caught:
        make_schedule(uuid.uuid4(), cron)
    assert caught.value.field == "cron"
    assert str(caught.value) == f"cron: '{cron}' never fires: no date matches it"


def test_a_stored_cron_that_never_fires_has_no_next_run_rather_than_an_error() -> None:
    """Saved before such crons were refused: the listing shows no next run."""
    stored = Schedule(agent_id=uuid.uuid4(), cron="0 9 31 2 *", timezone="UTC", mode="automatic", params={})
    assert asyncio.run(next_runs(stored, 1)) == []


def test_prefects_cron_shorthands_are_schedules() -> None:
    schedule = make_schedule(uuid.uuid4(), "@daily", timezone="Europe/Paris")
    [upcoming] = asyncio.run(next_runs(schedule, 1, after=datetime(2026, 12, 6, 12, tzinfo=UTC)))
    assert upcoming == datetime(2026, 12, 6, 23, tzinfo=UTC)  # midnight in Paris


def test_a_lone_word_that_is_no_shorthand_is_refused_in_good_grammar() -> None:
    with pytest.raises(ConfigError) as caught:
        make_schedule(uuid.uuid4(), "daily")
    assert str(caught.value).startswith("cron: 'daily' has 1 field; use 5 (minute hour day month weekday)")
