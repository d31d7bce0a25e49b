"""An escalation's whole climb as lines in words, oldest first: started, who was told by which channel,
delivered and read, reminded, climbed, acknowledged, handed over, noted, resolved, closed.

Each line is a catalogue phrase (`escalation.story.*`) worded later in the reader's language; people are
named (staff names are not sensitive inside the system) and the record's own words (notes, the outcome)
are shown as the disclosure policy lets this reader read them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskcontrol.core.i18n import Listing, Phrase, Span, listing, phrase
from riskcontrol.core.shapes import Label
from riskcontrol.escalation import rules, service
from riskcontrol.escalation.models import Escalation, EscalationEvent
from riskcontrol.notify import service as notify
from riskcontrol.people.disclosure import View
from riskcontrol.people.models import User

Tone = Literal["plain", "alert", "done"]
# Tellings: one line per message (its channels together), and one per moment (everyone told together).
_GROUPED: Final = frozenset({"notified", "reminded", "night_rung", "sms_capped"})
_ALERT: Final = frozenset({"unacknowledged", "delivery_failed", "fallback", "nobody_at_level", "nobody_at_rung"})
_DONE: Final = frozenset({"acknowledged", "resolved", "closed"})


@dataclass(frozen=True)
class Line:
    """One line of the story: when, what (to be worded), and how it reads (an alarm, a done thing, or plain)."""

    at: datetime
    text: Phrase
    tone: Tone


def _channel(code: str | None) -> Phrase:
    return phrase(f"escalation.channel.{code}" if code in ("in_app", "sms", "voice") else "escalation.channel.other")


def _step_label(level: rules.LevelPolicy, step: int | None) -> Phrase | Label:
    if step is not None and 0 <= step < len(level.chain):
        return level.chain[step].label
    return phrase("escalation.story.some_level")


def _names(db: Session, events: Sequence[EscalationEvent], deliveries: Sequence[dict[str, Any]]) -> dict[int, str]:
    ids = {e.user_id for e in events if e.user_id is not None}
    ids |= {int(e.detail["to"]) for e in events if e.kind == "handed_over" and isinstance(e.detail.get("to"), int)}
    ids |= {int(d["user_id"]) for d in deliveries}
    if not ids:
        return {}
    return dict(db.execute(select(User.id, User.name).where(User.id.in_(ids))).all())


def _words(view: View, text: object, *, mine: bool) -> str:
    """A person's words on the record as this reader may read them (the author always reads their own)."""
    if not isinstance(text, str):
        return ""
    return text if mine else view.text(text)


def _line(
    e: EscalationEvent, level: rules.LevelPolicy, names: dict[int, str], view: View, reader: int, *, again: bool = False
) -> Phrase:
    """One event of the timeline in words (`again`: a step told before, the top of the chain told once more)."""
    d = e.detail or {}
    who = names.get(e.user_id or 0, "")
    step = _step_label(level, e.step)
    mine = e.user_id == reader
    match e.kind:
        case "started":
            return phrase("escalation.story.started", level=level.label)
        case "step":
            late = int(d.get("late_seconds", 0)) // 60
            key = "escalation.story.told_again" if again else "escalation.story.climbed"
            key = "escalation.story.first_step" if (e.step or 0) == 0 and not again else key
            text = phrase(key, level=step)
            return phrase("escalation.story.late", what=text, late=Span(late)) if late > 0 else text
        case "unacknowledged":
            return phrase("escalation.story.unacknowledged", level=step)
        case "nobody_at_level":
            return phrase("escalation.story.nobody_at_level", unit=phrase(f"unit_kind.{d.get('grid_level', 'school')}"))
        case "fallback":
            return phrase("escalation.story.fallback", level=step)
        case "delivery_failed":
            return phrase("escalation.story.delivery_failed", who=who, channel=_channel(e.channel))
        case "acknowledged":
            return phrase("escalation.story.acknowledged", who=who, via=phrase(f"escalation.via.{e.channel or 'app'}"))
        case "resolved" | "closed":
            outcome = _words(view, d.get("outcome"), mine=mine)
            key = f"escalation.story.{e.kind}_with" if outcome else f"escalation.story.{e.kind}"
            return phrase(key, who=who, outcome=outcome)
        case "noted":
            note = _words(view, d.get("text"), mine=mine)
            return (
                phrase("escalation.story.noted", who=who, text=note)
                if note
                else phrase("escalation.story.noted_withheld", who=who)
            )
        case "handed_over":
            to = names.get(int(d.get("to", 0)), "")
            note = _words(view, d.get("note"), mine=mine)
            if note:
                return phrase("escalation.story.handed_over_with", who=who, to=to, note=note)
            return phrase("escalation.story.handed_over", who=who, to=to)
        case "night_ladder":
            return phrase("escalation.story.night_ladder", count=len(d.get("rungs", [])))
        case "nobody_at_rung":
            return phrase("escalation.story.nobody_at_rung", at=str(d.get("at", "")))
        case "incident_proposed":
            return phrase("escalation.story.incident_proposed")
        case _:
            return phrase("escalation.story.other")


# Tellings and receipts this close together are one moment of the climb, worded as one line.
_MOMENT: Final = timedelta(seconds=60)


@dataclass
class _Told:
    """Tellings of one kind at one step and moment over the same channels: one line naming everyone told.
    Built a message at a time (its channels gathered), then joined with the next message when they match."""

    first: EscalationEvent
    channels: list[str | None]
    users: list[int | None]

    def joins(self, other: _Told) -> bool:
        e, o = self.first, other.first
        same = (e.kind, e.step, e.detail.get("at"), set(self.channels)) == (
            o.kind,
            o.step,
            o.detail.get("at"),
            set(other.channels),
        )
        return same and abs(o.at - e.at) <= _MOMENT


def _who(user_ids: Sequence[int | None], names: dict[int, str]) -> Listing:
    return listing(names.get(u or 0, "") for u in dict.fromkeys(user_ids))


def _told_line(told: _Told, level: rules.LevelPolicy, names: dict[int, str]) -> Line:
    e, who = told.first, _who(told.users, names)
    via = listing(_channel(c) for c in dict.fromkeys(told.channels))
    if e.kind == "sms_capped":
        return Line(e.at, phrase("escalation.story.sms_capped", who=who), "plain")
    if e.kind == "night_rung":
        return Line(e.at, phrase("escalation.story.night_rung", who=who, channels=via, at=str(e.detail.get("at", ""))), "plain")
    return Line(e.at, phrase(f"escalation.story.{e.kind}", who=who, channels=via, level=_step_label(level, e.step)), "plain")


def _tellings(events: Sequence[EscalationEvent]) -> list[EscalationEvent | _Told]:
    """The timeline with each message's per-channel lines gathered, and the messages of one moment joined."""
    entries: list[EscalationEvent | _Told] = []
    messages: dict[tuple[str, int | None, int | None, int | datetime], _Told] = {}
    for e in events:
        if e.kind not in _GROUPED:
            entries.append(e)
            continue
        key = (e.kind, e.step, e.user_id, e.notification_id if e.notification_id is not None else e.at)
        if key not in messages:
            messages[key] = _Told(e, [], [e.user_id])
            entries.append(messages[key])
        messages[key].channels.append(e.channel)
    joined: list[EscalationEvent | _Told] = []
    for entry in entries:
        last = joined[-1] if joined else None
        if isinstance(entry, _Told) and isinstance(last, _Told) and last.joins(entry):
            last.users += entry.users
        else:
            joined.append(entry)
    return joined


def _receipts(deliveries: Sequence[dict[str, Any]], names: dict[int, str]) -> list[Line]:
    """When each person's first message reached them, and when they first read one: later reminders' receipts
    say nothing new. Those of one moment are one line."""
    first: dict[tuple[str, int], datetime] = {}
    for item in deliveries:
        for kind, field in (("delivered", "delivered_at"), ("read", "read_at")):
            if item.get(field):
                at, key = datetime.fromisoformat(item[field]), (kind, int(item["user_id"]))
                first[key] = min(at, first.get(key, at))
    lines: list[tuple[str, datetime, list[int]]] = []
    for (kind, user_id), at in sorted(first.items(), key=lambda pair: (pair[1], pair[0][0])):
        if lines and lines[-1][0] == kind and at - lines[-1][1] <= _MOMENT:
            lines[-1][2].append(user_id)
        else:
            lines.append((kind, at, [user_id]))
    return [Line(at, phrase(f"escalation.story.{kind}", who=_who(users, names)), "plain") for kind, at, users in lines]


def story(db: Session, esc: Escalation, view: View, *, reader_id: int) -> list[Line]:
    """The escalation's timeline and its messages' receipts as lines, oldest first, for one reader."""
    events = service.timeline(db, esc.id)
    deliveries = notify.deliveries(db, subject_type="escalation", subject_id=esc.id)
    names = _names(db, events, deliveries)
    level = rules.from_snapshot(esc.policy)
    lines, told_steps = [], set()
    for entry in _tellings(events):
        if isinstance(entry, _Told):
            lines.append(_told_line(entry, level, names))
            continue
        tone: Tone = "alert" if entry.kind in _ALERT else "done" if entry.kind in _DONE else "plain"
        again = entry.kind == "step" and entry.step in told_steps
        if entry.kind == "step":
            told_steps.add(entry.step)
        lines.append(Line(entry.at, _line(entry, level, names, view, reader_id, again=again), tone))
    return sorted(lines + _receipts(deliveries, names), key=lambda line: line.at)
