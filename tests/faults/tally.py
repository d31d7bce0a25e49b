"""What each fault did, counted from the database and from the texts the fake provider received."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskcontrol.core import deadlines, outbox
from riskcontrol.core.deadlines import Deadline
from riskcontrol.core.outbox import OutboxAttempt, OutboxMessage
from riskcontrol.escalation.models import Escalation, EscalationEvent
from riskcontrol.notify.models import Notification
from riskcontrol.observations.models import Observation

# How long after its scheduled time (or after the system came back, when it was down) the school
# may be told: one worker round of a second, plus the round's own work on two busy cores.
SWEEP_ALLOWANCE = timedelta(seconds=3)
COLUMNS = ("filed", "told", "sent", "fired", "dropped", "lost", "doubled")


@dataclass
class Run:
    """One fault as it was injected: what was filed under which client ids, and when the system was
    whole again (None when the fault should not have delayed the climb at all)."""

    name: str
    prefix: str
    fault_end: datetime | None = None
    never_answered: list[str] = field(default_factory=list)  # client ids no retry got through
    statuses: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # what the scenario saw as it went


@dataclass
class Tally:
    counts: dict[str, int]
    notes: list[str]


Text = tuple[str, str, str]  # (sid, To, Body) as the fake provider received it


def tally(db: Session, run: Run, texts: list[Text]) -> Tally:
    """Count `run`'s filings, tellings, texts, firings and drops, and whatever was lost or doubled."""
    notes = list(run.notes)
    lost = doubled = 0
    observations = list(db.execute(select(Observation).where(Observation.client_id.startswith(run.prefix))).scalars())
    per_client = Counter(o.client_id for o in observations)
    if extra := sum(n - 1 for n in per_client.values() if n > 1):
        doubled += extra
        notes.append(f"{extra} observation(s) stored twice")
    if run.never_answered:
        lost += len(run.never_answered)
        notes.append(f"{len(run.never_answered)} filing(s) never accepted")
    obs_ids = [str(o.id) for o in observations]
    escalations = list(
        db.execute(
            select(Escalation).where(Escalation.subject_type == "observation", Escalation.subject_id.in_(obs_ids))
        ).scalars()
    )
    per_observation = Counter(e.subject_id for e in escalations)
    if extra := sum(n - 1 for n in per_observation.values() if n > 1):
        doubled += extra
        notes.append(f"{extra} escalation(s) started twice")
    esc_ids = [e.id for e in escalations]

    steps = list(
        db.execute(
            select(EscalationEvent)
            .where(EscalationEvent.escalation_id.in_(esc_ids), EscalationEvent.kind == "step")
            .order_by(EscalationEvent.at)
        ).scalars()
    )
    tellings = Counter((s.escalation_id, s.step, s.detail.get("scheduled_at")) for s in steps)
    if extra := sum(n - 1 for n in tellings.values() if n > 1):
        doubled += extra
        notes.append(f"{extra} step(s) told twice for one schedule")
    school_lost, latest = _school_lateness(escalations, steps, run.fault_end)
    lost += school_lost
    if school_lost:
        notes.append(f"{school_lost} red climb(s) reached the school late or never")
    if latest is not None:
        notes.append(f"school told ≤{latest:.1f}s after due")

    notifications = list(
        db.execute(
            select(Notification.id).where(
                Notification.subject_type == "escalation", Notification.subject_id.in_(map(str, esc_ids))
            )
        ).scalars()
    )
    rows = list(
        db.execute(
            select(OutboxMessage).where(
                OutboxMessage.subject_type == "notification", OutboxMessage.subject_id.in_(map(str, notifications))
            )
        ).scalars()
    )
    fired = db.execute(
        select(Deadline.status).where(Deadline.subject_type == "escalation", Deadline.subject_id.in_(map(str, esc_ids)))
    ).scalars()
    by_status = Counter(fired)

    bodies = {str(r.payload.get("body")) for r in rows if r.channel == "sms"}
    mine = [t for t in texts if t[2] in bodies]
    received = Counter((to, body) for _, to, body in mine)
    if extra := sum(n - 1 for n in received.values() if n > 1):
        doubled += extra
        notes.append(f"{extra} text(s) received twice")
    sids = {sid for sid, _, _ in mine}
    unsent = [r for r in rows if r.status in (outbox.PENDING, outbox.SENDING)]
    vanished = [r for r in rows if r.channel == "sms" and r.status == outbox.SENT and r.provider_id not in sids]
    if unsent or vanished:
        lost += len(unsent) + len(vanished)
        notes.append(f"{len(unsent)} message(s) never settled, {len(vanished)} recorded sent but not received")
    received_bodies = {body for _, _, body in mine}
    misrecorded = [r for r in rows if r.channel == "sms" and r.status != outbox.SENT and r.payload.get("body") in received_bodies]
    if misrecorded:
        statuses = ", ".join(sorted({r.status for r in misrecorded}))
        notes.append(f"{len(misrecorded)} text(s) received but recorded {statuses}")
    recorded = Counter(
        db.execute(select(OutboxAttempt.message_id).where(OutboxAttempt.message_id.in_([r.id for r in rows]))).scalars()
    )
    if orphaned := sum(1 for r in rows if r.status == outbox.DROPPED and r.attempts > recorded[r.id]):
        notes.append(f"{orphaned} message(s) claimed by a killed process were dropped once its lease ran out")
    if failed := sum(1 for r in rows if r.status == outbox.FAILED):
        notes.append(f"{failed} message(s) failed and reported")
    if errors := {code: n for code, n in run.statuses.items() if code.startswith("5") or code == "conn"}:
        notes.append("answers " + " ".join(f"{code}×{n}" for code, n in sorted(errors.items())))

    counts = {
        "filed": len(observations),
        "told": len(notifications),
        "sent": len(mine),
        "fired": by_status[deadlines.FIRED],
        "dropped": by_status[deadlines.DROPPED] + sum(1 for r in rows if r.status == outbox.DROPPED),
        "lost": lost,
        "doubled": doubled,
    }
    return Tally(counts, notes)


def _school_lateness(
    escalations: list[Escalation], steps: list[EscalationEvent], fault_end: datetime | None
) -> tuple[int, float | None]:
    """How many red climbs told the school too late (or never), and the latest telling past its due time."""
    lost, latest = 0, None
    for esc in escalations:
        if esc.level != "red":
            continue
        top = len(esc.policy["chain"]) - 1
        school = next((s for s in steps if s.escalation_id == esc.id and s.step == top), None)
        if school is None:
            if esc.acknowledged_at is None or esc.current_step == top:
                lost += 1
            continue
        scheduled = datetime.fromisoformat(str(school.detail["scheduled_at"]))
        due = max(scheduled, fault_end) if fault_end is not None else scheduled
        late = (school.at - due).total_seconds()
        latest = late if latest is None else max(latest, late)
        if school.at > due + SWEEP_ALLOWANCE:
            lost += 1
    return lost, latest
