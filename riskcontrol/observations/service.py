"""Filing observations: check scope, triage, store once per client id, and start the escalation."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Select, String, cast, func, null, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached

from riskcontrol.core import audit, i18n
from riskcontrol.core.audit import AuditLog
from riskcontrol.core.clock import Clock
from riskcontrol.core.db import Base, insert_from_params, row_values
from riskcontrol.core.deadlines import Deadline
from riskcontrol.core.errors import Forbidden, InvalidInput
from riskcontrol.core.i18n import phrase
from riskcontrol.core.images import FORMATS, clean_photo
from riskcontrol.core.private import private_dir, private_file
from riskcontrol.core.security import Principal
from riskcontrol.escalation import concern_watch
from riskcontrol.escalation import rules as escalation_rules
from riskcontrol.escalation import service as escalation
from riskcontrol.escalation.models import Escalation, EscalationEvent
from riskcontrol.grid import service as grid_service
from riskcontrol.grid.models import OrgUnit
from riskcontrol.observations import rules
from riskcontrol.observations.models import Observation
from riskcontrol.observations.schemas import ObservationIn
from riskcontrol.people import concern_service, factor_import
from riskcontrol.people import service as people_service
from riskcontrol.people.factor_rules import FactorCatalogue
from riskcontrol.people.models import Student

# Phones' clocks drift; a few minutes ahead is a phone, not a report from the future.
CLOCK_SKEW = timedelta(minutes=10)
# Observers at the grid's edge file; the roles above them may also file what they see themselves.
MAY_FILE = frozenset(
    {
        "dorm_head",
        "class_monitor",
        "psych_member",
        "counselor",
        "college_officer",
        "student_affairs",
        "psych_center",
        "response_team",
        "safety_officer",
    }
)
MAY_OVERRIDE = frozenset({"counselor", "college_officer", "student_affairs", "psych_center"})


@dataclass(frozen=True)
class FilingRules:
    """The data a filing is judged by: checklist, rubric, escalation policy, and where photos go."""

    checklist: rules.Checklist
    rubric: rules.TriageRubric
    policy: escalation_rules.EscalationPolicy
    escalation: escalation.EscalationConfig
    upload_dir: Path
    factors: FactorCatalogue


# The file extension of each media type a cleaned photo may have.
PHOTO_EXTENSIONS = {mime: extension for mime, extension, _ in FORMATS.values()}


def _photo(data: ObservationIn) -> tuple[bytes, str] | None:
    if data.photo is None:
        return None
    try:
        raw = base64.b64decode(data.photo.data_base64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(phrase("refusal.photo.not_base64"), field="photo.data_base64") from exc
    photo = clean_photo(raw, field="photo.data_base64")
    return photo.data, photo.mime


def _where(db: Session, by: Principal, data: ObservationIn) -> tuple[OrgUnit, Student | None]:
    """The unit (in scope) and the student (in scope, and living or studying under that unit)."""
    unit = grid_service.get_unit(db, by, data.unit_id)
    if data.student_id is None:
        return unit, None
    student = people_service.get_student(db, by, data.student_id)
    homes = [db.get(OrgUnit, uid) for uid in (student.class_id, student.dorm_id) if uid is not None]
    if not any(home is not None and home.path.startswith(unit.path) for home in homes):
        raise InvalidInput(phrase("refusal.observation.student_elsewhere", student=student.id, unit=unit.id), field="student_id")
    return unit, student


def _escalation_for(
    db: Session, clock: Clock, filing: FilingRules, observation: Observation, *, by_name: str
) -> Escalation | None:
    """The escalation the observation's level calls for (not yet stored), climbing from the student's class."""
    unit = db.get(OrgUnit, observation.unit_id)
    student = db.get(Student, observation.student_id) if observation.student_id is not None else None
    climb_from = db.get(OrgUnit, student.class_id) if student is not None else unit
    assert unit is not None
    assert climb_from is not None
    who = (
        i18n.phrase("notice.student", name=student.name, number=student.student_no)
        if student
        else i18n.Both(unit.name_zh, unit.name_en)
    )
    items = {item.code: item for item in filing.checklist.items}
    ticked = [items[c] for c in observation.checklist if c in items]
    summary = i18n.phrase(
        "notice.observation.summary",
        by=by_name,
        ticked=i18n.listing(ticked) if ticked else i18n.phrase("notice.observation.nothing_ticked"),
        note=observation.note or "",
    )
    return escalation.prepare(
        clock,
        policy=filing.policy,
        level=observation.level,
        unit=climb_from,
        subject_type="observation",
        subject_id=observation.id if observation.id is not None else "",
        title=i18n.phrase("notice.observation.title", who=who),
        summary=summary,
        grade_within=rules.grading_window(filing.checklist, observation.checklist),
        cfg=filing.escalation,
        student_id=student.id if student is not None else None,
        reported_by=observation.filed_by,
    )


def _escalate(db: Session, clock: Clock, filing: FilingRules, observation: Observation, *, by_name: str) -> Escalation | None:
    """Start the escalation the observation's level calls for."""
    esc = _escalation_for(db, clock, filing, observation, by_name=by_name)
    return escalation.store(db, clock, esc) if esc is not None else None


def override_level_of(
    db: Session,
    clock: Clock,
    filing: FilingRules,
    *,
    by: Principal,
    observation: Observation,
    level: rules.LevelCode,
    reason: str,
) -> None:
    """A counselor sets the level with a written reason (kept, audited); raising it starts a new climb."""
    unit = db.get(OrgUnit, observation.unit_id)
    if unit is None or not by.narrowed_to(*MAY_OVERRIDE).covers(unit.path):
        raise Forbidden(phrase("refusal.observation.level_forbidden"), field="level")
    old = rules.LevelCode(observation.level)
    if rules.override_needs_reason(old, level) and not reason.strip():
        raise InvalidInput(phrase("refusal.observation.level_reason"), field="reason")
    observation.level, observation.override_reason, observation.overridden_by = level.value, reason.strip(), by.user_id
    if rules.rank(level) > rules.rank(old):
        esc = _escalate(db, clock, filing, observation, by_name=by.display_name)
        observation.escalation_id = esc.id if esc else observation.escalation_id
    audit.record(
        db,
        clock,
        actor_user_id=by.user_id,
        actor=by.username,
        action="observation.level.override",
        subject_type="observation",
        subject_id=observation.id,
        detail={"from": old.value, "to": level.value, "reason": observation.override_reason},
    )


def _store(db: Session, clock: Clock, observation: Observation, esc: Escalation | None, filed: AuditLog) -> None:
    """Save the observation, its escalation with the escalation's opening rows, and the audit entry.

    On PostgreSQL all but the audit entry go in as one statement (one round trip instead of five), so
    filing stays cheap under load, and the session inserts the audit entry, MAC'd with the audit key
    once it names the observation; elsewhere the session saves them row by row. Either way the observation and
    the escalation come back persistent in `db`, with their ids."""
    if db.get_bind().dialect.name != "postgresql":
        db.add(observation)
        db.flush()
        if esc is not None:
            esc.subject_id = str(observation.id)
            observation.escalation_id = escalation.store(db, clock, esc).id
        filed.subject_id = str(observation.id)
        db.add(filed)
        return
    # The audit row is not part of the statement: it gets its MAC when the session inserts it (core.audit).
    rows: dict[str, Base] = {"observation": observation}
    if esc is not None:
        started, begin = escalation.opening_rows(clock, esc)
        rows |= {"escalation": esc, "started": started, "begin": begin}
    params: dict[str, Any] = {}
    shape = []
    for prefix, row in rows.items():
        values = row_values(row)
        params |= {f"{prefix}_{column}": value for column, value in values.items()}
        shape.append((prefix, tuple(values)))
    observation_id, escalation_id = db.execute(_filing_statement(tuple(shape)), params).one()
    observation.id, observation.escalation_id = observation_id, escalation_id
    make_transient_to_detached(observation)
    db.add(observation)
    filed.subject_id = str(observation_id)
    db.add(filed)
    if esc is not None and escalation_id is not None:
        esc.id, esc.subject_id = escalation_id, str(observation_id)
        make_transient_to_detached(esc)
        db.add(esc)


@lru_cache(maxsize=64)
def _filing_statement(shape: tuple[tuple[str, tuple[str, ...]], ...]) -> Select[int, int | None]:
    """One statement (PostgreSQL) inserting the rows of a filing, named by prefix with the columns
    each has set; answers (observation id, escalation id)."""
    columns = dict(shape)
    ids = select(func.nextval(func.pg_get_serial_sequence(Observation.__tablename__, "id")).label("id")).cte("new_observation")
    observation_id = cast(ids.c.id, String)
    parts = []
    if "escalation" not in columns:
        parts.append(insert_from_params(Observation, "observation", columns["observation"], {"id": ids.c.id}, ids))
        stmt: Select[int, int | None] = select(ids.c.id, null())
    else:
        esc_row = (
            insert_from_params(Escalation, "escalation", columns["escalation"], {"subject_id": observation_id}, ids)
            .returning(Escalation.id)
            .cte("new_escalation")
        )
        escalation_id = esc_row.c.id
        computed_obs = {"id": ids.c.id, "escalation_id": escalation_id}
        parts += [
            insert_from_params(Observation, "observation", columns["observation"], computed_obs, ids, esc_row),
            insert_from_params(EscalationEvent, "started", columns["started"], {"escalation_id": escalation_id}, esc_row),
            insert_from_params(Deadline, "begin", columns["begin"], {"subject_id": cast(escalation_id, String)}, esc_row),
        ]
        stmt = select(ids.c.id, escalation_id).select_from(ids).join(esc_row, true())
    return stmt.add_cte(*(part.cte(f"part_{n}") for n, part in enumerate(parts)))


def find_by_client_id(db: Session, user_id: int, client_id: str) -> Observation | None:
    """The observation this user already filed under `client_id`, if any."""
    return db.execute(
        select(Observation).where(Observation.filed_by == user_id, Observation.client_id == client_id)
    ).scalar_one_or_none()


def known_factors(db: Session, clock: Clock, filing: FilingRules, student_id: int) -> list[rules.Known]:
    """What the student-affairs systems say about the student today, as the checklist items it counts as."""
    today = clock.now().astimezone(filing.escalation.tz).date()
    return [rules.Known(item, f.zh, f.en) for item, f in factor_import.known_items(db, filing.factors, student_id, today)]


def file_observation(
    db: Session, clock: Clock, filing: FilingRules, *, by: Principal, data: ObservationIn
) -> tuple[Observation, bool]:
    """Record an observation, triage it and start its escalation in one transaction; (row, created).

    A phone that retries sends the same `client_id`: the unique key on (filer, client id) refuses
    the second row and the first filing is answered instead. Nearly every filing is new, so there is
    no look-up before the insert.
    """
    if not by.has_role(*MAY_FILE):
        raise Forbidden(phrase("refusal.observation.file_forbidden"), field="unit_id")
    if data.observed_at > clock.now() + CLOCK_SKEW:
        raise InvalidInput(phrase("refusal.observation.future"), field="observed_at")
    unit, student = _where(db, by, data)
    held_at = concern_service.active_level(db, student.id) if student is not None else None
    register_level = rules.LevelCode(held_at) if held_at is not None else None
    known = known_factors(db, clock, filing, student.id) if student is not None else []
    try:
        result = rules.triage(filing.checklist, filing.rubric, data.checklist, key_concern_level=register_level, known=known)
    except rules.UnknownChecklistCode as exc:
        raise InvalidInput(phrase("refusal.observation.unknown_item", code=exc.code), field="checklist") from exc
    items = {item.code: item for item in filing.checklist.items}
    if imported := rules.off_form(filing.checklist, data.checklist):
        raise InvalidInput(phrase("refusal.observation.imported_item", item=items[imported[0]]), field="checklist")
    if wordless := rules.missing_notes(filing.checklist, data.checklist, data.note):
        raise InvalidInput(phrase("refusal.observation.note_needed", item=items[wordless[0]]), field="note")
    photo = _photo(data)
    observation = Observation(
        client_id=data.client_id,
        filed_by=by.user_id,
        unit_id=unit.id,
        student_id=student.id if student else None,
        checklist=sorted(set(data.checklist)),
        note=data.note,
        location=data.location.model_dump() if data.location else None,
        observed_at=data.observed_at,
        filed_at=clock.now(),
        suggested_level=result.level.value,
        score=result.score,
        reasons=[{"code": r.code, "level": r.level.value, "zh": r.zh, "en": r.en} for r in result.reasons],
        level=result.level.value,
    )
    esc = _escalation_for(db, clock, filing, observation, by_name=by.display_name)
    filed = audit.entry(
        clock,
        actor_user_id=by.user_id,
        actor=by.username,
        action="observation.file",
        subject_type="observation",
        detail={"level": observation.level, "unit_id": unit.id, "student_id": observation.student_id},
    )
    try:
        _store(db, clock, observation, esc, filed)
    except IntegrityError:
        db.rollback()
        if (seen := find_by_client_id(db, by.user_id, data.client_id)) is None:
            raise
        return seen, False  # a phone retried: stored exactly once
    if esc is not None:
        escalation.schedule_night_ladder(db, clock, filing.escalation, filing.policy, esc, observation.checklist)
    if photo is not None:
        raw, mime = photo
        path = private_file(private_dir(filing.upload_dir) / f"observation-{observation.id}.{PHOTO_EXTENSIONS[mime]}")
        path.write_bytes(raw)
        observation.photo_path, observation.photo_type = str(path), mime
    if student is not None and rules.rank(result.level) >= rules.rank(rules.LevelCode.YELLOW):
        # The register reacts (a counsellor's own yellow-or-above filing adds the student; see concern_watch).
        reasons = f"观察记录 #{observation.id}：" + "；".join(r.zh for r in result.reasons)
        codes = tuple(observation.checklist)
        event = concern_watch.StudentObservedAtRisk(student.id, result.level.value, observation.id, reasons, by, codes)
        filing.escalation.events.emit(db, clock, event)
    return observation, True
