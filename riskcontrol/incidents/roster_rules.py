"""Pure rules of the 7×24 duty roster: positions, shift checks, coverage gaps and when the daily check runs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from riskcontrol.core.i18n import Phrase, phrase

Span = tuple[datetime, datetime]

MAX_SHIFT: Final = timedelta(hours=24)
# The roster is planned weeks ahead, not years: a start further off is a typo.
MAX_AHEAD: Final = timedelta(days=366)


class Position(StrEnum):
    """Who a shift makes someone: the lead (值班组长) runs the first minutes; the deputy (副班) backs them up."""

    LEAD = "lead"
    DEPUTY = "deputy"


# A lead must be on duty at all times; a deputy should be.
SEVERITY: Final[Mapping[Position, str]] = {Position.LEAD: "high", Position.DEPUTY: "medium"}


@dataclass(frozen=True)
class Gap:
    """A stretch of the window with nobody of `position` on duty."""

    position: Position
    starts_at: datetime
    ends_at: datetime

    @property
    def severity(self) -> str:
        return SEVERITY[self.position]


def overlaps(a: Span, b: Span) -> bool:
    """True when two half-open spans share a moment; a shift ending at 20:00 and one starting at 20:00 do not."""
    return a[0] < b[1] and b[0] < a[1]


def first_overlap(span: Span, others: Iterable[Span]) -> Span | None:
    """The earliest of `others` that overlaps `span`, or None."""
    clashes = sorted(other for other in others if overlaps(span, other))
    return clashes[0] if clashes else None


def gaps(shifts: Iterable[Span], window_start: datetime, window_end: datetime) -> list[Span]:
    """The stretches of [window_start, window_end) that no shift covers, in order."""
    found: list[Span] = []
    covered_to = window_start
    for starts_at, ends_at in sorted(shifts):
        if ends_at <= covered_to or starts_at >= window_end:
            continue
        if starts_at > covered_to:
            found.append((covered_to, starts_at))
        covered_to = max(covered_to, ends_at)
        if covered_to >= window_end:
            return found
    if covered_to < window_end:
        found.append((covered_to, window_end))
    return found


def coverage_gaps(shifts: Iterable[tuple[Position, Span]], window_start: datetime, window_end: datetime) -> list[Gap]:
    """Every position's gaps in the window, earliest first, a lead's before a deputy's at the same moment."""
    by_position: dict[Position, list[Span]] = {position: [] for position in Position}
    for position, span in shifts:
        by_position[position].append(span)
    found = [
        Gap(position, starts_at, ends_at)
        for position, spans in by_position.items()
        for starts_at, ends_at in gaps(spans, window_start, window_end)
    ]
    order = list(Position)
    return sorted(found, key=lambda gap: (gap.starts_at, order.index(gap.position)))


def shift_problem(starts_at: datetime, ends_at: datetime, now: datetime) -> tuple[str, Phrase] | None:
    """What is wrong with a new shift's times as (field, reason), or None when they are fine."""
    if ends_at <= starts_at:
        return "ends_at", phrase("refusal.roster.ends_before_start")
    if ends_at - starts_at > MAX_SHIFT:
        return "ends_at", phrase("refusal.roster.too_long", hours=MAX_SHIFT // timedelta(hours=1))
    if ends_at <= now:
        return "ends_at", phrase("refusal.roster.past")
    if starts_at > now + MAX_AHEAD:
        return "starts_at", phrase("refusal.roster.too_far")
    return None
