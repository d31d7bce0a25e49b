"""The review report (复盘报告) of one incident: gathered from the incident log, rendered as HTML and PDF."""

from __future__ import annotations

from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from riskcontrol.core import audit
from riskcontrol.core.clock import Clock, local_text
from riskcontrol.core.security import Principal
from riskcontrol.escalation.models import Escalation
from riskcontrol.grid.models import OrgUnit
from riskcontrol.incidents import config, reading
from riskcontrol.incidents.models import Incident, IncidentEvent, IncidentTask
from riskcontrol.incidents.playbook_rules import LEVEL_NAMES, Level
from riskcontrol.notify import service as notify
from riskcontrol.notify.models import Notification
from riskcontrol.people.disclosure_rules import Shown
from riskcontrol.people.models import User
from riskcontrol.reviews import report_rules as rules
from riskcontrol.reviews.models import ImprovementAction, PlaybookRevision, RecoveryItem, ReviewMeeting

TEMPLATE_DIR: Final = Path(__file__).resolve().parents[2] / "incident_reports"
FONT_FAMILY: Final = '"Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif'

_env = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=select_autoescape(["html"]), keep_trailing_newline=True)


def _source_escalation(db: Session, incident: Incident) -> Escalation | None:
    """The escalation the incident came from: named by id, or the one about its source observation."""
    if incident.source_id is None:
        return None
    if incident.source == "escalation" and incident.source_id.isdigit():
        return db.get(Escalation, int(incident.source_id))
    if incident.source == "observation":
        stmt = select(Escalation).where(Escalation.subject_type == "observation", Escalation.subject_id == incident.source_id)
        return db.execute(stmt.order_by(Escalation.id).limit(1)).scalar_one_or_none()
    return None


def _transition_at(events: list[IncidentEvent], trigger: str) -> datetime | None:
    return next((e.at for e in events if e.kind == "transition" and e.data.get("trigger") == trigger), None)


def _notifications(
    db: Session, subject_type: str, subject_id: int, ack: tuple[int | None, datetime | None], lang: str, tz: tzinfo
) -> list[dict[str, Any]]:
    items = notify.deliveries(db, subject_type=subject_type, subject_id=subject_id)
    ids = [i["notification_id"] for i in items]
    titles = {n.id: n for n in db.execute(select(Notification).where(Notification.id.in_(ids))).scalars()} if ids else {}
    rows = []
    for item in items:
        n = titles[item["notification_id"]]
        acked = ack[1] if ack[0] == item["user_id"] else None
        rows.append(
            {
                "user_id": item["user_id"],
                "what": n.title_en if lang == "en" else n.title_zh,
                "kind": n.kind,
                "sent": local_text(n.created_at, tz),
                "channels": [
                    {
                        "channel": c["channel"],
                        "status": c["status"],
                        "provider": c["provider_status"],
                        "failed": c["status"] == "failed",
                    }
                    for c in item["channels"]
                ],
                "delivered": local_text(n.delivered_at, tz) if n.delivered_at else "—",
                "acknowledged": local_text(acked or n.read_at, tz) if (acked or n.read_at) else "—",
            }
        )
    return rows


def build(db: Session, clock: Clock, principal: Principal, incident_id: int, *, tz: tzinfo, lang: str = "zh") -> dict[str, Any]:
    """Everything the report shows, scoped to the caller; a read of the people's names is audited."""
    incident = reading.get(db, principal, incident_id)
    now = clock.now()
    sop = config.machine_of(incident).sop
    playbook = config.playbook_of(incident)
    events = reading.timeline(db, incident.id)
    order = {s.code: i for i, s in enumerate(sop.states)}
    # In the SOP's step order, then by due time: the table reads like the plan.
    task_rows: list[IncidentTask] = sorted(
        reading.tasks(db, incident.id), key=lambda t: (order.get(t.state, len(order)), t.due_at)
    )
    esc = _source_escalation(db, incident)
    actions = list(
        db.execute(
            select(ImprovementAction).where(ImprovementAction.incident_id == incident.id).order_by(ImprovementAction.id)
        ).scalars()
    )
    owner_names = {
        u.id: u.name for u in db.execute(select(User).where(User.id.in_({a.owner_user_id for a in actions}))).scalars()
    }
    revisions: dict[int, list[PlaybookRevision]] = {}
    for revision in db.execute(
        select(PlaybookRevision).where(PlaybookRevision.incident_id == incident.id).order_by(PlaybookRevision.id)
    ).scalars():
        revisions.setdefault(revision.action_id, []).append(revision)
    meeting = db.execute(
        select(ReviewMeeting).where(ReviewMeeting.incident_id == incident.id).order_by(ReviewMeeting.id.desc()).limit(1)
    ).scalar_one_or_none()
    people, _ = reading.involved(db, incident)
    view = reading.reader_view(db, principal, incident, lang=lang)
    full = [p.id for i, p in enumerate(people) if view.disclosure.of(i) is Shown.FULL]
    if full:
        audit.record_by(db, clock, principal, "review_report.read", "incident", incident.id, {"people": full})
    referred = [e.actor_id for e in events] + [t.done_by for t in task_rows] + [esc.acknowledged_by if esc else None]
    who = reading.names(db, referred)
    en = lang == "en"

    def label(item: Any) -> str:
        return str(item.en if en else item.zh)

    states = {s.code: label(s.label) for s in sop.states}

    def state_label(code: str) -> str:
        return states.get(code, code)

    task_labels = {t.code: (t.label_en if en else t.label_zh) for t in task_rows}
    # Recovery tasks are named on the timeline too (their codes differ from the SOP's).
    for item in db.execute(select(RecoveryItem).where(RecoveryItem.incident_id == incident.id)).scalars():
        task_labels.setdefault(item.code, item.label_en if en else item.label_zh)
    tasks_out = []
    for t in task_rows:
        v = rules.verdict(t.due_at, t.done_at, now)
        tasks_out.append(
            {
                "step": state_label(t.state),
                "label": t.label_en if en else t.label_zh,
                "code": t.code,
                "due": local_text(t.due_at, tz),
                "done": local_text(t.done_at, tz) if t.done_at else "—",
                "by": who.get(t.done_by, "—") if t.done_by else "—",
                "verdict": v.text(lang),
                "verdict_code": v.code,
                "reporting": rules.is_reporting_task(t.state),
                "limit": rules.duration_text(rules.minutes_between(incident.started_at, t.due_at), lang),
            }
        )
    ack = (esc.acknowledged_by, esc.acknowledged_at) if esc else (None, None)
    notes = _notifications(db, "incident", incident.id, (None, None), lang, tz)
    if esc is not None:
        notes = _notifications(db, "escalation", esc.id, ack, lang, tz) + notes
    # The review meeting's own reminders and escalation, after the incident.
    meeting_notes = _notifications(db, "review_meeting", meeting.id, (None, None), lang, tz) if meeting is not None else []
    user_names = reading.names(db, [n["user_id"] for n in notes + meeting_notes])
    for n in notes + meeting_notes:
        n["to"] = user_names.get(n["user_id"], "—")
        n["what"] = view.title(n["what"])
    figures = rules.response_figures(
        incident.started_at,
        acknowledged_at=esc.acknowledged_at if esc else None,
        warned_at=esc.started_at if esc else None,
        on_site_at=_transition_at(events, "take_control"),
        stabilised_at=_transition_at(events, "stabilise"),
        closed_at=incident.closed_at,
    )
    done_times = [t.done_at for t in task_rows if t.done_at is not None] + [e.at for e in events]
    chart = rules.chart(
        [rules.ChartTask(t.label_en if en else t.label_zh, t.created_at, t.due_at, t.done_at) for t in task_rows],
        incident.started_at,
        max([incident.started_at, *done_times]),
        tick_label="+{m} min" if en else "+{m}分",
    )
    school = db.execute(select(OrgUnit).where(OrgUnit.kind == "school").order_by(OrgUnit.id).limit(1)).scalar_one_or_none()
    unit = db.get(OrgUnit, incident.unit_id)
    level = Level(incident.level)
    return {
        "lang": lang,
        "h": rules.HEADINGS["en" if en else "zh"],
        "font_family": FONT_FAMILY,
        "drill": incident.drill,
        "school": (school.name_en if en else school.name_zh) if school else "",
        "unit": (unit.name_en if en else unit.name_zh) if unit else "",
        "incident": incident,
        # The incident's and its warning's own words, as the policy lets this reader read them.
        "title": view.title(incident.title),
        "description": view.text(incident.summary),
        "escalation_title": view.title(esc.title_en if en else esc.title_zh) if esc is not None else "",
        "minutes": view.text(meeting.minutes) if meeting is not None else "",
        "conclusions": [view.text(c) for c in meeting.conclusions] if meeting is not None else [],
        "type_label": label(playbook.label),
        "level": f"{level.numeral} ({label(LEVEL_NAMES[level])})" if en else f"{level.numeral}级（{label(LEVEL_NAMES[level])}）",
        "state": state_label(incident.state),
        "started": local_text(incident.started_at, tz),
        "closed": local_text(incident.closed_at, tz),
        "generated": local_text(now, tz),
        "people": [
            {"name": view.name(i), "involvement": rules.INVOLVEMENT.get(p.involvement, {}).get(lang, p.involvement)}
            for i, p in enumerate(people)
        ],
        "timeline": [
            {
                "seq": e.seq,
                "at": local_text(e.at, tz),
                "who": who.get(e.actor_id, "—") if e.actor_id else "—",
                "what": rules.describe(
                    e.kind, reading.event_data(view, e.data), lang, state_label=state_label, task_label=task_labels
                ),
            }
            for e in events
        ],
        "tasks": tasks_out,
        "reporting": [t for t in tasks_out if t["reporting"]],
        "notifications": notes,
        "escalation": esc,
        "figures": {
            "acknowledged": rules.duration_text(figures.acknowledged, lang),
            "on_site": rules.duration_text(figures.on_site, lang),
            "stabilised": rules.duration_text(figures.stabilised, lang),
            "total": rules.duration_text(figures.total, lang),
        },
        "actions": [
            {
                "title": a.title,
                "type": a.type,
                "owner": owner_names.get(a.owner_user_id, ""),
                "due": local_text(a.due_at, tz),
                "status": a.status,
                "overdue": a.overdue,
                "done": local_text(a.done_at, tz) if a.done_at is not None else "",
                "revisions": [
                    {"playbook": r.playbook_type, "version": r.version, "status": r.status} for r in revisions.get(a.id, [])
                ],
            }
            for a in actions
        ],
        "meeting": meeting if meeting is not None and meeting.held_at is not None else None,
        "meeting_held": local_text(meeting.held_at, tz) if meeting is not None else "—",
        "meeting_due": local_text(meeting.due_at, tz) if meeting is not None else "",
        "meeting_status": meeting.status if meeting is not None else "",
        "meeting_notifications": meeting_notes,
        "chart": chart,
    }


def render_html(context: dict[str, Any]) -> str:
    """The report page (self-contained: its CSS is inlined)."""
    css = (TEMPLATE_DIR / "review_report.css").read_text(encoding="utf-8")
    return _env.get_template("review_report.html").render(css=css, **context)


def render_document(template: str, **context: Any) -> str:
    """Another document of `incident_reports/` (a student's export, say) in the reports' style and font."""
    css = (TEMPLATE_DIR / "review_report.css").read_text(encoding="utf-8")
    return _env.get_template(template).render(css=css, font_family=FONT_FAMILY, **context)


def render_pdf(page: str) -> bytes:
    """The PDF of a report page, CJK font embedded."""
    from weasyprint import HTML  # loaded on first use: importing it costs a second at start-up

    pdf: bytes = HTML(string=page, base_url=str(TEMPLATE_DIR)).write_pdf()
    return pdf


def html(db: Session, clock: Clock, principal: Principal, incident_id: int, *, tz: tzinfo, lang: str = "zh") -> str:
    return render_html(build(db, clock, principal, incident_id, tz=tz, lang=lang))


def pdf(db: Session, clock: Clock, principal: Principal, incident_id: int, *, tz: tzinfo, lang: str = "zh") -> bytes:
    return render_pdf(html(db, clock, principal, incident_id, tz=tz, lang=lang))
