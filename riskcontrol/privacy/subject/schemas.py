"""Request and reply shapes of the data-subject API: correction requests and decisions on them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from riskcontrol.core.instants import Instant

# Something written, not only spaces (and no NUL).
WORDS = r"^[^\x00]*\S[^\x00]*$"


class _In(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class CorrectionIn(_In):
    """A correction request as received from the student (or someone on their behalf)."""

    record: str = Field(min_length=1, max_length=200, pattern=WORDS)
    statement: str = Field(min_length=1, max_length=4000, pattern=WORDS)
    requested_by: str = Field(min_length=1, max_length=100, pattern=WORDS)
    # When the office received it (a letter may come in before it is typed in); now when left out.
    received_at: Instant | None = None


class DecisionIn(_In):
    decision: Literal["accepted", "refused"]
    reason: str = Field(min_length=1, max_length=4000, pattern=WORDS)


class CorrectionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    student_id: int
    record: str
    statement: str
    requested_by: str
    received_at: datetime
    recorded_at: datetime
    recorded_by: int | None
    status: str
    decided_at: datetime | None
    decided_by: int | None
    decision_reason: str | None
