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
    │   ├── AgentInUse                     a run of the agent is in progress (delete refused)
    │   ├── StoreUnavailable               the database cannot be reached
    │   └── SchemaError                    the database schema is missing or too new
    ├── ConfigError (ValueError)           a setting or option has a bad value
    ├── PrefectUnavailable                 PREFECT_API_URL names no Prefect API that answers
    ├── ExportError                        an export to, or an import from, a repository failed
    │   ├── ExportAuthError                no token, or the server refused it (401) or its rights (403)
    │   ├── RepositoryNotFound (LookupError)  no such repository, branch, path or ref, or no access
    │   ├── ExportConflict                 the repository is empty, or the branch moved meanwhile
    │   ├── ExportRejected (ValueError)    the server refused the request (422), or a secret would leak
    │   ├── RateLimited                    the API rate limit is spent; carries the reset time
    │   └── GitCommandFailed               a plain ``git`` command failed; carries its stderr
    └── ExecutionError                     running an agent failed (tasks/errors.py, flows/errors.py)
        ├── TemplateError                  an unknown params / vars / secrets name
        ├── BrowserUnavailable             no Chromium could be found or started
        ├── ActionError                    one action failed (carries chunk, action index, selector)
        │   ├── ActionTimeout
        │   ├── ElementNotFound
        │   ├── AssertionFailed
        │   ├── HttpActionFailed
        │   ├── UnusableUrl                a URL no browser can open (relative, from a param)
        │   └── UnsafeAction               a dangerous URL, path or secret destination
        ├── RunRefused                     a run may not start (e.g. chunks need review)
        ├── ChunkFailed                    a chunk failed after its last attempt
        ├── RunAborted                     someone aborted the run at a pause
        ├── PauseTimedOut                  nobody answered a pause in time
        └── RunNotPaused                   a decision for a run that is not waiting for one
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime

__all__ = [
    "AgentInUse",
    "AgentNotFound",
    "AgentctlError",
    "AmbiguousId",
    "ConfigError",
    "ExecutionError",
    "ExportAuthError",
    "ExportConflict",
    "ExportError",
    "ExportRejected",
    "GitCommandFailed",
    "InvalidAgent",
    "PrefectUnavailable",
    "RateLimited",
    "RepositoryNotFound",
    "SchemaError",
    "StoreError",
    "StoreUnavailable",
    "TemplateError",
    "VersionConflict",
    "VersionNotFound",
    "error_chain",
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
    """A setting, option or parameter has a value that cannot be used.

    With ``field``, the message starts with it (``cron: …``), and a caller that knows the field by
    another name — the command line's ``--cron`` — can say it that way (``renamed``).
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.problem = message

    def renamed(self, names: Mapping[str, str]) -> ConfigError:
        """The same error naming its field as ``names`` says (itself when the field is not there)."""
        if self.field is None or self.field not in names:
            return self
        return ConfigError(self.problem, field=names[self.field])


class PrefectUnavailable(AgentctlError):
    """``PREFECT_API_URL`` names no Prefect API that answers: the server is down, or the URL is wrong.

    Raised before anything is changed (``flows.prefect_ui.require_prefect_api``), or in place of the
    error of Prefect's client when this is why it failed (``prefect_unavailable_behind``), so the CLI
    and the dashboard refuse alike. The message names the variable, its value, what went wrong and
    the likely fix, on one line.
    """


class ExportError(AgentctlError):
    """Exporting an agent to a repository, or importing one from it, failed.

    Nothing was committed when this is raised before the commit; the message says what to do next.
    """


class ExportAuthError(ExportError):
    """No token was given, or the server refused it (401) or refused what it may do (403)."""


class RepositoryNotFound(ExportError, LookupError):
    """The repository, branch, folder or ref does not exist, or the token may not see it.

    GitHub answers 404 for a private repository the token has no access to, so both look alike.
    """


class ExportConflict(ExportError):
    """The repository is not in a state to take the commit: it is empty, or its branch moved.

    A branch that moved between reading and updating it means someone pushed meanwhile; exporting
    again builds the commit on top of theirs.
    """


class ExportRejected(ExportError, ValueError):
    """The request was refused as invalid (GitHub's 422), or the export would write a secret's value."""


class RateLimited(ExportError):
    """The API's rate limit is used up until ``reset_at`` (UTC), when known."""

    def __init__(self, message: str, reset_at: datetime | None = None) -> None:
        super().__init__(message)
        self.reset_at = reset_at


class GitCommandFailed(ExportError):
    """A plain ``git`` command failed; ``stderr`` holds what git said."""

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(message)
        self.stderr = stderr


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


class AgentInUse(StoreError):
    """A run of the agent is still running or paused: deleting the agent under it would leave that
    run going unseen (writing to nothing, and saving sessions again), so the delete is refused."""


class StoreUnavailable(StoreError):
    """The database cannot be reached (connection refused, bad credentials, network down)."""


class SchemaError(StoreError):
    """The database has no agentctl schema, or one newer than this program knows."""


class ExecutionError(AgentctlError):
    """Running an agent failed; subclasses live next to the code that raises them."""


class TemplateError(ExecutionError):
    """A ``{{ params / vars / secrets }}`` template that does not parse, or a name that does not exist.

    Here rather than in ``tasks``: the template syntax is part of the agent format, and an import
    checks it (``agents_store.templates``)."""


def error_chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and its causes (``raise … from``) or contexts, innermost last: what a command's
    last line is about may sit under what its libraries wrapped it in (typer's exit for a Ctrl+C,
    Prefect's client's errors)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
