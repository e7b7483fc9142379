"""A decision sent in the moment between Prefect's Paused state and the save of its input schema.

Prefect's ``pause_flow_run`` proposes the Paused state first and saves the ``RunInput`` schema
after; a resume in between is refused with "Run input schema not found". The CI once lost a
verification test to that window: ``send_decision`` must wait it out, as a person clicking would.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from flows.decisions import ChunkDecision, send_decision
from flows.errors import RunNotPaused


async def _paused_run_without_schema() -> tuple[uuid.UUID, dict[str, str]]:
    """A real flow run in Prefect's Paused state, its input schema not saved yet."""
    from prefect import flow, get_client
    from prefect.input.run_input import keyset_from_paused_state
    from prefect.states import Paused, Running

    @flow(name="decision-window")
    def decision_window() -> None:
        """Only its record is used: the run is driven through the API."""

    async with get_client() as client:
        run = await client.create_flow_run(decision_window)
        await client.set_flow_run_state(run.id, Running(), force=True)
        paused = Paused(timeout_seconds=60, reschedule=False, pause_key="approve-window")
        keyset = keyset_from_paused_state(paused)
        paused.state_details.run_input_keyset = keyset
        await client.set_flow_run_state(run.id, paused, force=True)
    return run.id, keyset


@pytest.mark.usefixtures("prefect_harness")
def test_a_decision_sent_before_the_schema_is_saved_waits_for_it() -> None:
    async def scenario() -> str:
        from prefect import get_client

        run_id, keyset = await _paused_run_without_schema()
        sending = asyncio.create_task(send_decision(run_id, {"decision": "skip", "note": "early"}))
        await asyncio.sleep(1.0)
        assert not sending.done(), "the resume went through without a schema to check it against"
        await ChunkDecision.asave(keyset, flow_run_id=run_id)
        await asyncio.wait_for(sending, 20)
        async with get_client() as client:
            run = await client.read_flow_run(run_id)
        decision = await ChunkDecision.aload(keyset, flow_run_id=run_id)
        assert (decision.decision, decision.note) == ("skip", "early")
        return run.state.type.value if run.state else "none"

    assert asyncio.run(scenario()) == "RUNNING"


@pytest.mark.usefixtures("prefect_harness")
def test_a_decision_for_a_finished_run_is_refused_naming_its_state() -> None:
    async def scenario() -> None:
        from prefect import get_client
        from prefect.states import Completed

        run_id, _ = await _paused_run_without_schema()
        async with get_client() as client:
            await client.set_flow_run_state(run_id, Completed(), force=True)
        with pytest.raises(RunNotPaused, match=r"not waiting for a decision.*Completed"):
            await send_decision(run_id, {"decision": "approve"})

    asyncio.run(scenario())
