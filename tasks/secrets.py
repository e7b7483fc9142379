"""Where secret values come from: ``AGENTCTL_SECRET_<NAME>``, else a Prefect Secret block.

Prefect block names are lowercase with dashes, so ``{{ secrets.PORTAL_PASSWORD }}`` reads the block
``portal-password``. Values are looked up once, when a run starts, and live only in memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

__all__ = ["block_name", "env_name", "resolve_secrets"]


def env_name(name: str) -> str:
    return f"AGENTCTL_SECRET_{name.upper()}"


def block_name(name: str) -> str:
    return name.lower().replace("_", "-")


async def resolve_secrets(
    names: Iterable[str], *, use_prefect_blocks: bool = True
) -> tuple[dict[str, str], list[str]]:
    """The values of ``names`` that can be found, and the names that cannot."""
    found: dict[str, str] = {}
    missing: list[str] = []
    for name in sorted(set(names)):
        value = os.environ.get(env_name(name))
        if value is None and use_prefect_blocks:
            value = await _from_prefect_block(block_name(name))
        if value is None:
            missing.append(name)
        else:
            found[name] = value
    return found, missing


async def _from_prefect_block(name: str) -> str | None:
    from prefect.blocks.system import Secret
    from prefect.exceptions import ObjectNotFound

    try:
        block: Secret[str] = await Secret.aload(name)
    except (ValueError, ObjectNotFound):
        return None
    value = block.get()
    return value if isinstance(value, str) else str(value)
