"""What the engine hands a chunk task (``ChunkStep``) and what it gets back (``ChunkResult``).

Both are plain data: a step is compiled from an agent by ``flows.plan`` before the run starts, so
the task needs nothing but the step and the run's live objects.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field

from agents_store.models import Action, BrowserAction, HttpAction

__all__ = ["ChunkResult", "ChunkStep"]


class ChunkStep(BaseModel):
    """One chunk as the engine runs it."""

    chunk_id: uuid.UUID
    order: int
    name: str | None
    actions: list[Action]
    retries: int
    retry_delay_seconds: float
    action_timeout_ms: int
    allow_unsafe_urls: bool = False
    needs_review: bool = False
    """The chunk was marked Needs Review when the run started (its learned actions are unconfirmed)."""
    secret_actions: list[int] = Field(default_factory=list)
    """Indexes of actions whose fields use a secret (screenshots mask what they typed)."""
    templated_actions: list[int] | None = None
    """Indexes of actions whose fields hold a template; the others run as they are, without a copy
    rendered for each attempt (a dump and a validation per action: about 1 % of the engine's CPU in
    a run of 100 literal actions). None, for a step not compiled by ``flows.plan``: render them all."""

    @property
    def title(self) -> str:
        """``03 · Log in``: the task run's name in Prefect, so runs read like the video."""
        return f"{self.order:02d} · {self.name or f'chunk {self.order}'}"

    @property
    def label(self) -> str:
        return f'chunk {self.order} "{self.name}"' if self.name else f"chunk {self.order}"

    def is_templated(self, index: int) -> bool:
        return self.templated_actions is None or index in self.templated_actions

    @property
    def needs_browser(self) -> bool:
        return any(isinstance(a, BrowserAction) for a in self.actions)

    @property
    def http_actions(self) -> list[HttpAction]:
        return [a for a in self.actions if isinstance(a, HttpAction)]


class ChunkResult(BaseModel):
    """What a completed chunk did: how many attempts it took and which selectors matched."""

    order: int
    attempts: int
    duration_seconds: float
    selectors_used: dict[int, str] = Field(default_factory=dict)
    fallbacks: dict[int, str] = Field(default_factory=dict)
    """Action index → the selector that matched when it was not the first choice."""
    vars_set: list[str] = Field(default_factory=list)
    screenshots: list[str] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)
