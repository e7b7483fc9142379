"""The dashboard API fuzzed by schemathesis from its own OpenAPI schema (issue 11, item 3).

A real uvicorn server on 127.0.0.1 in token mode, the schema read from ``/api/openapi.json`` with the
token, every operation called with generated parameters and bodies (valid and not): no 5xx, every
status documented for its operation, every body as documented, and every error in the one error shape
of ``dashboard/errors.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from agents_store.backends.sqlite import SqliteStore
from agents_store.documents import parse_definition
from agents_store.settings import get_settings
from cli.background_server import serve_in_background
from dashboard import create_app
from dashboard.config import AccessSettings
from tests.factories import agent_doc

TOKEN = "fuzz-api-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteStore]:
    folder: Path = tmp_path_factory.mktemp("fuzz-api")
    store = SqliteStore(f"sqlite:///{folder / 'fuzz.db'}")
    store.create(parse_definition(agent_doc("Fuzzed", chunks=2)))
    yield store
    store.close()


@pytest.fixture(scope="module")
def dashboard_server(fuzz_store: SqliteStore) -> Iterator[str]:
    """The dashboard on a SQLite store holding one agent, served by uvicorn in token mode."""
    get_settings.cache_clear()
    access = AccessSettings(dashboard_token=TOKEN)  # type: ignore[arg-type]
    with serve_in_background(create_app(fuzz_store, settings=get_settings(), access=access)) as url:
        yield url


@pytest.fixture(scope="module")
def api_schema(dashboard_server: str) -> Any:
    document = httpx.get(f"{dashboard_server}/api/openapi.json", headers=AUTH, timeout=30).json()
    return schemathesis.openapi.from_dict(document)


def error_shape(response: Any) -> None:
    """Every 4xx/5xx answer is ``{"error": {"code", "message", "field", "problems"}}``."""
    if response.status_code < 400:
        return
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "field", "problems"}, error
    assert isinstance(error["code"], str), error
    assert error["code"], error
    assert isinstance(error["message"], str), error
    assert error["message"], error
    assert isinstance(error["problems"], list), error


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


# schemathesis's own pytest plugin (``schema.parametrize``) does not run on pytest 9; its strategies
# drive hypothesis directly instead, over every operation of the schema.
@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_api_answers_every_generated_request_as_documented(
    api_schema: Any, dashboard_server: str, mode: GenerationMode, data: st.DataObject
) -> None:
    case = data.draw(api_schema.as_strategy(generation_mode=mode), label="case")
    response = case.call(base_url=dashboard_server, headers=AUTH, timeout=30)
    case.validate_response(response, checks=CHECKS)
    error_shape(response)


# Operations that reach outside the test: a run starts a Prefect flow, an export calls GitHub.
_OUTSIDE = {("POST", "/api/agents/{agent_id}/runs"), ("POST", "/api/agents/{agent_id}/exports/github")}


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_api_on_an_existing_agent_answers_as_documented(
    api_schema: Any, dashboard_server: str, fuzz_store: SqliteStore, data: st.DataObject
) -> None:
    """Generated requests aimed at a real agent and chunk (random ids only ever meet a 404)."""
    mode = data.draw(st.sampled_from([GenerationMode.POSITIVE, GenerationMode.NEGATIVE]), label="mode")
    case = data.draw(api_schema.as_strategy(generation_mode=mode), label="case")
    if (case.method.upper(), case.path) in _OUTSIDE:
        return
    agent = fuzz_store.create(parse_definition(agent_doc("Target", chunks=3)))
    ids = {"agent_id": str(agent.id), "chunk_id": str(agent.chunks[1].id)}
    parameters = case.path_parameters or {}
    for name, value in ids.items():
        if name in parameters and data.draw(st.booleans(), label=f"real {name}"):
            parameters[name] = value
    response = case.call(base_url=dashboard_server, headers=AUTH, timeout=30)
    event(f"{case.method} {case.path} -> {response.status_code}")
    case.validate_response(response, checks=CHECKS)
    error_shape(response)
