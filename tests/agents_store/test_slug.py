from __future__ import annotations

import pytest

from agents_store.slug import MAX_SLUG_LENGTH, agent_slug


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Add the day's todos", "add-the-day-s-todos"),
        ("  Record a sale -- and tell Zapier!  ", "record-a-sale-and-tell-zapier"),
        ("Café Crème Über", "cafe-creme-uber"),
        ("ALLCAPS_with_underscores 2", "allcaps-with-underscores-2"),
        ("Invoices (copy)", "invoices-copy"),
    ],
)
def test_slugs_are_lowercase_ascii_with_dashes(name: str, slug: str) -> None:
    assert agent_slug(name) == slug


def test_slugs_are_stable_bounded_and_never_empty() -> None:
    assert agent_slug("Same name") == agent_slug("Same name")
    long = agent_slug("word " * 60)
    assert len(long) <= MAX_SLUG_LENGTH
    assert not long.endswith("-")
    unicode_only = agent_slug("日本語のエージェント")
    assert unicode_only == agent_slug("日本語のエージェント")
    assert unicode_only.startswith("agent-")
    assert unicode_only != agent_slug("другой агент")
