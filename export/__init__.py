"""Exports of agents to repositories, and imports back: GitHub (PyGithub) and plain git.

Both write the same two files per agent (``export.files``) through the same plan (``export.plan``):
the definition as byte-stable YAML and a generated README, in one commit, tagged with the agent's
version, with no commit at all when nothing changed.
"""

from export.credentials import github_token
from export.files import AgentFiles, agent_files, check_no_secret_values, render_readme, secret_names
from export.plan import ExportPlan, ExportResult, export_tag, prepare_export

__all__ = [
    "AgentFiles",
    "ExportPlan",
    "ExportResult",
    "agent_files",
    "check_no_secret_values",
    "export_tag",
    "github_token",
    "prepare_export",
    "render_readme",
    "secret_names",
]
