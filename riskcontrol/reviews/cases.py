"""The case library (案例库): anonymised cases from closed, reviewed incidents, for counsellor training.

A case keeps what a counsellor can learn from — the type and level, how the response unfolded (each step
as "T+N 分钟" from the start), which steps were on time, the review's conclusions and the improvement
actions — and removes who it was: the names of the people involved, their families and the staff,
student numbers, phone numbers and room numbers are replaced by roles ("学生甲", "家长", "辅导员") or
generalised ("某宿舍楼"); the date becomes the month. Cases are anonymised, so every staff member may
read them; making one needs student affairs or the psych centre.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, tzinfo
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskcontrol.core import audit, i18n
from riskcontrol.core.anonymise import Scrubber, looks_like_room
from riskcontrol.core.clock import Clock
from riskcontrol.core.errors import Conflict, Forbidden, NotFound
from riskcontrol.core.i18n import phrase
from riskcontrol.core.security import Principal
from riskcontrol.grid.models import OrgUnit
from riskcontrol.incidents import config, reading, timeline
from riskcontrol.incidents.models import Incident, IncidentEvent, IncidentPerson, IncidentTask
from riskcontrol.incidents.playbook_rules import LEVEL_NAMES, Level
from riskcontrol.people.disclosure_rules import stand_in
from riskcontrol.people.models import Guardian, Student, User
from riskcontrol.people.rules import STUDENT_ROLES, Role
from riskcontrol.reviews.models import CaseStudy, ImprovementAction, RecoveryItem, ReviewMeeting

MAKERS: Final = (Role.STUDENT_AFFAIRS, Role.PSYCH_CENTER, Role.ADMIN)
# A case is written in the school's language; its reader's language words only the headings of the export.
CASE_LANGUAGE: Final = i18n.DEFAULT_LANGUAGE


def _scrubber(db: Session, incident: Incident, users: Iterable[User]) -> Scrubber:
    scrub = Scrubber()
    people = list(
        db.execute(select(IncidentPerson).where(IncidentPerson.incident_id == incident.id).order_by(IncidentPerson.id)).scalars()
    )
    for i, person in enumerate(people):
        label = stand_in(i, "zh")
        scrub.add_person(person.name, label)
        student = db.get(Student, person.student_id) if person.student_id is not None else None
        if student is None:
            continue
        scrub.add_person(student.name, label)
        scrub.add(student.student_no, "[学号]")
        scrub.add(student.phone, "[电话]")
        for guardian in db.execute(select(Guardian).where(Guardian.student_id == student.id)).scalars():
            scrub.add(guardian.name, f"{label}家长")
            scrub.add(guardian.phone, "[电话]")
        # The class narrows it to a few dozen students: generalised too.
        unit = db.get(OrgUnit, student.class_id) if student.class_id is not None else None
        if unit is not None:
            college = db.get(OrgUnit, unit.parent_id) if unit.parent_id is not None else None
            scrub.add_class(unit.name_zh, unit.code, college.name_zh if college is not None else None)
        room = db.get(OrgUnit, student.dorm_id) if student.dorm_id is not None else None
        if room is not None:
            scrub.add_room(room.code, room.name_zh)
    for user in users:
        scrub.add(user.name, "工作人员")
        scrub.add(user.phone, "[电话]")
    return scrub


def _relative(at: datetime, start: datetime) -> str:
    """How long after the start, to the minute for two hours, then to the hour for two days, then in days."""
    minutes = int((at - start) / timedelta(minutes=1))
    if minutes >= 48 * 60:
        minutes -= minutes % (24 * 60)
    elif minutes >= 120:
        minutes -= minutes % 60
    return i18n.translate(CASE_LANGUAGE, "cases.t_plus", span=i18n.Span(minutes))


def _event_line(event: IncidentEvent, scrub: Scrubber, names: timeline.Names, tz: tzinfo) -> str:
    """The timeline entry in words, as the incident page and the review report write it (a role holder's name
    withheld), then scrubbed."""
    data = {**event.data, "name": i18n.translate(CASE_LANGUAGE, "cases.withheld")} if "name" in event.data else event.data
    return scrub(i18n.word(CASE_LANGUAGE, timeline.phrase(event.kind, data, names, tz)))


def build(db: Session, incident: Incident, *, tz: tzinfo) -> dict[str, Any]:
    """The anonymised case of an incident (not stored); a date in it is on the school's clock `tz`."""
    events = reading.timeline(db, incident.id)
    tasks = list(
        db.execute(select(IncidentTask).where(IncidentTask.incident_id == incident.id).order_by(IncidentTask.due_at)).scalars()
    )
    actions = list(db.execute(select(ImprovementAction).where(ImprovementAction.incident_id == incident.id)).scalars())
    review = (
        db.execute(
            select(ReviewMeeting)
            .where(ReviewMeeting.incident_id == incident.id, ReviewMeeting.status == "held")
            .order_by(ReviewMeeting.id.desc())
        )
        .scalars()
        .first()
    )
    recovery = {
        item.code: i18n.Both(item.label_zh, item.label_en)
        for item in db.execute(select(RecoveryItem).where(RecoveryItem.incident_id == incident.id)).scalars()
    }
    names = timeline.names_of(incident, tasks, more_tasks=recovery)
    ids = {e.actor_id for e in events} | {t.done_by for t in tasks} | {a.owner_user_id for a in actions}
    ids |= {r.user_id for r in reading.role_history(db, incident.id)}
    if review is not None:
        ids |= {a.get("user_id") for a in review.attendees}
    users = list(db.execute(select(User).where(User.id.in_([i for i in ids if isinstance(i, int)]))).scalars())
    scrub = _scrubber(db, incident, users)
    if review is not None:
        for attendee in review.attendees:
            scrub.add(str(attendee.get("name") or ""), str(attendee.get("role") or "参会人员"))
    playbook = config.playbook_of(incident)
    level = Level(incident.level)
    on_time = sum(1 for t in tasks if t.done_at is not None and t.done_at <= t.due_at)
    late = [t for t in tasks if t.done_at is not None and t.done_at > t.due_at]
    return {
        "title": scrub(incident.title),
        "type": incident.type,
        "type_label": playbook.label.zh,
        "level": level.numeral,
        "level_label": LEVEL_NAMES[level].zh,
        "period": i18n.day(incident.started_at, CASE_LANGUAGE, tz, skeleton="yMMM"),
        "drill": incident.drill,
        "place": "某宿舍楼" if looks_like_room(incident.location) else scrub(incident.location),
        "summary": scrub(incident.summary),
        "timeline": [{"when": _relative(e.at, incident.started_at), "what": _event_line(e, scrub, names, tz)} for e in events],
        "steps": {"total": len(tasks), "on_time": on_time, "late": [scrub(t.label_zh) for t in late]},
        "conclusions": [scrub(c) for c in review.conclusions] if review is not None else [],
        "minutes": scrub(review.minutes) if review is not None else "",
        "actions": [{"type": a.type, "title": scrub(a.title), "status": a.status} for a in actions],
    }


def _plain(body: dict[str, Any]) -> str:
    lines = [body["title"], body["type_label"], body["summary"], body["minutes"], *body["conclusions"]]
    lines += [f"{row['when']} {row['what']}" for row in body["timeline"]]
    lines += [a["title"] for a in body["actions"]]
    return "\n".join(lines)


def make(db: Session, clock: Clock, principal: Principal, incident_id: int, *, tz: tzinfo) -> CaseStudy:
    """Store the anonymised case of a closed incident whose review was held (once per incident)."""
    if not principal.has_role(*MAKERS):
        raise Forbidden(phrase("refusal.case.make_forbidden"))
    incident = reading.get(db, principal, incident_id)
    if incident.is_open:
        raise Conflict(phrase("refusal.case.incident_open"), field="incident_id")
    held = db.execute(
        select(ReviewMeeting.id).where(ReviewMeeting.incident_id == incident.id, ReviewMeeting.status == "held")
    ).first()
    if held is None:
        raise Conflict(phrase("refusal.case.review_first"), field="incident_id")
    if db.execute(select(CaseStudy.id).where(CaseStudy.incident_id == incident.id)).first() is not None:
        raise Conflict(phrase("refusal.case.exists"), field="incident_id")
    body = build(db, incident, tz=tz)
    case = CaseStudy(
        incident_id=incident.id,
        title=body["title"],
        type=incident.type,
        level=incident.level,
        period=body["period"],
        body=body,
        text=_plain(body),
        created_by=principal.user_id,
        created_at=clock.now(),
    )
    db.add(case)
    db.flush()
    audit.record(
        db,
        clock,
        actor_user_id=principal.user_id,
        actor=principal.username,
        action="case.make",
        subject_type="case_study",
        subject_id=case.id,
    )
    return case


def _reader(principal: Principal) -> None:
    if principal.roles <= STUDENT_ROLES:
        raise Forbidden(phrase("refusal.case.staff_only"))


def search(db: Session, principal: Principal, *, query: str | None = None, type_: str | None = None) -> list[CaseStudy]:
    _reader(principal)
    stmt = select(CaseStudy)
    if query:
        stmt = stmt.where(CaseStudy.text.contains(query, autoescape=True))
    if type_:
        stmt = stmt.where(CaseStudy.type == type_)
    return list(db.execute(stmt.order_by(CaseStudy.id.desc()).limit(200)).scalars())


def get(db: Session, principal: Principal, case_id: int) -> CaseStudy:
    _reader(principal)
    case = db.get(CaseStudy, case_id)
    if case is None:
        raise NotFound(phrase("refusal.case.not_found", id=case_id), field="case_id")
    return case


def markdown(case: CaseStudy, lang: str = CASE_LANGUAGE) -> str:
    """The case as a Markdown document for training material: its headings and statuses in `lang`, its
    anonymised text as the case holds it."""
    body = case.body

    def t(key: str, **params: object) -> str:
        return i18n.translate(lang, key, **params)

    def status(code: object) -> str:
        return t(f"cases.action_status.{code}") if code in ("open", "done") else t("cases.action_status.open")

    found = next((level for level in Level if level.numeral == body.get("level")), None)
    level = i18n.word(lang, timeline.level_phrase(found)) if found is not None else ""
    out = [f"# {body['title']}", "", " · ".join(part for part in (body["type_label"], level, body["period"]) if part), ""]
    if body.get("drill"):
        out += [f"**{t('reviews.drill')}**", ""]
    out += [f"## {t('cases.summary')}", "", body["summary"] or "—", "", f"## {t('cases.timeline')}", ""]
    out += [f"- {t('cases.md.line', when=row['when'], what=row['what'])}" for row in body["timeline"]]
    steps = body["steps"]
    out += [
        "",
        f"## {t('cases.steps')}",
        "",
        t("cases.steps_count", total=steps["total"], on_time=steps["on_time"]),
        *[f"- {t('cases.md.late', task=label)}" for label in steps["late"]],
    ]
    out += ["", f"## {t('cases.conclusions')}", "", *[f"- {c}" for c in body["conclusions"]], "", f"## {t('cases.actions')}", ""]
    out += [
        "- " + t("cases.md.action", type=t(f"reviews.action_type.{a['type']}"), title=a["title"], status=status(a["status"]))
        for a in body["actions"]
    ] or ["—"]
    return "\n".join(out) + "\n"
