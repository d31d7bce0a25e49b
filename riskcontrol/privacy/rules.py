"""Retention rules as data: the kinds of personal data kept, their periods, and the age bands of the report."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from riskcontrol.core.durations import Duration, format_duration


class Kind(StrEnum):
    """What a retention period applies to, and what happens when it passes."""

    OBSERVATION_NOTES = "observation_notes"  # note text and photo of a resolved observation: cleared
    RESOLVED_ESCALATIONS = "resolved_escalations"  # title, summary, outcome of a resolved escalation: anonymised
    INCIDENT_PEOPLE = "incident_people"  # names and notes of a closed incident's people: anonymised
    CONTACT_READS = "contact_reads"  # audit rows of reads of contacts and of an incident's people
    AUDIT = "audit"  # every other audit row: removed as a prefix of the chain
    SESSIONS = "sessions"  # expired or revoked sign-in sessions: deleted
    NOTIFICATIONS = "notifications"  # inbox items and the texts sent for them: their words anonymised


# Audit actions that record a disclosure of a person's contact details or involvement.
CONTACT_READ_ACTIONS = ("student.contacts.read", "incident.people.read")


class Label(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Period(BaseModel):
    """How long one kind is kept after its clock starts, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    keep: Duration
    basis: str = Field(min_length=1)
    label: Label

    @field_validator("keep")
    @classmethod
    def _at_least_a_day(cls, value: timedelta) -> timedelta:
        if value < timedelta(days=1):
            raise ValueError(f"{format_duration(value)} is shorter than a day; the retention run is daily")
        return value


class RetentionPolicy(BaseModel):
    """sop/retention.yaml: a period for every kind, the batch size and the local time of the daily run."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int = Field(ge=1)
    run_at: time = time(3, 30)
    batch: int = Field(default=500, ge=1, le=100_000)
    periods: dict[Kind, Period]

    @model_validator(mode="after")
    def _complete_and_consistent(self) -> Self:
        missing = [kind.value for kind in Kind if kind not in self.periods]
        if missing:
            raise ValueError("periods: every kind needs a period; missing: " + ", ".join(missing))
        reads, rest = self.periods[Kind.CONTACT_READS].keep, self.periods[Kind.AUDIT].keep
        if reads < rest:
            raise ValueError(
                f"periods.contact_reads: {format_duration(reads)} is shorter than audit ({format_duration(rest)}); "
                "contact reads are audit rows, and the chain is pruned only from its oldest end"
            )
        return self

    def keep(self, kind: Kind) -> timedelta:
        return self.periods[kind].keep

    def cutoff(self, kind: Kind, now: datetime) -> datetime:
        """Records of `kind` whose clock started before this moment are due."""
        return now - self.keep(kind)


# The report's age bands: upper bounds, oldest last (the last band is open-ended).
AGE_BANDS: tuple[tuple[str, timedelta | None], ...] = (
    ("<30d", timedelta(days=30)),
    ("<1y", timedelta(days=365)),
    (">=1y", None),
)


def band_counts(total: int, younger: list[int]) -> dict[str, int]:
    """Counts per age band from the total and, for each bounded band in order, how many are younger than its bound."""
    bounded = [name for name, below in AGE_BANDS if below is not None]
    assert len(younger) == len(bounded), "one count per bounded band"
    bands, below_prev = {}, 0
    for name, count in zip(bounded, younger, strict=True):
        bands[name], below_prev = count - below_prev, count
    bands[AGE_BANDS[-1][0]] = total - below_prev
    return bands


def audit_prune_before(
    now: datetime, policy: RetentionPolicy, *, oldest_kept_read: datetime | None, oldest_held: datetime | None
) -> datetime:
    """Where the audit chain may be cut: rows older than the audit period go, but never the oldest contact
    read still inside its (longer) period, nor the oldest row about a subject under legal hold."""
    before = policy.cutoff(Kind.AUDIT, now)
    for keep_from in (oldest_kept_read, oldest_held):
        if keep_from is not None and keep_from < before:
            before = keep_from
    return before
