"""Request and reply shapes of the escalations API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from riskcontrol.core.http import NO_NUL


class EscalationOut(BaseModel):
    id: int
    subject_type: str
    subject_id: str
    level: str
    unit_id: int
    title_zh: str
    title_en: str
    summary_zh: str
    summary_en: str
    status: str
    current_step: int
    step_due_at: datetime | None
    # How long after its schedule the current step was told (0: on time; more after an outage).
    step_late_seconds: int
    seconds_left: int | None
    started_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: int | None
    acknowledged_via: str | None
    outcome: str | None
    delivery_problem: bool


class TimelineEntry(BaseModel):
    at: datetime
    kind: str
    step: int | None
    user_id: int | None
    notification_id: int | None
    channel: str | None
    detail: dict[str, Any]


class StepOut(BaseModel):
    """One telling of a step: when the schedule said, when it happened, how late, and its deadline."""

    step: int
    grid_level: str
    scheduled_at: datetime | None
    told_at: datetime
    late_seconds: int
    due_at: datetime | None


class EscalationDetailOut(EscalationOut):
    steps: list[StepOut]
    timeline: list[TimelineEntry]
    deliveries: list[dict[str, Any]]


class OutcomeIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    outcome: str = Field(min_length=1, max_length=4000, pattern=NO_NUL)
