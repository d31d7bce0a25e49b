"""HTML route of one escalation's detail page, phone first: what was reported and where, the student as the
disclosure policy shows them, whom to ring, the incident it opened, the actions the reader may take, and the
whole climb in words. The page's script acts through the escalations API and reloads the page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from riskcontrol.core import audit, i18n
from riskcontrol.core.errors import DomainError
from riskcontrol.core.http import AppContext, Ctx, Db, PathId
from riskcontrol.core.security import Principal
from riskcontrol.escalation import contacts, handling, rules, service
from riskcontrol.escalation.models import Escalation
from riskcontrol.escalation.story import story
from riskcontrol.grid.models import OrgUnit
from riskcontrol.incidents import reading as incident_reading
from riskcontrol.notify import service as notify
from riskcontrol.observations import catalog
from riskcontrol.observations.models import Observation
from riskcontrol.observations.reading import note_for, photo_shown
from riskcontrol.people import concern_service, disclosure, factor_import
from riskcontrol.people.disclosure_rules import Shown
from riskcontrol.people.models import User
from riskcontrol.riskmap import service as riskmap
from riskcontrol.web.pages import OptionalPrincipal, shown_at, sign_in_first, unit_name
from riskcontrol.web.templating import page_language, render, translator
from riskcontrol.web.warning_pages import level_texts, script_messages

router = APIRouter(include_in_schema=False)

PAGE = "/escalations/{escalation_id}"


@dataclass(frozen=True)
class Report:
    """What was reported, as the reader may read it."""

    observation_id: int
    observed_at: str
    filed_at: str
    reporter: str
    ticks: list[str]
    note: str | None
    photo: bool
    withheld: bool


@dataclass(frozen=True)
class Place:
    """Where: the room (or unit), its building, the words the filer typed, and the pin for the small map."""

    room: str
    building: str | None
    typed: str | None
    pin: dict[str, Any] | None


@dataclass(frozen=True)
class StudentFacts:
    """The student as the policy shows them: a name (or a stand-in); for a reader who sees them in full, their
    place on the key-concern register and the risk factors that still count."""

    name: str
    full: bool
    register: str | None
    factors: list[str]


@dataclass(frozen=True)
class Action:
    """What the reader may do now."""

    ack: bool
    note: bool
    hand_over: bool
    resolve: bool
    close: bool


def _report(
    db: Session, ctx: AppContext, principal: Principal, esc: Escalation, reporter: str, lang: str
) -> tuple[Report, Observation] | None:
    """The observation behind the escalation as the reader may read it (`reporter`: its filer as the policy names
    them to the reader)."""
    if esc.subject_type != "observation" or not esc.subject_id.isdigit():
        return None
    observation = db.get(Observation, int(esc.subject_id))
    if observation is None:
        return None
    unit = db.get(OrgUnit, observation.unit_id)
    path = unit.path if unit is not None else ""
    person = disclosure.people(db, [observation.student_id]).get(observation.student_id or 0)
    view = disclosure.view(principal.grants, path, [person] if person is not None else [])
    mine = observation.filed_by == principal.user_id
    withheld = not (mine or view.disclosure.texts)
    labels = {item.code: i18n.word(lang, item) for item in catalog.load_checklist(ctx.settings.sop_dir).items}
    report = Report(
        observation_id=observation.id,
        observed_at=shown_at(ctx, observation.observed_at, lang),
        filed_at=shown_at(ctx, observation.filed_at, lang),
        reporter=reporter,
        ticks=[] if withheld else [labels.get(code, "") for code in observation.checklist if code in labels],
        note=None if withheld else note_for(principal, observation, path, person),
        photo=photo_shown(principal, observation, path, person),
        withheld=withheld,
    )
    return report, observation


def _place(db: Session, ctx: AppContext, esc: Escalation, observation: Observation | None, lang: str) -> Place:
    unit = db.get(OrgUnit, observation.unit_id if observation is not None else esc.unit_id)
    assert unit is not None
    building = db.get(OrgUnit, unit.building_id) if unit.building_id is not None else None
    location = observation.location if observation is not None else None
    typed = str(location.get("text") or "").strip() if isinstance(location, dict) else ""
    found = riskmap.pin(db, ctx.settings.risk_map_dir, unit.id, location, "en" if lang == "en" else "zh-CN")
    pin = None
    if found is not None:
        label = found.place or unit_name(unit, lang)
        pin = {"lon": found.lon, "lat": found.lat, "label": label, "surroundings": found.surroundings}
    return Place(unit_name(unit, lang), unit_name(building, lang) if building is not None else None, typed or None, pin)


def _student(
    db: Session, ctx: AppContext, principal: Principal, esc: Escalation, view: disclosure.View, lang: str
) -> StudentFacts | None:
    """The student; their register place and factors only for a reader the policy shows them to in full, and
    that read is audited."""
    if esc.student_id is None or not view.people:
        return None
    if view.disclosure.of(0) is not Shown.FULL:
        return StudentFacts(view.name(0), False, None, [])
    levels = level_texts(catalog.load_rubric(ctx.settings.sop_dir), lang)
    held = concern_service.active_level(db, esc.student_id)
    today = ctx.clock.now().astimezone(ctx.settings.tz).date()
    factors = factor_import.active_factors(db, esc.student_id, today)
    known = factor_import.load_catalogue(ctx.settings.sop_dir)
    words = [i18n.word(lang, entry) for f in factors if (entry := known.get(f.code)) is not None]
    audit.record_by(
        db,
        ctx.clock,
        principal,
        "escalation.student.read",
        "escalation",
        esc.id,
        {"student_id": esc.student_id, "factors": len(words)},
    )
    register = levels.get(held, {}).get("name", "") if held is not None else None
    return StudentFacts(view.name(0), True, register, words)


def _incidents(db: Session, principal: Principal, esc: Escalation, lang: str) -> list[dict[str, Any]]:
    """The incidents the escalation opened, in the reader's scope, with their titles as the reader may read them."""
    found = incident_reading.from_source(db, principal, "escalation", str(esc.id))
    return [
        {
            "id": incident.id,
            "title": incident_reading.reader_view(db, principal, incident, lang=lang).title(incident.title),
            "open": incident.is_open,
        }
        for incident in found
    ]


def _actions(db: Session, principal: Principal, esc: Escalation) -> Action:
    try:
        service.require_may_act(db, esc, principal.user_id, principal)
        acts = True
    except DomainError:
        acts = False
    responder = principal.has_role(*service.MAY_ACKNOWLEDGE)
    working = esc.status in (service.OPEN, service.ACKNOWLEDGED)
    return Action(
        ack=acts and esc.status == service.OPEN,
        note=acts and esc.status != service.CLOSED,
        hand_over=acts and working,
        resolve=responder and working,
        close=responder and esc.status == service.RESOLVED,
    )


def _colleague_label(colleague: handling.Colleague, lang: str) -> str:
    """A colleague in the hand-over picker: name, and the nearest role they hold with its unit."""
    if not colleague.roles:
        return colleague.user.name
    role, unit = colleague.roles[0]
    t = translator(lang)
    return t("escalation_page.colleague", name=colleague.user.name, role=t(f"role.{role}"), unit=unit_name(unit, lang))


def _status_lines(ctx: AppContext, db: Session, esc: Escalation, lang: str) -> list[str]:
    """Where the escalation stands, in words: waiting until when (and for which level), acknowledged by whom
    and when, who holds it now, dealt with or closed."""
    t = translator(lang)
    names = {u.id: u.name for u in (db.get(User, i) for i in {esc.acknowledged_by, esc.held_by, esc.resolved_by} if i) if u}
    lines = []
    if esc.status == service.OPEN:
        level = rules.from_snapshot(esc.policy)
        step = level.chain[min(esc.current_step, len(level.chain) - 1)]
        if esc.step_due_at is not None:
            lines.append(
                t("escalation_page.waiting", time=shown_at(ctx, esc.step_due_at, lang), level=i18n.word(lang, step.label))
            )
    if esc.acknowledged_at is not None:
        who = names.get(esc.acknowledged_by or 0, "")
        lines.append(t("escalation_page.acknowledged", name=who, time=shown_at(ctx, esc.acknowledged_at, lang)))
    if esc.held_by is not None and esc.held_by != esc.acknowledged_by and esc.status in (service.OPEN, service.ACKNOWLEDGED):
        lines.append(t("escalation_page.held_by", name=names.get(esc.held_by, "")))
    if esc.resolved_at is not None:
        who = names.get(esc.resolved_by or 0, "")
        lines.append(t("escalation_page.resolved", name=who, time=shown_at(ctx, esc.resolved_at, lang)))
    return lines


@router.get(PAGE)
def escalation_page(escalation_id: PathId, request: Request, db: Db, ctx: Ctx, principal: OptionalPrincipal) -> Response:
    """One escalation for whoever was told of it or covers it: the report, the place, the student, whom to
    ring, the incident, the actions, and the climb. Opening it marks the reader's messages about it read."""
    lang = page_language(request, ctx.settings.default_language)
    if principal is None:
        return sign_in_first(request, ctx, lang, back_to=request.url.path)
    try:
        esc = service.get(db, principal, escalation_id)
    except DomainError as exc:
        return render(request, "error.html", lang=lang, status_code=exc.status_code, message=exc.worded(lang))
    view = service.reader_view(db, principal, esc, lang=lang)
    notify.mark_read_about(db, ctx.clock, user_id=principal.user_id, subject_type="escalation", subject_id=esc.id)
    people = contacts.contacts(db, principal, esc, lang=lang)
    mine = principal.display_name if esc.reported_by == principal.user_id else ""
    reporter = next((c.name for c in people if c.kind == contacts.REPORTER), mine)
    found = _report(db, ctx, principal, esc, reporter, lang)
    report, observation = found if found is not None else (None, None)
    cfg: service.EscalationConfig = ctx.extras["escalation"]
    actions = _actions(db, principal, esc)
    colleagues = (
        [c for c in handling.colleagues(db, ctx.clock, cfg, esc) if c.user.id != principal.user_id] if actions.hand_over else []
    )
    t = translator(lang)
    student = _student(db, ctx, principal, esc, view, lang)
    lines = story(db, esc, view, reader_id=principal.user_id)
    db.commit()
    return render(
        request,
        "escalation.html",
        lang=lang,
        esc=esc,
        title=view.title(esc.title_en if lang == "en" else esc.title_zh),
        level_name=level_texts(catalog.load_rubric(ctx.settings.sop_dir), lang).get(esc.level, {}).get("name", ""),
        status=t(f"escalation_page.state.{esc.status}"),
        status_lines=_status_lines(ctx, db, esc, lang),
        outcome=view.text(esc.outcome) if esc.outcome else None,
        report=report,
        place=_place(db, ctx, esc, observation, lang),
        student=student,
        contacts=people,
        incidents=_incidents(db, principal, esc, lang),
        actions=actions,
        colleagues=[{"id": c.user.id, "label": _colleague_label(c, lang)} for c in colleagues],
        story=[
            {
                "when": shown_at(ctx, line.at, lang),
                "text": i18n.word(lang, line.text),
                "tone": line.tone,
                "at": line.at.isoformat(),
            }
            for line in lines
        ],
        messages=script_messages(lang, "escalation_page.js."),
        api=f"/api/v1/escalations/{esc.id}",
    )
