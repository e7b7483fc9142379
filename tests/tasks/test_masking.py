"""``SecretMasker`` on the forms a secret takes in what a run writes (the end-to-end checks, a real
browser and receiver, are in tests/flows/test_secrets.py and tests/reliability)."""

from __future__ import annotations

import json

import pytest

from agents_store.settings import LOCAL_USER_ID as LOCAL_USER
from tasks.masking import SecretMasker

SECRETS = ["it's2024x", "it's\"quoted2024", 'Sö"mm\\2024€<x>', "Sö\"mm'er\\2024€<x>"]


@pytest.mark.parametrize("secret", SECRETS)
def test_a_secret_with_quotes_or_backslashes_is_masked_inside_a_repr(secret: str) -> None:
    """An ``expect_text`` failure quotes the page's text with ``repr``: a secret with an apostrophe
    came out as ``it\\'s2024x`` and was written to error_details, logs and Prefect."""
    masker = SecretMasker([secret])
    page_text = json.dumps({"pw": secret}, separators=(",", ":"), ensure_ascii=False)
    for message in (f"found {page_text!r}", f"found {secret!r}", f"found {json.dumps(secret)!r}"):
        masked = masker.mask(message)
        assert "2024" not in masked, masked
        assert "***" in masked


@pytest.mark.parametrize("secret", SECRETS)
def test_a_secret_inside_a_json_body_in_a_page_url_is_masked(secret: str) -> None:
    """A page opened with a JSON answer in its query: Chromium percent-encodes the JSON-escaped
    secret, a form neither the raw value's encoding nor the JSON form alone matched."""

    masker = SecretMasker([secret])
    body = json.dumps({"pw": secret}, separators=(",", ":"), ensure_ascii=False)
    chromium_query = "".join(
        ch
        if ch.isascii() and ch not in " \"#<>'" and ch.isprintable()
        else "".join(f"%{b:02X}" for b in ch.encode())
        for ch in body
    )
    url = f"http://127.0.0.1:8791/show?t={chromium_query}"
    masked = masker.mask(url)
    assert "2024" not in masked, masked


def test_a_two_character_secret_is_masked() -> None:
    """A two-digit PIN was shorter than the masker's minimum and showed in error_details and logs."""
    assert SecretMasker(["42"]).mask("expected text exactly 'x' in '#out', found '42'") == (
        "expected text exactly 'x' in '#out', found '***'"
    )


def test_a_run_with_a_one_character_secret_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Masked, one character would go from every log line; unmasked, it would show: refused."""
    import asyncio

    from agents_store.documents import parse_definition
    from agents_store.models import Agent
    from flows.plan import compile_agent
    from flows.run_agent import resolve_plan_secrets
    from tasks.errors import TemplateError
    from tests.factories import LOOM

    doc = {
        "name": "PIN",
        "loom_url": LOOM,
        "chunks": [
            {"name": "Type", "actions": [{"type": "fill", "selector": "#p", "value": "{{ secrets.PIN }}"}]}
        ],
    }
    plan = compile_agent(Agent.from_definition(parse_definition(doc), user_id=LOCAL_USER))
    monkeypatch.setenv("AGENTCTL_SECRET_PIN", "7")
    with pytest.raises(TemplateError) as caught:
        asyncio.run(resolve_plan_secrets(plan, use_prefect_blocks=False))
    assert str(caught.value) == (
        'chunk 1 "Type", action 1 (fill): {{ secrets.PIN }} is a single character: too short to keep out '
        "of logs; give it at least 2"
    )
    assert "7" not in str(caught.value)
    monkeypatch.setenv("AGENTCTL_SECRET_PIN", "73")
    assert asyncio.run(resolve_plan_secrets(plan, use_prefect_blocks=False)) == {"PIN": "73"}
