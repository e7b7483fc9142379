"""Where the GitHub token comes from: a Prefect Secret block when named, else ``GITHUB_TOKEN``.

The token is returned to the caller that builds the client and goes nowhere else: never printed, never
logged, never part of an error message or of what is exported.
"""

from __future__ import annotations

import os
from typing import Any, cast

from agents_store.errors import ConfigError

__all__ = ["environment_secrets", "github_token"]

TOKEN_ENV = "GITHUB_TOKEN"  # noqa: S105 - the variable's name, not a token
SECRET_ENV_PREFIX = "AGENTCTL_SECRET_"  # noqa: S105 - where runs find secrets (AGENT_FORMAT.md)


def github_token(token_block: str | None = None) -> str | None:
    """The token from the Prefect Secret block ``token_block``, or ``GITHUB_TOKEN``, or None.

    Prefect is imported only when a block is named: it costs over a second to import, and a token in
    the environment needs none of it.

    Raises:
        ConfigError: the block does not exist, cannot be read, or holds no text.
    """
    if token_block:
        return _secret_block(token_block)
    return os.environ.get(TOKEN_ENV) or None


def _secret_block(name: str) -> str:
    from prefect.blocks.system import Secret

    try:
        # Called outside an event loop (the CLI), Prefect's dispatching ``load`` returns the block.
        block = cast("Secret[Any]", Secret.load(name))
    except ValueError as e:  # Prefect: "Unable to find block document named …"
        raise ConfigError(f"--token-block: there is no Prefect Secret block named {name!r}") from e
    except Exception as e:  # the Prefect API is down or refused us: say which block, not the cause's text
        raise ConfigError(
            f"--token-block: cannot load the Prefect Secret block {name!r} ({type(e).__name__})"
        ) from e
    value = block.get()
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"--token-block: the Prefect Secret block {name!r} does not hold a token (text)")
    return value.strip()


def environment_secrets() -> dict[str, str]:
    """Every ``AGENTCTL_SECRET_*`` variable that is set, by name: the values an export must not contain."""
    return {k: v for k, v in os.environ.items() if k.startswith(SECRET_ENV_PREFIX) and v}
