"""Flow runs started under ``PrefectClients`` use its clients instead of opening their own."""

from __future__ import annotations

import asyncio

from flows._prefect import PrefectClients


def _client_of_a_flow_run() -> object:
    from prefect import flow, get_client

    @flow(name="which-client", persist_result=False)
    async def which_client() -> int:
        return id(get_client())

    return which_client


def test_runs_inside_kept_clients_share_them(prefect_harness: None) -> None:
    which_client = _client_of_a_flow_run()

    async def runs() -> tuple[int, list[int], list[int]]:
        alone = [await which_client(), await which_client()]
        async with PrefectClients() as clients:
            kept = [await which_client(), await which_client()]
            return id(clients.client), kept, alone

    kept_client, kept, alone = asyncio.run(runs())
    assert kept == [kept_client, kept_client]
    assert alone[0] != alone[1], "without kept clients each run opens a client of its own"


def test_a_run_in_another_task_borrows_them(prefect_harness: None) -> None:
    which_client = _client_of_a_flow_run()

    async def borrowed() -> tuple[int, int, bool]:
        clients = PrefectClients()
        await clients.open()
        try:

            async def run() -> int:
                with clients.lent():
                    result: int = await which_client()
                    return result

            used = await asyncio.get_running_loop().create_task(run())
            return id(clients.client), used, clients.is_open
        finally:
            await clients.close()

    kept_client, used, was_open = asyncio.run(borrowed())
    assert was_open
    assert used == kept_client
