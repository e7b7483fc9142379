"""The slug of an agent: the one short, stable, URL- and path-safe name the whole project uses for it.

Exports put an agent in ``agents/<slug>/``, tags its versions ``agent/<slug>/v<N>``, and deployments
name it ``run-agent/<slug>``; all of them must agree, so the rule lives here once.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

__all__ = ["MAX_SLUG_LENGTH", "agent_slug"]

MAX_SLUG_LENGTH = 63
"""Short enough for a DNS label, a Kubernetes name or a Prefect deployment name."""

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def agent_slug(name: str) -> str:
    """Lowercase ASCII letters and digits joined by single dashes, from the agent's name.

    Accents are folded (``Café`` → ``cafe``); every other run of symbols or spaces becomes one dash.
    The same name always gives the same slug. A name with no Latin letter or digit at all (``日本語``)
    gets ``agent-`` plus a short hash of the name, so that it is still stable and rarely collides.

    >>> agent_slug("Add the day's todos!")
    'add-the-day-s-todos'
    """
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    slug = _NOT_ALNUM.sub("-", folded).strip("-")
    if not slug:
        return "agent-" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    return slug[:MAX_SLUG_LENGTH].rstrip("-")
