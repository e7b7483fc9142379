"""The project's exceptions: one tree, so callers catch exactly what they can handle.

Every error a user can cause or meet is an ``AgentctlError``; the CLI prints its message on one
line and the dashboard maps it to an HTTP status. Errors that wrap a third-party failure keep it
as ``__cause__`` (``raise ... from e``).

::

    AgentctlError
    ├── InvalidAgent (ValueError)          a document or edit breaks the agent format
    ├── StoreError                         the store could not do what was asked
    │   ├── AgentNotFound (LookupError)    no agent (or chunk) matches the id / prefix / name
    │   ├── AmbiguousId (LookupError)      a prefix or name matches several agents
    │   ├── VersionNotFound (LookupError)  the agent has no such version
    │   ├── VersionConflict                someone saved the agent since it was read
    │   ├── StoreUnavailable               the database cannot be reached
    │   └── SchemaError                    the database schema is missing or too new
    ├── ConfigError (ValueError)           a setting or option has a bad value
    └── ExecutionError                     running an agent failed (tasks/errors.py, flows/errors.py)
        ├── TemplateError                  an unknown params / vars / secrets name
        ├── ActionError                    one action failed (carries chunk, action index, selector)
        │   ├── ActionTimeout
        │   ├── ElementNotFound
        │   ├── AssertionFailed
        │   ├── HttpActionFailed
        │   └── UnsafeAction               a dangerous URL, path or secret destination
        └── RunRefused                     a run may not start (e.g. chunks need review)
"""

from __future__ import annotations

__all__ = [
    "AgentNotFound",
    "AgentctlError",
    "AmbiguousId",
    "ConfigError",
    "ExecutionError",
    "InvalidAgent",
    "SchemaError",
    "StoreError",
    "StoreUnavailable",
    "VersionConflict",
    "VersionNotFound",
]


class AgentctlError(Exception):
    """Base of every error this project raises on purpose."""


class InvalidAgent(AgentctlError, ValueError):
    """A document or an edit does not follow the agent format.

    The message names the place (chunk order and name, action number and type, field) and the
    problem, one line per problem.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems: list[str] = problems if problems is not None else [message]


class ConfigError(AgentctlError, ValueError):
    """A setting, option or parameter has a value that cannot be used."""


class StoreError(AgentctlError):
    """The store could not complete an operation."""


class AgentNotFound(StoreError, LookupError):
    """No agent (or chunk) matches the given id, id prefix or name."""


class AmbiguousId(StoreError, LookupError):
    """An id prefix or name matches more than one agent."""


class VersionNotFound(StoreError, LookupError):
    """The agent has no version with that number."""


class VersionConflict(StoreError):
    """The agent was saved by someone else since the caller read it.

    Nothing was written. Reload the agent, apply the change again, and save with the new version.
    """

    def __init__(self, agent_id: str, expected: int, actual: int) -> None:
        super().__init__(
            f"agent {agent_id} was changed by someone else: you edited version {expected}, "
            f"it is now at version {actual}; reload it and apply your change again"
        )
        self.agent_id = agent_id
        self.expected = expected
        self.actual = actual


class StoreUnavailable(StoreError):
    """The database cannot be reached (connection refused, bad credentials, network down)."""


class SchemaError(StoreError):
    """The database has no agentctl schema, or one newer than this program knows."""


class ExecutionError(AgentctlError):
    """Running an agent failed; subclasses live next to the code that raises them."""
