"""The review report's figures, pure: task verdicts, reporting deadlines, response times, the chart's time axis."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from riskcontrol.core import i18n

# The SOP state whose tasks are the reports to leaders and the authority (电话报告、书面初报、上报).
REPORTING_STATE: Final = "leaders_informed"
ON_TIME, LATE, UNDONE, NOT_DUE = "on_time", "late", "undone", "not_due"


@dataclass(frozen=True)
class Verdict:
    """How a task went against its due time; `minutes` is how late (or, undone, how far past due at `now`)."""

    code: str
    minutes: int = 0

    def phrase(self) -> i18n.Phrase:
        """按时 / 超时 21分钟 / 未完成 / 未到期, to be worded for the reader."""
        if self.code == LATE:
            return i18n.phrase("report.verdict.late", late=i18n.Span(self.minutes))
        return i18n.phrase(f"report.verdict.{self.code}")

    def text(self, lang: str) -> str:
        return i18n.word(lang, self.phrase())


def minutes_between(start: datetime, end: datetime) -> int:
    """Whole minutes from `start` to `end`, rounded up so that a late second counts as a late minute."""
    return math.ceil((end - start).total_seconds() / 60)


def verdict(due_at: datetime, done_at: datetime | None, now: datetime) -> Verdict:
    """按时 when done by its due time, 超时 N 分钟 when done after it, 未完成 when not done."""
    if done_at is None:
        return Verdict(UNDONE) if now > due_at else Verdict(NOT_DUE)
    if done_at <= due_at:
        return Verdict(ON_TIME)
    return Verdict(LATE, minutes_between(due_at, done_at))


def is_reporting_task(state: str) -> bool:
    """The report-to-leaders tasks: the reporting time limits of the playbooks hang on this state."""
    return state == REPORTING_STATE


@dataclass(frozen=True)
class ResponseFigures:
    """Minutes from the incident's start to each milestone (None when it never happened)."""

    acknowledged: int | None
    on_site: int | None
    stabilised: int | None
    total: int | None


def response_figures(
    started_at: datetime,
    *,
    acknowledged_at: datetime | None,
    on_site_at: datetime | None,
    stabilised_at: datetime | None,
    closed_at: datetime | None,
    warned_at: datetime | None = None,
) -> ResponseFigures:
    """Time to acknowledge (from the warning, when there was one), to on-site, to stabilised, and in all."""

    def since(origin: datetime, at: datetime | None) -> int | None:
        return None if at is None else max(minutes_between(origin, at), 0)

    return ResponseFigures(
        acknowledged=since(warned_at or started_at, acknowledged_at),
        on_site=since(started_at, on_site_at),
        stabilised=since(started_at, stabilised_at),
        total=since(started_at, closed_at),
    )


# The share of the chart's width the first hour gets whenever an even axis would give it less: where the
# late first steps are, drawn wide; the days after compressed (a log-like axis), so a 14-day record still
# shows its first minutes apart.
FIRST_HOUR_SHARE: Final = 0.35
# Tick candidates in minutes, most telling first: each is kept when it has room beside those kept before it.
_TICKS: Final = (0, 60, 1440, 10080, 10, 30, 360, 4320, 43200, 20160, 5, 15, 120, 180, 720, 2880, 20, 45, 90, 240, 480)
_LINEAR_TICKS: Final = (0, 5, 10, 15, 20, 25, 30, 40, 45, 50, 60, 75, 90, 120, 150, 180)
MIN_TICK_GAP: Final = 36.0  # px: a tick's words ("10分钟", "12 hr") need about this much room


@dataclass(frozen=True)
class Axis:
    """Minutes since the start onto [0, 1]: even for a short record, else log-like with the first hour at
    `FIRST_HOUR_SHARE` (`softness` is the bend, in minutes; none for an even axis)."""

    span: float
    softness: float | None

    def share(self, minutes: float) -> float:
        m = min(max(minutes, 0.0), self.span)
        if self.softness is None:
            return m / self.span
        return math.log1p(m / self.softness) / math.log1p(self.span / self.softness)


def axis(span_minutes: float) -> Axis:
    """The axis of a record `span_minutes` long (at least a minute)."""
    span = max(span_minutes, 1.0)
    if 60 / span >= FIRST_HOUR_SHARE:
        return Axis(span, None)
    low, high = 1e-3, span  # the first hour's share falls as the bend softens: bisect for the target
    for _ in range(60):
        mid = (low + high) / 2
        if Axis(span, mid).share(60) > FIRST_HOUR_SHARE:
            low = mid
        else:
            high = mid
    return Axis(span, (low + high) / 2)


@dataclass(frozen=True)
class ChartRow:
    """One task on the response chart: where its bar starts, its due mark, its done mark (x in px); a late
    task has its overrun from due to done, an undone one past due has it to the axis's end."""

    label: str
    y: float
    start_x: float
    due_x: float
    done_x: float | None
    overrun_x: float | None
    due_clipped: bool
    late: bool
    late_by: int  # minutes past due: done late, or (undone) by `now`; 0 when not late


@dataclass(frozen=True)
class Chart:
    width: float
    height: float
    left: float
    right: float
    rows: tuple[ChartRow, ...]
    ticks: tuple[tuple[float, int], ...]  # (x, minutes since the start)
    first_hour_x: float | None  # where the first hour ends, on an axis longer than that


@dataclass(frozen=True)
class ChartTask:
    label: str
    created_at: datetime
    due_at: datetime
    done_at: datetime | None


def fit(label: str, width: float, *, em: float = 9.0) -> str:
    """`label` cut with an ellipsis to fit `width` px at `em` px a CJK character (Latin about half)."""

    def size(ch: str) -> float:
        return em if ord(ch) > 0x2E7F else em * 0.55

    if sum(size(ch) for ch in label) <= width:
        return label
    used, out = em, []  # room for the ellipsis
    for ch in label:
        used += size(ch)
        if used > width:
            break
        out.append(ch)
    return "".join(out).rstrip() + "…"


def chart(
    tasks: Sequence[ChartTask],
    started_at: datetime,
    end_at: datetime,
    *,
    now: datetime | None = None,
    width: float = 640,
    left: float = 170,
    row_height: float = 16,
) -> Chart:
    """Lay the tasks on one time axis from the start to `end_at` (the last thing recorded); a due time past the
    axis is drawn at its end and marked clipped. Ticks are whole minutes, hours and days since the start."""
    right = width - 12
    scale = axis((end_at - started_at).total_seconds() / 60)

    def x(at: datetime) -> float:
        return round(left + scale.share((at - started_at).total_seconds() / 60) * (right - left), 1)

    rows = []
    for i, t in enumerate(tasks):
        late = t.done_at is not None and t.done_at > t.due_at
        overdue = t.done_at is None and now is not None and now > t.due_at
        done_x = None if t.done_at is None else x(t.done_at)
        past = t.done_at if late else (now if overdue else None)
        rows.append(
            ChartRow(
                label=fit(t.label, left - 10),
                y=30 + i * row_height,
                start_x=x(t.created_at),
                due_x=x(t.due_at),
                done_x=done_x,
                overrun_x=done_x if late else (right if overdue else None),
                due_clipped=t.due_at > end_at,
                late=late or overdue,
                late_by=minutes_between(t.due_at, past) if past is not None else 0,
            )
        )
    candidates = _LINEAR_TICKS if scale.softness is None else _TICKS
    kept: list[tuple[float, int]] = []
    for minutes in candidates:
        if minutes > scale.span:
            continue
        at_x = round(left + scale.share(minutes) * (right - left), 1)
        if all(abs(at_x - other) >= MIN_TICK_GAP for other, _ in kept):
            kept.append((at_x, minutes))
    return Chart(
        width=width,
        height=30 + len(rows) * row_height + 6,
        left=left,
        right=right,
        rows=tuple(rows),
        ticks=tuple(sorted(kept)),
        first_hour_x=round(left + scale.share(60) * (right - left), 1) if scale.span > 60 else None,
    )
