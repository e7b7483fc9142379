"""Templates in URLs: a value inside a query parameter is percent-encoded, nothing else is."""

from __future__ import annotations

import pytest

from tasks.templating import TemplateContext, render_url

CONTEXT = TemplateContext(
    params={
        "q": "fish & chips #1",
        "base": "http://127.0.0.1:8080/app?x=1",
        "path": "a b/c",
        "qs": "a=1&b=2",
    },
    vars={"item": {"id": "7+8"}},
    secrets={"TOKEN": "tok&en=1 2"},
)


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        ("https://h/s?q={{ params.q }}&page=1", "https://h/s?q=fish%20%26%20chips%20%231&page=1"),
        ("https://h/s?id={{ vars.item.id }}", "https://h/s?id=7%2B8"),
        ("https://h/s?t=pre-{{ secrets.TOKEN }}", "https://h/s?t=pre-tok%26en%3D1%202"),
        ("{{ params.base }}&q={{ params.q }}", "http://127.0.0.1:8080/app?x=1&q=fish%20%26%20chips%20%231"),
        ("{{ params.base }}", "http://127.0.0.1:8080/app?x=1"),  # a whole URL: as it is
        ("https://h/{{ params.path }}", "https://h/a b/c"),  # a path: as it is
        ("https://h/s?{{ params.qs }}", "https://h/s?a=1&b=2"),  # a whole query: as it is
        ("https://h/s#{{ params.q }}", "https://h/s#fish & chips #1"),  # a fragment: as it is
    ],
)
def test_a_value_inside_a_query_parameter_is_percent_encoded(url: str, sent: str) -> None:
    assert render_url(url, CONTEXT) == sent
