"""Copies of the audit chain's head outside the database: appended to a file every hour, checked by
`audit verify`, and printed with the day's rows by action in the daily report.

Someone who can write the database but not this file cannot roll the chain back, cut its end or
rewrite it and still agree with the anchors written before. The anchor is written by a deadline
row of its own, claimed by one worker, so two workers write one line an hour. A line is written
in the sweep's transaction but the file is not transactional: a sweep rolled back after writing
leaves a line that the retry writes again, which verification takes as the same anchor.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from riskcontrol.core import deadlines
from riskcontrol.core.audit import GENESIS_HASH, Anchor, AuditConfig, AuditHead, AuditLog, ChainBroken
from riskcontrol.core.clock import Clock
from riskcontrol.core.deadlines import Deadline, DeadlineHandlers
from riskcontrol.core.private import private_file

log = logging.getLogger(__name__)

ANCHOR = "audit.anchor"
REPORT = "audit.report"
SUBJECT = "audit"
# The daily report covers the local day just ended.
REPORT_AT = time(0, 10)


def anchor_job() -> deadlines.HourlyJob:
    """The hourly anchor: one pending row, due at the top of the next hour."""
    return deadlines.HourlyJob(kind=ANCHOR, subject_type=SUBJECT)


def report_job(cfg: AuditConfig) -> deadlines.DailyJob:
    """The daily report: one pending row, due just after local midnight."""
    return deadlines.DailyJob(kind=REPORT, subject_type=SUBJECT, tz=cfg.tz, at=REPORT_AT)


def write_anchor(db: Session, clock: Clock, path: Path) -> Anchor:
    """Append the chain head as it stands (time, seq, hash) as one line of the anchors file."""
    head = db.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).first()
    anchor = Anchor(clock.now(), *(head if head is not None else (0, GENESIS_HASH)))
    line = f"{anchor.at.isoformat()} seq={anchor.seq} hash={anchor.hash}\n"
    private_file(path)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, line.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return anchor


def read_anchors(path: Path) -> list[Anchor]:
    """Every anchor in the file (none when it does not exist yet); a line that is no anchor is an error."""
    if not path.exists():
        return []
    anchors = []
    for number, line in enumerate(path.read_text(encoding="ascii").splitlines(), start=1):
        try:
            at, seq, hash_ = line.split(" ")
            if not (seq.startswith("seq=") and hash_.startswith("hash=")):
                raise ValueError(line)
            anchors.append(Anchor(datetime.fromisoformat(at), int(seq.removeprefix("seq=")), hash_.removeprefix("hash=")))
        except ValueError as exc:
            raise ChainBroken(f"line {number} of the anchors file {path} is not an anchor") from exc
    return anchors


def daily_report(db: Session, cfg: AuditConfig, day: date) -> str:
    """The day's anchors and its audit rows counted by action (the day in the school's time zone)."""
    starts = datetime.combine(day, time(0), tzinfo=cfg.tz).astimezone(UTC)
    ends = datetime.combine(day + timedelta(days=1), time(0), tzinfo=cfg.tz).astimezone(UTC)
    anchors = [a for a in read_anchors(cfg.anchors) if starts <= a.at < ends]
    counted = select(AuditLog.action, func.count()).where(AuditLog.at >= starts, AuditLog.at < ends).group_by(AuditLog.action)
    rows = Counter(dict(db.execute(counted).all()))
    lines = [f"audit report for {day.isoformat()} ({cfg.tz})", f"anchors ({len(anchors)}):"]
    lines += [f"  {a.at.astimezone(cfg.tz).strftime('%H:%M')}  seq {a.seq}  {a.hash}" for a in anchors] or ["  none"]
    lines.append(f"rows by action ({rows.total()}):")
    lines += [f"  {action}  {count}" for action, count in sorted(rows.items())] or ["  none"]
    return "\n".join(lines)


def on_anchor(cfg: AuditConfig) -> deadlines.Handler:
    """Deadline handler: write the hour's anchor, then schedule the next hour's."""

    def handle(db: Session, clock: Clock, deadline: Deadline) -> None:
        write_anchor(db, clock, cfg.anchors)
        anchor_job().rescheduled(db, clock, deadline)

    return handle


def on_report(cfg: AuditConfig) -> deadlines.Handler:
    """Deadline handler: log the report of the day just ended, then schedule tomorrow's."""

    def handle(db: Session, clock: Clock, deadline: Deadline) -> None:
        day = date.fromisoformat(deadline.subject_id) - timedelta(days=1)
        log.info("%s", daily_report(db, cfg, day))
        report_job(cfg).rescheduled(db, clock, deadline)

    return handle


def register(cfg: AuditConfig, handlers: DeadlineHandlers) -> None:
    """Wire the hourly anchor and the daily report into the deadline sweeper."""
    handlers.register(ANCHOR, on_anchor(cfg))
    handlers.register(REPORT, on_report(cfg))
