"""Request and reply shapes of the legal-hold API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from riskcontrol.core.http import MAX_ID, NO_NUL


class _In(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class HoldIn(_In):
    """A hold to place: on which student or incident, and why."""

    subject_type: Literal["student", "incident"]
    subject_id: int = Field(ge=1, le=MAX_ID)
    reason: str = Field(min_length=1, max_length=2000, pattern=NO_NUL)


class ReleaseIn(_In):
    """Why a hold is released."""

    reason: str = Field(min_length=1, max_length=2000, pattern=NO_NUL)


class HoldOut(BaseModel):
    id: int
    subject_type: str
    subject_id: int
    reason: str
    placed_by: int | None
    placed_at: datetime
    released_at: datetime | None
    released_by: int | None
    release_reason: str | None
