"""The review report (复盘报告) of one incident: gathered from the incident log, rendered as HTML and PDF."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from riskcontrol.core import audit, i18n
from riskcontrol.core.clock import Clock
from riskcontrol.core.security import Principal
from riskcontrol.escalation.models import Escalation
from riskcontrol.grid.models import OrgUnit
from riskcontrol.incidents import config, reading, timeline
from riskcontrol.incidents.models import Incident, IncidentEvent, IncidentTask
from riskcontrol.notify import service as notify
from riskcontrol.notify.models import Notification
from riskcontrol.people.disclosure import View
from riskcontrol.people.disclosure_rules import Shown
from riskcontrol.people.models import User
from riskcontrol.reviews import report_rules as rules
from riskcontrol.reviews.models import ImprovementAction, PlaybookRevision, RecoveryItem, ReviewMeeting

TEMPLATE_DIR: Final = Path(__file__).resolve().parents[2] / "incident_reports"
FONT_FAMILY: Final = '"Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif'
NONE: Final = "—"  # a time or a figure that never happened


_env = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=select_autoescape(["html"]), keep_trailing_newline=True)


def css_string(text: str) -> str:
    """`text` as a quoted CSS string, safe inside a `<style>` element."""
    escaped = text.replace("\\", "\\5c ").replace('"', "\\22 ").replace("<", "\\3c ").replace("\n", " ")
    return f'"{escaped}"'


def language(lang: str) -> str:
    """The report's language from its `?lang=` (`zh`, `en`) or a page language (`zh-CN`, `en`)."""
    return "en" if lang == "en" else i18n.DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Words:
    """The reader's language and the school's clock: what every text of the report is written with."""

    lang: str
    tz: tzinfo
    day: date  # the day the incident started: times of that day show without their date, later ones with it

    def __call__(self, key: str, **params: object) -> str:
        return i18n.translate(self.lang, key, **params)

    def word(self, text: i18n.Phrase | i18n.Bilingual | str) -> str:
        return i18n.word(self.lang, text)

    def when(self, at: datetime | None) -> str:
        return NONE if at is None else i18n.when(at, self.lang, self.tz, today=self.day)

    def full(self, at: datetime | None) -> str:
        """An instant with its whole date, year included (the cover's)."""
        return NONE if at is None else i18n.when(at, self.lang, self.tz)

    def span(self, minutes: int | None) -> str:
        return NONE if minutes is None else i18n.duration(minutes, self.lang)


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
    db: Session, subject_type: str, subject_id: int, ack: tuple[int | None, datetime | None], w: Words
) -> list[dict[str, Any]]:
    """Each notification about the subject: to whom, what, each channel's state in words, when it reached the
    person by the channels' own receipts (the SMS delivery report, the in-app publish), when it was read."""
    items = notify.deliveries(db, subject_type=subject_type, subject_id=subject_id)
    ids = [i["notification_id"] for i in items]
    found = {n.id: n for n in db.execute(select(Notification).where(Notification.id.in_(ids))).scalars()} if ids else {}
    rows = []
    for item in items:
        n = found[item["notification_id"]]
        reached = [datetime.fromisoformat(c["delivered_at"]) for c in item["channels"] if c["delivered_at"]]
        acked = ack[1] if ack[0] == item["user_id"] else None
        rows.append(
            {
                "user_id": item["user_id"],
                "what": n.title_en if w.lang == "en" else n.title_zh,
                "sent": w.when(n.created_at),
                "channels": [_channel_cell(c, w) for c in item["channels"]],
                "delivered": w.when(min(reached) if reached else None),
                "read": w.when(n.read_at),
                "read_at": n.read_at,
                "acknowledged": w("report.acknowledged", time=w.when(acked)) if acked is not None else "",
            }
        )
    return rows


def _channel_cell(channel: dict[str, Any], w: Words) -> dict[str, Any]:
    """One channel's state in words (站内消息 已送达 22:02 / 短信 发送失败), from `notify.deliveries`."""
    words = {"channel": timeline.channel(channel["channel"]), "state": i18n.phrase(f"notify.delivery.{channel['state']}")}
    reached = channel["delivered_at"]
    if reached:
        text = w("report.channel_state_at", time=w.when(datetime.fromisoformat(reached)), **words)
    else:
        text = w("report.channel_state", **words)
    return {"text": text, "failed": channel["state"] == "failed"}


def _figures(
    incident: Incident,
    events: list[IncidentEvent],
    esc: Escalation | None,
    notes: list[dict[str, Any]],
    who: dict[int, str],
    w: Words,
) -> list[dict[str, str]]:
    """Time to acknowledge — the warning's acknowledgement, else the first read of a notification about the
    incident (its page to the team on duty) — to on-site control, to stabilised, and in all."""
    acknowledged_at: datetime | None
    warned_at: datetime | None = None
    if esc is not None and esc.acknowledged_at is not None:
        acknowledged_at, warned_at = esc.acknowledged_at, esc.started_at
        basis = w("report.ack_from_warning", name=who.get(esc.acknowledged_by or 0, NONE))
    else:
        reads: list[datetime] = [n["read_at"] for n in notes if n["read_at"] is not None]
        acknowledged_at = min(reads) if reads else None
        basis = w("report.ack_from_page") if reads else ""
    figures = rules.response_figures(
        incident.started_at,
        acknowledged_at=acknowledged_at,
        warned_at=warned_at,
        on_site_at=_transition_at(events, "take_control"),
        stabilised_at=_transition_at(events, "stabilise"),
        closed_at=incident.closed_at,
    )
    since = w("report.from_start")
    return [
        {"label": w("report.ack_time"), "value": w.span(figures.acknowledged), "basis": basis},
        {"label": w("report.on_site"), "value": w.span(figures.on_site), "basis": since if figures.on_site is not None else ""},
        {
            "label": w("report.stabilised"),
            "value": w.span(figures.stabilised),
            "basis": since if figures.stabilised is not None else "",
        },
        {"label": w("report.total"), "value": w.span(figures.total), "basis": since if figures.total is not None else ""},
    ]


def _chart(
    incident: Incident, task_rows: list[IncidentTask], events: list[IncidentEvent], now: datetime, w: Words
) -> dict[str, Any]:
    """The response chart laid out (`report_rules.chart`) with its ticks in words: 接报, 10分钟, 1小时, 1天…"""
    done_times = [t.done_at for t in task_rows if t.done_at is not None] + [e.at for e in events]
    end = max([incident.started_at, *done_times])
    drawn = rules.chart(
        [rules.ChartTask(t.label_en if w.lang == "en" else t.label_zh, t.created_at, t.due_at, t.done_at) for t in task_rows],
        incident.started_at,
        end,
        now=now if incident.is_open else None,
    )
    ticks = []
    for i, (x, minutes) in enumerate(drawn.ticks):
        anchor = "start" if i == 0 else "end" if x > drawn.right - 20 else "middle"
        ticks.append({"x": x, "text": w("report.chart.start") if minutes == 0 else w.span(minutes), "anchor": anchor})
    rows = []
    for row in drawn.rows:
        # A late task says so in red beside its overrun, or before its bar where the axis ends too soon.
        after = max(row.overrun_x or 0.0, row.done_x or 0.0, row.due_x) + 6
        fits = after + 52 <= drawn.width
        rows.append(
            {
                "row": row,
                "late_text": w("report.verdict.late", late=i18n.Span(row.late_by)) if row.late_by else "",
                "late_x": after if fits else min(row.start_x, row.due_x) - 4,
                "late_anchor": "start" if fits else "end",
            }
        )
    return {
        "width": drawn.width,
        "height": drawn.height,
        "left": drawn.left,
        "right": drawn.right,
        "rows": rows,
        "ticks": ticks,
        "first_hour_x": drawn.first_hour_x,
    }


def _actions(db: Session, incident: Incident, w: Words) -> list[dict[str, Any]]:
    actions = list(
        db.execute(
            select(ImprovementAction).where(ImprovementAction.incident_id == incident.id).order_by(ImprovementAction.id)
        ).scalars()
    )
    owners = {u.id: u.name for u in db.execute(select(User).where(User.id.in_({a.owner_user_id for a in actions}))).scalars()}
    revisions: dict[int, list[PlaybookRevision]] = {}
    for revision in db.execute(
        select(PlaybookRevision).where(PlaybookRevision.incident_id == incident.id).order_by(PlaybookRevision.id)
    ).scalars():
        revisions.setdefault(revision.action_id, []).append(revision)

    def status(a: ImprovementAction) -> str:
        if a.status == "done":
            return w("report.action.done", time=w.when(a.done_at))
        return w("report.action.overdue") if a.overdue else w("report.action.open")

    return [
        {
            "title": a.title,
            "type": w(f"reviews.action_type.{a.type}"),
            "owner": owners.get(a.owner_user_id, ""),
            "due": w.when(a.due_at),
            "status": status(a),
            "late": a.overdue and a.status != "done",
            "revisions": [
                w("report.revision", version=r.version, status=i18n.phrase(f"revisions.status.{r.status}"))
                for r in revisions.get(a.id, [])
            ],
        }
        for a in actions
    ]


def _meeting(meeting: ReviewMeeting | None, view: View, w: Words) -> dict[str, Any]:
    if meeting is None:
        return {"meeting_line": "", "meeting": None}
    line = w("report.meeting_due", due=w.when(meeting.due_at), status=i18n.phrase(f"reviews.status.{meeting.status}"))
    if meeting.held_at is None:
        return {"meeting_line": line, "meeting": None}
    held = w.when(meeting.held_at)
    return {
        "meeting_line": line,
        "meeting": {
            "held": w("report.held_at", time=held, place=meeting.place) if meeting.place else held,
            "attendees": [
                w("report.attendee", name=name, role=a["role"]) if a.get("role") else name
                for a in meeting.attendees
                if (name := str(a.get("name") or a.get("user_id") or ""))
            ],
            "minutes": view.text(meeting.minutes),
            "conclusions": [view.text(c) for c in meeting.conclusions],
        },
    }


def build(db: Session, clock: Clock, principal: Principal, incident_id: int, *, tz: tzinfo, lang: str = "zh") -> dict[str, Any]:
    """Everything the report shows, worded for the reader and scoped to them; a read of the people's names is audited."""
    incident = reading.get(db, principal, incident_id)
    now = clock.now()
    incident_day = incident.started_at.astimezone(tz).date()
    w = Words(language(lang), tz, incident_day)
    en = w.lang == "en"
    sop = config.machine_of(incident).sop
    playbook = config.playbook_of(incident)
    events = reading.timeline(db, incident.id)
    order = {s.code: i for i, s in enumerate(sop.states)}
    # In the SOP's step order, then by due time: the table reads like the plan.
    task_rows: list[IncidentTask] = sorted(
        reading.tasks(db, incident.id), key=lambda t: (order.get(t.state, len(order)), t.due_at)
    )
    esc = _source_escalation(db, incident)
    meeting = db.execute(
        select(ReviewMeeting).where(ReviewMeeting.incident_id == incident.id).order_by(ReviewMeeting.id.desc()).limit(1)
    ).scalar_one_or_none()
    people, _ = reading.involved(db, incident)
    view = reading.reader_view(db, principal, incident, lang=w.lang)
    full = [p.id for i, p in enumerate(people) if view.disclosure.of(i) is Shown.FULL]
    if full:
        audit.record_by(db, clock, principal, "review_report.read", "incident", incident.id, {"people": full})
    referred = [e.actor_id for e in events] + [t.done_by for t in task_rows] + [esc.acknowledged_by if esc else None]
    who = reading.names(db, referred)
    states = {s.code: w.word(s.label) for s in sop.states}
    recovery = {
        item.code: i18n.Both(item.label_zh, item.label_en)
        for item in db.execute(select(RecoveryItem).where(RecoveryItem.incident_id == incident.id)).scalars()
    }
    names = timeline.names_of(incident, task_rows, more_tasks=recovery)
    tasks_out = []
    for t in task_rows:
        v = rules.verdict(t.due_at, t.done_at, now)
        tasks_out.append(
            {
                "step": states.get(t.state, NONE),
                "label": t.label_en if en else t.label_zh,
                "due": w.when(t.due_at),
                "done": w.when(t.done_at),
                "by": who.get(t.done_by, NONE) if t.done_by else NONE,
                "verdict": w.word(v.phrase()),
                "verdict_code": v.code,
                "reporting": rules.is_reporting_task(t.state),
                "limit": w.span(rules.minutes_between(incident.started_at, t.due_at)),
            }
        )
    ack = (esc.acknowledged_by, esc.acknowledged_at) if esc else (None, None)
    incident_notes = _notifications(db, "incident", incident.id, (None, None), w)
    notes = (_notifications(db, "escalation", esc.id, ack, w) if esc is not None else []) + incident_notes
    # The review meeting's own reminders and escalation, after the incident.
    meeting_notes = _notifications(db, "review_meeting", meeting.id, (None, None), w) if meeting is not None else []
    user_names = reading.names(db, [n["user_id"] for n in notes + meeting_notes])
    for n in notes + meeting_notes:
        n["to"] = user_names.get(n["user_id"], NONE)
        n["what"] = view.title(n["what"])
    school = db.execute(select(OrgUnit).where(OrgUnit.kind == "school").order_by(OrgUnit.id).limit(1)).scalar_one_or_none()
    unit = db.get(OrgUnit, incident.unit_id)
    worded = timeline.entries(events, names, lang=w.lang, tz=tz, today=w.day, data=lambda e: reading.event_data(view, e.data))
    return {
        "lang": w.lang,
        "t": w,
        "font_family": FONT_FAMILY,
        "drill": incident.drill,
        "school": (school.name_en if en else school.name_zh) if school else "",
        "unit": (unit.name_en if en else unit.name_zh) if unit else "",
        "incident": incident,
        # The incident's and its warning's own words, as the policy lets this reader read them.
        "title": view.title(incident.title),
        "description": view.text(incident.summary),
        "place": incident.location,
        "escalation_line": (
            w("report.escalation", id=esc.id, title=view.title(esc.title_en if en else esc.title_zh)) if esc is not None else ""
        ),
        "type_label": w.word(playbook.label),
        "level": w.word(timeline.level_phrase(incident.level)),
        "state": states.get(incident.state, NONE),
        "started": w.full(incident.started_at),
        "closed": w.full(incident.closed_at),
        "generated": w.full(now),
        "same_day": w("report.same_day", day=i18n.Day(incident_day)),
        "people": [
            w("report.person", name=view.name(i), involvement=timeline.involvement(p.involvement)) for i, p in enumerate(people)
        ],
        "timeline": [
            {
                "seq": e.seq,
                "at_text": e.at_text,
                "who": who.get(e.actor_id, NONE) if e.actor_id else NONE,
                "text": e.text,
                "kind": e.kind,
            }
            for e in worded
        ],
        "tasks": tasks_out,
        "reporting": [t for t in tasks_out if t["reporting"]],
        "notifications": notes,
        "figures": _figures(incident, events, esc, incident_notes, who, w),
        "actions": _actions(db, incident, w),
        **_meeting(meeting, view, w),
        "meeting_notifications": meeting_notes,
        "chart": _chart(incident, task_rows, events, now, w),
    }


def render_html(context: dict[str, Any], *, screen: bool = True, page: bool = False, pdf_url: str = "") -> str:
    """The report as one document, its CSS inlined (with the screen's unless it is made for the PDF); as a `page`
    it has a toolbar to print it and fetch its PDF."""
    css = (TEMPLATE_DIR / "review_report.css").read_text(encoding="utf-8")
    if screen:
        css += (TEMPLATE_DIR / "review_report_screen.css").read_text(encoding="utf-8")
    # Every printed page carries the internal mark in its top margin (WeasyPrint and browsers alike).
    css += f"\n@page {{ @top-right {{ content: {css_string(context['t']('report.internal_note'))}; }} }}\n"
    return _env.get_template("review_report.html").render(css=css, page=page, pdf_url=pdf_url, **context)


def style_hashes(page: str) -> str:
    """The CSP sources that allow exactly the inline `<style>` blocks of a rendered report."""
    out = []
    rest = page
    while (start := rest.find("<style>")) != -1:
        end = rest.index("</style>", start)
        digest = hashlib.sha256(rest[start + len("<style>") : end].encode("utf-8")).digest()
        out.append(f"'sha256-{base64.b64encode(digest).decode('ascii')}'")
        rest = rest[end:]
    return " ".join(out)


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
    return render_pdf(render_html(build(db, clock, principal, incident_id, tz=tz, lang=lang), screen=False))
