"""The arguments and options several commands take, declared once so they read the same everywhere."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["AgentRef", "ModeOption", "ParamsOption", "RunRef"]

AgentRef = Annotated[str, typer.Argument(metavar="AGENT", help="Agent id, unique id prefix, or name.")]
RunRef = Annotated[str, typer.Argument(metavar="RUN", help="Flow run id or unique prefix.")]
ParamsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        "-p",
        metavar="NAME=VALUE",
        help="A value for one of the agent's params (repeat for several).",
    ),
]
ModeOption = Annotated[str, typer.Option("--mode", help="automatic, verification or debugging.")]
