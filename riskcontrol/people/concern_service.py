"""Use cases of the key-concern register: add, change, close, record talks, list in scope, keep the talk deadlines."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from riskcontrol.core import audit, deadlines
from riskcontrol.core.clock import Clock
from riskcontrol.core.datafiles import load_model
from riskcontrol.core.db import missing_or_private
from riskcontrol.core.errors import Conflict, Forbidden, InvalidInput
from riskcontrol.core.i18n import phrase
from riskcontrol.core.security import Principal
from riskcontrol.grid import service as grid_service
from riskcontrol.grid.models import OrgUnit
from riskcontrol.people import concern_rules as rules
from riskcontrol.people import service as people_service
from riskcontrol.people.concern_models import ACTIVE, CLOSED, KeyConcern, TalkRecord
from riskcontrol.people.concern_rules import EntryChange, NewEntry, RegisterConfig, TalkNote
from riskcontrol.people.models import Student, User
from riskcontrol.people.rules import Role

RULES_FILE = "key_concern.yaml"
SUBJECT = "key_concern"
TALK_DUE, TALK_OVERDUE = "key_concern.talk_due", "key_concern.talk_overdue"
# Who keeps the register, within their part of the grid; dorm heads and monitors (students
# themselves) never learn that a classmate is on it.
MANAGES = frozenset({"counselor", "college_officer", "student_affairs", "psych_center"})
# Besides the assigned counsellor, who may record and read talks (case notes are sensitive).
ABOVE_COUNSELOR = frozenset({"college_officer", "student_affairs", "psych_center"})
# Phones' clocks drift; a talk a few minutes "ahead" is a phone, not a talk in the future.
CLOCK_SKEW = timedelta(minutes=10)

ClassUnit = aliased(OrgUnit, name="concern_class")
Counselor = aliased(User, name="concern_counselor")
Entry = tuple[KeyConcern, Student, User]


@lru_cache(maxsize=8)
def _load(path: Path, modified_ns: int) -> rules.KeyConcernRules:
    return load_model(path, rules.KeyConcernRules)


def load_rules(sop_dir: Path) -> rules.KeyConcernRules:
    """The validated `key_concern.yaml` of `sop_dir`, read again when the file changes."""
    path = (sop_dir / RULES_FILE).resolve()
    try:
        modified_ns = path.stat().st_mtime_ns
    except OSError:
        modified_ns = -1  # load_model reports the unreadable file with its path
    return _load(path, modified_ns)


def _visible(principal: Principal) -> Select[KeyConcern, Student, User]:
    managers = principal.narrowed_to(*MANAGES)
    return (
        select(KeyConcern, Student, Counselor)
        .join(Student, Student.id == KeyConcern.student_id)
        .join(ClassUnit, ClassUnit.id == Student.class_id)
        .join(Counselor, Counselor.id == KeyConcern.counselor_id)
        .where(grid_service.scope_clause(managers, ClassUnit.path))
    )


def list_entries(
    db: Session, principal: Principal, *, status: str | None = ACTIVE, mine: bool = False, limit: int = 100, offset: int = 0
) -> list[Entry]:
    """Entries over students in the caller's scope, the most urgent talk first."""
    if not principal.has_role(*MANAGES):
        raise Forbidden(phrase("refusal.concern.register_forbidden"))
    stmt = _visible(principal)
    if status is not None:
        stmt = stmt.where(KeyConcern.status == status)
    if mine:
        stmt = stmt.where(KeyConcern.counselor_id == principal.user_id)
    stmt = stmt.order_by(KeyConcern.next_talk_due_at.is_(None), KeyConcern.next_talk_due_at, KeyConcern.id)
    return [(e, s, c) for e, s, c in db.execute(stmt.limit(limit).offset(offset))]


def get_entry(db: Session, principal: Principal, entry_id: int, *, lock: bool = False) -> Entry:
    """One entry over a student in scope; outside it the entry's existence is private (404, audited)."""
    stmt = _visible(principal).where(KeyConcern.id == entry_id)
    row = db.execute(stmt.with_for_update(of=KeyConcern) if lock else stmt).first()
    if row is not None:
        return row[0], row[1], row[2]
    refusal = phrase("refusal.concern.no_entry", id=entry_id)
    raise missing_or_private(db, KeyConcern, entry_id, message=refusal, field="key_concern_id")


def active_level(db: Session, student_id: int) -> str | None:
    """The level a student is held at on the register, or None when not on it."""
    stmt = select(KeyConcern.level).where(KeyConcern.student_id == student_id, KeyConcern.status == ACTIVE)
    return db.execute(stmt).scalar_one_or_none()


def counselors_over(db: Session, student: Student) -> list[User]:
    """Active counsellors holding the role at the student's class or its college, the class's own first."""
    home = db.get(OrgUnit, student.class_id)
    assert home is not None
    return people_service.holders(db, home.path, [Role.COUNSELOR], nearest=False)


def _counselor(db: Session, student: Student, by: Principal, counselor_id: int | None) -> User:
    over = counselors_over(db, student)
    if counselor_id is not None:
        if (chosen := next((u for u in over if u.id == counselor_id), None)) is None:
            raise InvalidInput(phrase("refusal.concern.not_their_counselor", id=counselor_id), field="counselor_id")
        return chosen
    # Unnamed: the caller when they counsel this student, else the class's own counsellor.
    mine = next((u for u in over if u.id == by.user_id), None)
    if mine is None and not over:
        raise InvalidInput(phrase("refusal.concern.no_counselor"), field="counselor_id")
    return mine or over[0]


def _checked(cfg: RegisterConfig, clock: Clock, *, level: str | None = None, review_on: date | None = None) -> None:
    try:
        if level is not None:
            rules.cadence_of(cfg.rules, level)
    except rules.UnknownLevel as exc:
        raise InvalidInput(exc.phrase, field="level") from exc
    if review_on is not None and review_on < clock.now().astimezone(cfg.tz).date():
        raise InvalidInput(phrase("refusal.concern.review_past"), field="review_on")


def _schedule_talk(db: Session, clock: Clock, entry: KeyConcern, due_at: datetime) -> None:
    """Replace the entry's talk deadlines with one at `due_at` (a pending escalation goes with them)."""
    for kind in (TALK_DUE, TALK_OVERDUE):
        deadlines.cancel(db, subject_type=SUBJECT, subject_id=entry.id, kind=kind)
    entry.next_talk_due_at = due_at
    payload = {"due_at": due_at.isoformat()}
    deadlines.schedule(db, clock, kind=TALK_DUE, subject_type=SUBJECT, subject_id=entry.id, due_at=due_at, payload=payload)


def _audit(db: Session, clock: Clock, by: Principal, action: str, entry: KeyConcern, **detail: Any) -> None:
    who, detail = by.username, {"student_id": entry.student_id, **detail}
    audit.record(
        db, clock, actor_user_id=by.user_id, actor=who, action=action, subject_type=SUBJECT, subject_id=entry.id, detail=detail
    )


def add(
    db: Session,
    clock: Clock,
    cfg: RegisterConfig,
    *,
    by: Principal,
    new: NewEntry,
    source: str = "manual",
    source_id: str | None = None,
) -> KeyConcern:
    """Put a student in scope on the register and start the talk cadence."""
    if not by.has_role(*MANAGES):
        raise Forbidden(phrase("refusal.concern.add_forbidden"), field="student_id")
    student = people_service.get_student(db, by.narrowed_to(*MANAGES), new.student_id)
    _checked(cfg, clock, level=new.level, review_on=new.review_on)
    if not new.reason_codes and not new.reasons.strip():
        raise InvalidInput(phrase("refusal.concern.reason_missing"), field="reason_codes")
    counselor = _counselor(db, student, by, new.counselor_id)
    if active_level(db, student.id) is not None:
        raise Conflict(phrase("refusal.concern.already_on", id=student.id), field="student_id")
    now = clock.now()
    entry = KeyConcern(
        student_id=student.id,
        level=new.level,
        reason_codes=list(new.reason_codes),
        reasons=new.reasons.strip(),
        counselor_id=counselor.id,
        status=ACTIVE,
        source=source,
        source_id=source_id,
        added_by=by.user_id,
        started_at=now,
        review_on=new.review_on or rules.default_review_on(now, cfg.rules, cfg.tz),
    )
    try:
        with db.begin_nested():
            db.add(entry)
            db.flush()
    except IntegrityError as exc:  # another request added the student a moment ago
        raise Conflict(phrase("refusal.concern.already_on", id=student.id), field="student_id") from exc
    _schedule_talk(db, clock, entry, rules.next_talk_due(new.level, now, cfg.rules))
    _audit(
        db, clock, by, "key_concern.add", entry, level=new.level, counselor_id=counselor.id, source=source, source_id=source_id
    )
    return entry


def add_for_interview(
    db: Session,
    clock: Clock,
    cfg: RegisterConfig,
    *,
    student: Student,
    level: str,
    reason_codes: Sequence[str],
    reasons: str,
    source: str,
    source_id: str,
    due_within: timedelta,
    by_user_id: int | None,
) -> bool | None:
    """Put a student flagged by imported data (a screening) on the register with the class counsellor's
    first talk (the interview) due within `due_within`: True when added, False when already on it,
    None when no counsellor holds the student's class to interview them. The importer's role was checked."""
    if active_level(db, student.id) is not None:
        return False
    over = counselors_over(db, student)
    if not over:
        return None
    now = clock.now()
    entry = KeyConcern(
        student_id=student.id,
        level=level,
        reason_codes=list(reason_codes),
        reasons=reasons,
        counselor_id=over[0].id,
        status=ACTIVE,
        source=source,
        source_id=source_id,
        added_by=by_user_id,
        started_at=now,
        review_on=rules.default_review_on(now, cfg.rules, cfg.tz),
    )
    db.add(entry)
    db.flush()
    _schedule_talk(db, clock, entry, now + due_within)
    detail = {"student_id": student.id, "level": level, "counselor_id": over[0].id, "source": source, "source_id": source_id}
    audit.record(
        db,
        clock,
        actor_user_id=by_user_id,
        actor="import",
        action="key_concern.add",
        subject_type=SUBJECT,
        subject_id=entry.id,
        detail=detail,
    )
    return True


def _active(entry: KeyConcern) -> None:
    if entry.status != ACTIVE:
        raise Conflict(phrase("refusal.concern.closed", id=entry.id), field="key_concern_id")


def update(db: Session, clock: Clock, cfg: RegisterConfig, *, by: Principal, entry_id: int, change: EntryChange) -> Entry:
    """Change the level (with a reason), the counsellor or the review date; a new level restarts the cadence."""
    entry, student, counselor = get_entry(db, by, entry_id, lock=True)
    _active(entry)
    _checked(cfg, clock, level=change.level, review_on=change.review_on)
    reason = (change.reason or "").strip() or None
    changes: dict[str, list[Any]] = {}
    if change.level is not None and change.level != entry.level:
        if reason is None:
            raise InvalidInput(phrase("refusal.concern.level_reason"), field="reason")
        changes["level"], entry.level = [entry.level, change.level], change.level
        due_at = rules.next_talk_due(entry.level, entry.last_talk_at or entry.started_at, cfg.rules, not_before=clock.now())
        _schedule_talk(db, clock, entry, due_at)
    if change.counselor_id is not None and change.counselor_id != entry.counselor_id:
        counselor = _counselor(db, student, by, change.counselor_id)
        changes["counselor_id"], entry.counselor_id = [entry.counselor_id, counselor.id], counselor.id
    if change.review_on is not None and change.review_on != entry.review_on:
        changes["review_on"] = [entry.review_on.isoformat(), change.review_on.isoformat()]
        entry.review_on = change.review_on
    if changes:
        _audit(db, clock, by, "key_concern.update", entry, changes=changes, reason=reason)
    return entry, student, counselor


def close(db: Session, clock: Clock, *, by: Principal, entry_id: int, reason: str) -> Entry:
    """Take a student off the register with a reason; every pending reminder of the entry is cancelled."""
    entry, student, counselor = get_entry(db, by, entry_id, lock=True)
    _active(entry)
    if not reason.strip():
        raise InvalidInput(phrase("refusal.concern.close_reason"), field="reason")
    entry.status, entry.closed_at, entry.closed_by, entry.closed_reason = CLOSED, clock.now(), by.user_id, reason.strip()
    entry.next_talk_due_at = None
    deadlines.cancel(db, subject_type=SUBJECT, subject_id=entry.id)
    _audit(db, clock, by, "key_concern.close", entry, reason=entry.closed_reason)
    return entry, student, counselor


def _handles_talks(db: Session, by: Principal, entry_id: int, *, lock: bool = False) -> KeyConcern:
    """The entry, if the caller is its counsellor or an officer above them (talks are case notes)."""
    entry, student, _counselor_user = get_entry(db, by, entry_id, lock=lock)
    home = db.get(OrgUnit, student.class_id)
    assert home is not None
    if by.user_id != entry.counselor_id and not by.narrowed_to(*ABOVE_COUNSELOR).covers(home.path):
        raise Forbidden(phrase("refusal.concern.talks_forbidden"), field="key_concern_id")
    return entry


def record_talk(db: Session, clock: Clock, cfg: RegisterConfig, *, by: Principal, entry_id: int, note: TalkNote) -> TalkRecord:
    """Record a talk; the next one falls due a level's interval after the latest talk."""
    entry = _handles_talks(db, by, entry_id, lock=True)
    _active(entry)
    now = clock.now()
    if note.talked_at > now + CLOCK_SKEW:
        raise InvalidInput(phrase("refusal.concern.talk_future"), field="talked_at")
    if note.talked_at < entry.started_at:
        raise InvalidInput(phrase("refusal.concern.talk_before_entry"), field="talked_at")
    if not note.summary.strip():
        raise InvalidInput(phrase("refusal.concern.talk_summary"), field="summary")
    if entry.last_talk_at is None or note.talked_at > entry.last_talk_at:
        # Only a newer talk moves the cadence; a late entry of an older talk leaves pending reminders alone.
        entry.last_talk_at = note.talked_at
        _schedule_talk(db, clock, entry, rules.next_talk_due(entry.level, note.talked_at, cfg.rules, not_before=now))
    assert entry.next_talk_due_at is not None
    talk = TalkRecord(
        key_concern_id=entry.id,
        student_id=entry.student_id,
        counselor_id=by.user_id,
        talked_at=note.talked_at,
        mode=note.mode,
        summary=note.summary.strip(),
        risk_change=note.risk_change,
        next_due_at=entry.next_talk_due_at,
        recorded_at=now,
    )
    db.add(talk)
    db.flush()
    _audit(db, clock, by, "key_concern.talk.record", entry, talk_id=talk.id, mode=note.mode, risk_change=note.risk_change)
    return talk


def read_entry(db: Session, clock: Clock, *, by: Principal, entry_id: int) -> Entry:
    """One entry with its reasons; the reasons describe a student's distress, so the read is audited."""
    row = get_entry(db, by, entry_id)
    _audit(db, clock, by, "key_concern.read", row[0])
    return row


def talks(db: Session, clock: Clock, *, by: Principal, entry_id: int) -> list[TalkRecord]:
    """The talks with a student, newest first: for the assigned counsellor and officers above; audited."""
    entry = _handles_talks(db, by, entry_id)
    order = (TalkRecord.talked_at.desc(), TalkRecord.id.desc())
    found = list(db.execute(select(TalkRecord).where(TalkRecord.key_concern_id == entry.id).order_by(*order)).scalars())
    _audit(db, clock, by, "key_concern.talks.read", entry, talks=len(found))
    return found
