"""``http`` actions against a real HTTP server on 127.0.0.1: bodies, headers, statuses, answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from agents_store.models import HttpAction
from tasks.errors import ActionTimeout, HttpActionFailed
from tasks.http import HttpResult, action_client, run_http_action


def _receiver() -> FastAPI:
    app = FastAPI()

    @app.api_route("/echo", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def echo(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "method": request.method,
                "content_type": request.headers.get("content-type"),
                "idempotency_key": request.headers.get("idempotency-key"),
                "x_token": request.headers.get("x-token"),
                "body": (await request.body()).decode(),
            },
            status_code=201 if request.method == "PUT" else 200,
        )

    @app.get("/text")
    async def text() -> PlainTextResponse:
        return PlainTextResponse("accepted, thanks")

    @app.get("/empty")
    async def empty() -> Response:
        return Response(status_code=204)

    @app.get("/trickle")
    async def trickle() -> StreamingResponse:
        async def bytes_slowly() -> AsyncIterator[bytes]:
            for _ in range(20):
                yield b"."
                await asyncio.sleep(0.25)

        return StreamingResponse(bytes_slowly())

    @app.get("/busy")
    async def busy() -> Response:
        return Response(status_code=429, headers={"Retry-After": "0"})

    return app


@pytest.fixture(scope="module")
def receiver() -> Iterator[str]:
    from cli.background_server import serve_in_background

    with serve_in_background(_receiver()) as url:
        yield url


def _send(action: dict[str, Any], key: str = "run:chunk:0") -> HttpResult:
    async def send() -> HttpResult:
        async with action_client() as client:
            return await run_http_action(HttpAction.model_validate(action), client, key=key)

    return asyncio.run(send())


def test_a_form_goes_url_encoded_with_the_headers_and_the_idempotency_key(receiver: str) -> None:
    result = _send(
        {
            "type": "http",
            "method": "patch",
            "url": f"{receiver}/echo",
            "headers": {"X-Token": "abc"},
            "form": {"name": "Ada Lovelace", "n": "2"},
        },
        key="k-1",
    )
    assert result.status == 200
    assert result.body["method"] == "PATCH"
    assert result.body["content_type"] == "application/x-www-form-urlencoded"
    assert result.body["body"] == "name=Ada+Lovelace&n=2"
    assert result.body["x_token"] == "abc"
    assert result.body["idempotency_key"] == "k-1"


def test_json_and_a_raw_body_are_sent_as_given(receiver: str) -> None:
    as_json = _send({"type": "http", "url": f"{receiver}/echo", "json": {"a": [1, 2]}})
    assert as_json.body["content_type"] == "application/json"
    assert as_json.body["body"].replace(" ", "") == '{"a":[1,2]}'
    raw = _send(
        {
            "type": "http",
            "url": f"{receiver}/echo",
            "headers": {"Content-Type": "text/csv"},
            "body": "a,b\n1,2",
        }
    )
    assert raw.body["content_type"] == "text/csv"
    assert raw.body["body"] == "a,b\n1,2"


def test_an_unexpected_status_fails_naming_it_and_the_expected_ones(receiver: str) -> None:
    with pytest.raises(HttpActionFailed, match=r"PUT .*/echo answered 201, expected 200, 202") as caught:
        _send({"type": "http", "method": "PUT", "url": f"{receiver}/echo", "expect_status": [200, 202]})
    assert caught.value.status == 201
    ok = _send({"type": "http", "method": "PUT", "url": f"{receiver}/echo", "expect_status": [201]})
    assert ok.status == 201


def test_what_a_var_keeps_of_json_text_and_empty_answers(receiver: str) -> None:
    assert (
        _send({"type": "http", "method": "GET", "url": f"{receiver}/echo"}).as_var()["json"]["method"]
        == "GET"
    )
    text = _send({"type": "http", "method": "GET", "url": f"{receiver}/text"}).as_var()
    assert text == {"status": 200, "json": None, "text": "accepted, thanks"}
    empty = _send({"type": "http", "method": "GET", "url": f"{receiver}/empty"}).as_var()
    assert empty == {"status": 204, "json": None, "text": None}


def test_no_server_there_is_a_failure_naming_the_url_without_its_query(receiver: str) -> None:
    from deployments.server import free_port

    url = f"http://127.0.0.1:{free_port()}/hook?token=s3cret"
    with pytest.raises(HttpActionFailed, match=r"POST http://127\.0\.0\.1:\d+/hook: ConnectError") as caught:
        _send({"type": "http", "url": url})
    assert "s3cret" not in str(caught.value)


def test_a_header_that_is_not_ascii_fails_naming_it_not_its_value(receiver: str) -> None:
    """httpx raised its codec's own error ("'ascii' codec can't encode character '\\xe9' in position
    18"); the value may hold a secret, so the message names the header and the position only."""
    action = {"type": "http", "url": f"{receiver}/echo", "headers": {"X-Token": "Bearer caf\u00e9-Zk12"}}
    with pytest.raises(
        HttpActionFailed, match=r"header 'X-Token' holds a non-ASCII character at position 11"
    ) as e:
        _send(action)
    assert "Zk12" not in str(e.value)


def test_timeout_ms_bounds_the_whole_call_not_each_read(receiver: str) -> None:
    """A receiver sending its answer a byte every 0.25 s kept a ``timeout_ms: 1000`` action for 5 s:
    httpx's timeout bounds each read."""
    import time

    started = time.monotonic()
    with pytest.raises(ActionTimeout, match=r"GET .*/trickle: no answer within 1 s"):
        _send({"type": "http", "method": "GET", "url": f"{receiver}/trickle", "timeout_ms": 1000})
    assert time.monotonic() - started < 3


def test_a_refusal_after_retry_after_rounds_says_so_and_an_empty_body_adds_no_colon(receiver: str) -> None:
    with pytest.raises(HttpActionFailed) as caught:
        _send({"type": "http", "method": "GET", "url": f"{receiver}/busy"})
    assert str(caught.value).endswith(
        "/busy answered 429, expected 2xx (it asked to retry after 0; waited 3 times, at most 30 s each)"
    )
