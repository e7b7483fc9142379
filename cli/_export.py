"""How an export's outcome reads on the terminal, the same for ``github export`` and ``export --git``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cli._context import err_console, out_console

if TYPE_CHECKING:
    from export.plan import ExportResult

__all__ = ["print_export_result"]


def print_export_result(result: ExportResult) -> None:
    """The commit's URL (or sha) on stdout, or "no change …" (with the tag it already has); what was
    tagged this time and warnings on stderr."""
    record = result.record
    where = f"{record.repository} {record.branch}:{record.path}"
    commit = record.commit_sha or ""
    if result.changed:
        out_console.print(result.commit_url or commit, markup=False)
        err_console.print(f"exported version {record.agent_version} to {where}", markup=False)
        if record.tag:
            err_console.print(f"tagged {record.tag}", markup=False)
    else:
        tagged = f", tag {record.tag}" if record.tag else ""
        out_console.print(
            f"no change: {where} already holds version {record.agent_version} (commit {commit[:12]}{tagged})",
            markup=False,
        )
    for warning in result.warnings:
        err_console.print(f"agentctl: warning: {warning}", markup=False)
