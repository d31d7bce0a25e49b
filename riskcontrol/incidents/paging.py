"""Telling people about an incident: the message, the on-duty team, paging it, and failed deliveries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from sqlalchemy.orm import Session

from riskcontrol.core import i18n
from riskcontrol.core.clock import Clock
from riskcontrol.core.events import EventHandler
from riskcontrol.incidents.board import append, record
from riskcontrol.incidents.config import IncidentConfig, playbook_of
from riskcontrol.incidents.models import Incident
from riskcontrol.incidents.playbook_rules import Level
from riskcontrol.incidents.reading import untyped, wall_title
from riskcontrol.incidents.roster import on_duty
from riskcontrol.notify import service as notify
from riskcontrol.people import service as people_service
from riskcontrol.people.models import User
from riskcontrol.people.rules import Role

# Levels Ⅰ–Ⅲ page the on-duty team at once; a Ⅳ waits for the normal working of the board.
PAGES_ON_DUTY: Final = frozenset({Level.I, Level.II, Level.III})


def _channels(incident: Incident) -> list[str]:
    # A drill never texts real phones.
    return [notify.IN_APP] if incident.drill else [notify.IN_APP, notify.SMS]


def tell(
    db: Session,
    clock: Clock,
    cfg: IncidentConfig,
    incident: Incident,
    users: Sequence[User],
    message: notify.Message,
) -> list[int]:
    """Notify each user once about the incident (in the app, and by SMS unless it is a drill); the ids told."""
    told: list[int] = []
    for user in users:
        if user.id in told:
            continue
        notify.notify(
            db,
            clock,
            cfg.events,
            user=user,
            channels=_channels(incident),
            message=message,
            subject_type="incident",
            subject_id=incident.id,
            sms_cap=cfg.sms_daily_cap,
        )
        told.append(user.id)
    return told


def duty_team(db: Session, clock: Clock, incident: Incident) -> tuple[list[User], bool]:
    """Who is on duty now, or, with nobody rostered, the response team nearest the incident's unit;
    and whether it was the roster."""
    users = [user for _shift, user in on_duty(db, clock.now())]
    return (users, True) if users else (people_service.holders(db, incident.unit_path, [Role.RESPONSE_TEAM]), False)


def message(
    cfg: IncidentConfig,
    incident: Incident,
    kind: str,
    *,
    title: i18n.Phrase,
    body: i18n.Phrase,
    sms: i18n.Phrase,
    **data: Any,
) -> notify.Message:
    """A message about the incident: its level (and 演练 for a drill) in front, red for Ⅰ/Ⅱ, and the link
    to its page at the end (a text read at 02:00 leads straight to the tasks)."""
    link, level = cfg.link(incident), Level(incident.level).numeral
    return notify.Message.worded(
        kind,
        level="red" if incident.level <= 2 else "orange",
        title=notify.as_drill(i18n.phrase("notice.incident.title", level=level, text=title), incident.drill),
        body=i18n.phrase("notice.incident.body", text=body, link=link),
        sms=notify.as_drill(i18n.phrase("notice.incident.sms", level=level, text=sms, link=link), incident.drill),
        data={"incident_id": incident.id, "url": link, **data},
    )


def page_on_duty(db: Session, clock: Clock, cfg: IncidentConfig, incident: Incident) -> None:
    """Page the on-duty team at once; with nobody rostered, the school's response team is paged."""
    users, rostered = duty_team(db, clock, incident)
    where = incident.location or i18n.phrase("notice.incident.no_location")
    label = playbook_of(incident).label
    # A title made from a report starts with the type, which the page names itself: say it once.
    about = {"type": label, "title": untyped(str(label.zh), wall_title(db, incident)) or where}
    page = message(
        cfg,
        incident,
        "incident.page",
        title=i18n.phrase("notice.incident.page.title", **about),
        body=i18n.phrase("notice.incident.page.body", where=where),
        sms=i18n.phrase("notice.incident.page.sms", **about, where=where),
    )
    told = tell(db, clock, cfg, incident, users, page)
    append(db, clock, incident, "paged", None, users=told, on_duty=rostered, channels=_channels(incident))


def on_delivery_failed(cfg: IncidentConfig) -> EventHandler:
    """A message about an incident failed for good: its timeline says so."""

    def handle(db: Session, clock: Clock, event: notify.DeliveryFailed) -> None:
        if event.subject_type != "incident" or not event.final:
            return
        incident = db.get(Incident, int(event.subject_id))
        if incident is None:
            return
        record(
            db,
            clock,
            cfg,
            incident,
            "delivery_failed",
            None,
            user_id=event.user_id,
            channel=event.channel,
            notification_id=event.notification_id,
            reason=event.reason,
        )

    return handle
