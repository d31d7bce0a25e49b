"""Pure rules of review meetings (复盘会): which closed incidents need one, when it is due, when to remind."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from pydantic import Field

from riskcontrol.core.durations import Duration
from riskcontrol.core.shapes import Frozen, Label
from riskcontrol.incidents.playbook_rules import Level, LevelField

# Only a finished incident closed in the ordinary way is reviewed; a false alarm or a merge is not.
REVIEWED_STATES: Final = frozenset({"closed"})
ROLE = r"^[a-z][a-z_]*$"


class ReviewPolicy(Frozen):
    """`sop/review_policy.yaml`."""

    version: int = Field(ge=1)
    due_within: dict[LevelField, Duration]
    remind_before: tuple[Duration, ...] = ()
    organisers: tuple[str, ...] = Field(min_length=1)
    escalate_to: tuple[str, ...] = Field(min_length=1)

    def due_at(self, level: int, closed_at: datetime) -> datetime | None:
        """When the meeting for an incident of `level` closed at `closed_at` is due, or None when none is needed."""
        within = self.due_within.get(Level(level))
        return closed_at + within if within is not None else None

    def reminders(self, due_at: datetime, now: datetime) -> list[datetime]:
        """The reminder times still ahead of `now`, earliest first."""
        return sorted({due_at - lead for lead in self.remind_before if due_at - lead > now})


def needs_review(state: str, level: int, policy: ReviewPolicy) -> bool:
    return state in REVIEWED_STATES and Level(level) in policy.due_within


def days_late(due_at: datetime, held_at: datetime) -> int:
    """Whole days a meeting was held after its due time (0 when on time)."""
    late = held_at - due_at
    return -(-late // timedelta(days=1)) if late > timedelta(0) else 0


class PlanItem(Frozen):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)
    label: Label
    within: Duration
    owner: str = Field(pattern=ROLE)
    involvements: tuple[str, ...] = ()


class RecoveryPlan(Frozen):
    """`sop/recovery_plan.yaml`: the items opened per person involved and once per incident."""

    version: int = Field(ge=1)
    per_person: tuple[PlanItem, ...] = ()
    per_incident: tuple[PlanItem, ...] = ()

    def items_for(self, involvement: str) -> list[PlanItem]:
        return [item for item in self.per_person if involvement in item.involvements]
