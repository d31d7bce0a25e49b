"""What the aftercare page (善后与复盘) shows, built from the records: the recovery plan by person, the review
meeting, the improvement actions with their playbook revisions; notes only for the psychological centre."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select

from riskcontrol.core.http import AppContext, Db
from riskcontrol.core.security import Principal
from riskcontrol.incidents import timeline
from riskcontrol.incidents.models import Incident, IncidentPerson
from riskcontrol.people.disclosure_rules import stand_in
from riskcontrol.reviews import actions, recovery, revisions, rules
from riskcontrol.reviews import service as reviews
from riskcontrol.reviews.models import ImprovementAction, RecoveryItem, ReviewMeeting
from riskcontrol.web.pages import shown_at
from riskcontrol.web.templating import translator

# The value of a datetime-local field (`aftercare_forms.local_time` reads it back).
INPUT_FORMAT = "%Y-%m-%dT%H:%M"


@dataclass(frozen=True)
class ItemRow:
    id: int
    label: str
    owner: str
    due: str
    status: Literal["done", "overdue", "open"]
    done: str
    has_note: bool
    note: str | None  # the text only for the psychological centre
    may_complete: bool


@dataclass(frozen=True)
class PersonPlan:
    label: str
    items: list[ItemRow]


@dataclass(frozen=True)
class MeetingView:
    id: int
    status: str
    due: str
    scheduled: str
    scheduled_input: str
    place: str
    held: str
    days_late: int
    attendees: list[str]
    minutes: str
    conclusions: list[str]
    writable: bool


@dataclass(frozen=True)
class RevisionLink:
    id: int
    version: int
    status: str


@dataclass(frozen=True)
class ActionRow:
    id: int
    title: str
    detail: str
    type: str
    owner: str
    due: str
    status: Literal["done", "overdue", "open"]
    evidence: str
    done: str
    hazard_id: int | None
    revisions: list[RevisionLink]
    may_close: bool


def may_complete(principal: Principal, item: RecoveryItem) -> bool:
    """Whether `recovery.complete` would let the caller mark the task done."""
    mine = item.owner_user_id == principal.user_id
    return (
        item.status == recovery.OPEN
        and (principal.covers(item.unit_path) or mine)
        and (mine or principal.has_role(*recovery.COMPLETERS))
    )


def person_labels(db: Db, incident_id: int, lang: str) -> dict[int, str]:
    """Each person involved by stand-in name and involvement, as the review report shows them to most readers
    ("学生甲（失联）"): the plan is about care, and the names stay on the incident page."""
    people = db.execute(select(IncidentPerson).where(IncidentPerson.incident_id == incident_id).order_by(IncidentPerson.id))
    t = translator(lang)
    out = {}
    for index, person in enumerate(people.scalars()):
        out[person.id] = t("report.person", name=stand_in(index, lang), involvement=timeline.involvement(person.involvement))
    return out


def plan_view(
    db: Db,
    ctx: AppContext,
    principal: Principal,
    incident: Incident,
    lang: str,
    names: Callable[[list[int | None]], dict[int, str]],
) -> list[PersonPlan]:
    items, reads = recovery.plan_of(db, ctx.clock, principal, incident.id)
    t, now = translator(lang), ctx.clock.now()
    who = names([i.owner_user_id for i in items] + [i.done_by for i in items])
    labels = person_labels(db, incident.id, lang)
    groups: dict[int | None, list[ItemRow]] = {}
    for item in items:
        status: Literal["done", "overdue", "open"] = (
            "done" if item.status == recovery.DONE else "overdue" if item.overdue or now > item.due_at else "open"
        )
        owner = who.get(item.owner_user_id or 0, t("aftercare.owner_none"))
        groups.setdefault(item.person_id, []).append(
            ItemRow(
                id=item.id,
                label=item.label_en if lang == "en" else item.label_zh,
                owner=f"{t('role.' + item.owner_role)} · {owner}",
                due=shown_at(ctx, item.due_at, lang),
                status=status,
                done=f"{shown_at(ctx, item.done_at, lang)} {who.get(item.done_by or 0, '')}".strip(),
                has_note=bool(item.note),
                note=item.note if reads else None,
                may_complete=may_complete(principal, item),
            )
        )
    ordered = [PersonPlan(label, groups[pid]) for pid, label in labels.items() if pid in groups]
    if None in groups:
        ordered.append(PersonPlan(t("aftercare.group"), groups[None]))
    return ordered


def meeting_view(
    db: Db,
    ctx: AppContext,
    principal: Principal,
    incident: Incident,
    lang: str,
    names: Callable[[list[int | None]], dict[int, str]],
) -> MeetingView | None:
    meeting = db.execute(
        select(ReviewMeeting).where(ReviewMeeting.incident_id == incident.id).order_by(ReviewMeeting.id.desc()).limit(1)
    ).scalar_one_or_none()
    if meeting is None:
        return None
    tz = ctx.settings.tz
    who = names([a.get("user_id") for a in meeting.attendees if isinstance(a.get("user_id"), int)])
    attendees = [
        " / ".join(part for part in (str(a.get("name") or who.get(a.get("user_id") or 0, "")), str(a.get("role") or "")) if part)
        for a in meeting.attendees
    ]
    return MeetingView(
        id=meeting.id,
        status=meeting.status,
        due=shown_at(ctx, meeting.due_at, lang),
        scheduled=shown_at(ctx, meeting.scheduled_for, lang),
        scheduled_input=meeting.scheduled_for.astimezone(tz).strftime(INPUT_FORMAT) if meeting.scheduled_for else "",
        place=meeting.place,
        held=shown_at(ctx, meeting.held_at, lang),
        days_late=rules.days_late(meeting.due_at, meeting.held_at) if meeting.held_at is not None else 0,
        attendees=attendees,
        minutes=meeting.minutes,
        conclusions=list(meeting.conclusions),
        writable=principal.has_role(*reviews.RECORDERS) and meeting.status not in (reviews.HELD, reviews.CANCELLED),
    )


def action_row(
    db: Db, ctx: AppContext, principal: Principal, action: ImprovementAction, who: dict[int, str], lang: str
) -> ActionRow:
    now = ctx.clock.now()
    status: Literal["done", "overdue", "open"] = (
        "done" if action.status == actions.DONE else "overdue" if action.overdue or now > action.due_at else "open"
    )
    mine = action.owner_user_id == principal.user_id
    return ActionRow(
        id=action.id,
        title=action.title,
        detail=action.detail,
        type=action.type,
        owner=who.get(action.owner_user_id, ""),
        due=shown_at(ctx, action.due_at, lang, whole_day=True),
        status=status,
        evidence=action.evidence,
        done=shown_at(ctx, action.done_at, lang),
        hazard_id=action.hazard_id,
        revisions=[RevisionLink(r.id, r.version, r.status) for r in revisions.of_action(db, action.id)],
        may_close=action.status == actions.OPEN and (mine or principal.has_role(*reviews.RECORDERS)),
    )
