"""The incident timeline in words: the one renderer of its lines, for the incident page, the board, the review
report and the case library.

A line is stored as a kind and its data (codes, ids, times). `phrase` turns one into a catalogue phrase, naming
states, tasks and the playbook by the labels of the incident's own SOP and playbook versions (never their codes);
`entries` words a whole timeline for one reader: each line's time (`09:29` today, `12月7日 09:29` another day),
its text and its kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any, Final

from riskcontrol.core import i18n
from riskcontrol.core.i18n import Bilingual, Phrase
from riskcontrol.incidents.config import machine_of, playbook_of
from riskcontrol.incidents.models import Incident, IncidentEvent, IncidentTask
from riskcontrol.incidents.playbook_rules import LEVEL_NAMES, Level

# A line about a review-stage task (a counselling session) or an improvement action names its task with these.
_TASK_KINDS: Final = frozenset({"task_done", "task_overdue", "recovery_done", "recovery_overdue"})
_REVISIONS: Final = frozenset({"revision_proposed", "playbook_revised", "revision_rejected", "revision_superseded"})
# Kinds whose words need nothing from the line's data.
_PLAIN: Final = frozenset({"created", "warning", "review_held", "review_overdue"})


@dataclass(frozen=True)
class Names:
    """What the codes on one incident's timeline are called: its SOP's states, its tasks, its playbook."""

    states: Mapping[str, Bilingual] = field(default_factory=dict)
    tasks: Mapping[str, Bilingual] = field(default_factory=dict)
    playbooks: Mapping[str, Bilingual] = field(default_factory=dict)


def names_of(
    incident: Incident, tasks: Iterable[IncidentTask] = (), *, more_tasks: Mapping[str, Bilingual] | None = None
) -> Names:
    """The names of the incident's states, tasks (its playbook's, its rows', and `more_tasks`: the review
    stage's, say) and playbook, as they were in the versions it started on."""
    playbook = playbook_of(incident)
    named: dict[str, Bilingual] = {t.code: t.label for step in playbook.steps for t in step.tasks}
    named.update({t.code: i18n.Both(t.label_zh, t.label_en) for t in tasks})
    for code, label in (more_tasks or {}).items():
        named.setdefault(code, label)
    return Names(
        states={s.code: s.label for s in machine_of(incident).sop.states},
        tasks=named,
        playbooks={incident.type: playbook.label},
    )


def level_phrase(level: int) -> Phrase:
    """An incident level in words: `Ⅱ级（重大）`, `Level Ⅱ (Serious)`."""
    numeral = Level(level)
    return i18n.phrase("incident.level_named", numeral=numeral.numeral, name=LEVEL_NAMES[numeral])


def phrase(kind: str, data: Mapping[str, Any], names: Names, tz: tzinfo, today: date | None = None) -> Phrase:
    """One timeline line in words (its data already as the reader may read it); a time in it is written on the
    school's clock `tz`, without its date when it falls on `today`."""
    if kind in _PLAIN:
        return i18n.phrase(f"incident.tl.{kind}")
    if kind in _TASK_KINDS:
        return _task_line(kind, data, names)
    if kind in _REVISIONS:
        playbook = names.playbooks.get(str(data.get("playbook", "")), i18n.phrase("incident.tl.a_playbook"))
        return i18n.phrase(f"incident.tl.{kind}", playbook=playbook, version=data.get("version", ""))
    render = _RENDER.get(kind)
    if render is None:
        return i18n.phrase("incident.tl.other")
    return render(data, names, _When(tz, today))


def _state(names: Names, code: object) -> Bilingual | Phrase:
    return names.states.get(str(code), i18n.phrase("incident.tl.a_step"))


def _task(names: Names, code: object) -> Bilingual | Phrase:
    return names.tasks.get(str(code), i18n.phrase("incident.tl.a_task"))


def _task_line(kind: str, data: Mapping[str, Any], names: Names) -> Phrase:
    label = data.get("label")
    # A review-stage line may carry its task's label; older lines are named from the rows the caller passed.
    task: Bilingual | Phrase
    if isinstance(label, dict) and {"zh", "en"} <= label.keys():
        task = i18n.Both(str(label["zh"]), str(label["en"]))
    else:
        task = _task(names, data.get("code", ""))
    if kind == "task_done":
        return i18n.phrase("incident.tl.task_done_late" if data.get("late") else "incident.tl.task_done", task=task)
    if kind == "task_overdue":
        whom = str(data.get("whom", ""))
        told = i18n.phrase(f"incident.tl.whom.{whom}") if whom in ("owner", "commander", "level_above") else ""
        return i18n.phrase("incident.tl.task_overdue", task=task, whom=told, count=len(data.get("users") or []))
    return i18n.phrase(f"incident.tl.{kind}", task=task)


def _transition(data: Mapping[str, Any], names: Names, clock: _When) -> Phrase:
    reason = data.get("reason")
    if data.get("to_level") is not None and data.get("from_level") is not None:
        moved = i18n.phrase(
            "incident.tl.change_level", before=level_phrase(int(data["from_level"])), after=level_phrase(int(data["to_level"]))
        )
    elif data.get("into_incident_id") is not None:
        moved = i18n.phrase("incident.tl.merged_into", incident=data["into_incident_id"])
    else:
        moved = i18n.phrase(
            "incident.tl.transition", before=_state(names, data.get("source")), after=_state(names, data.get("dest"))
        )
    return i18n.phrase("incident.tl.with_reason", line=moved, reason=reason) if reason else moved


@dataclass(frozen=True)
class _When:
    """How the times inside a line are written: on the school's clock, without the date on `today`."""

    tz: tzinfo
    today: date | None

    def __call__(self, value: object) -> i18n.Moment | str:
        try:
            return i18n.Moment(datetime.fromisoformat(str(value)), self.tz, self.today)
        except ValueError:
            return ""


_Render = Callable[[Mapping[str, Any], Names, _When], Phrase]
_RENDER: Final[dict[str, _Render]] = {
    "transition": _transition,
    "tasks_opened": lambda d, n, when: i18n.phrase(
        "incident.tl.tasks_opened",
        state=_state(n, d.get("state")),
        tasks=i18n.listing(i18n.phrase("incident.tl.quoted", text=_task(n, c)) for c in d.get("tasks") or []),
    ),
    "role": lambda d, n, when: i18n.phrase("incident.tl.role", role=role(d.get("role")), name=str(d.get("name", ""))),
    "person": lambda d, n, when: i18n.phrase("incident.tl.person", involvement=involvement(d.get("involvement"))),
    "paged": lambda d, n, when: i18n.phrase("incident.tl.paged", count=len(d.get("users") or [])),
    "note": lambda d, n, when: i18n.phrase("incident.tl.note", text=str(d.get("text", ""))),
    "merged_in": lambda d, n, when: i18n.phrase("incident.tl.merged_in", incident=d.get("incident_id", "")),
    "delivery_failed": lambda d, n, when: i18n.phrase("incident.tl.delivery_failed", channel=channel(d.get("channel"))),
    "recovery_plan": lambda d, n, when: i18n.phrase("incident.tl.recovery_plan", count=len(d.get("items") or [])),
    "review_due": lambda d, n, when: i18n.phrase("incident.tl.review_due", due=when(d.get("due_at"))),
    "review_scheduled": lambda d, n, when: (
        i18n.phrase("incident.tl.review_scheduled_at", when=when(d.get("scheduled_for")), place=str(d["place"]))
        if d.get("place")
        else i18n.phrase("incident.tl.review_scheduled", when=when(d.get("scheduled_for")))
    ),
    "action_added": lambda d, n, when: i18n.phrase("incident.tl.action_added", title=str(d.get("title", ""))),
    "action_done": lambda d, n, when: i18n.phrase("incident.tl.action_done", action=d.get("action_id", "")),
    "action_overdue": lambda d, n, when: i18n.phrase("incident.tl.action_overdue", action=d.get("action_id", "")),
}

# Roles, involvements and channels named on the timeline; anything else reads as a generic word, never a code.
_ROLES: Final = frozenset({"commander", "scribe", "liaison", "information_officer", "operations", "safety", "logistics"})
_INVOLVEMENTS: Final = frozenset({"missing", "injured", "at_risk", "involved", "witness", "deceased"})
_CHANNELS: Final = frozenset({"in_app", "sms"})


def role(code: object) -> Phrase:
    """A command role in words (总指挥, 联络员…)."""
    return i18n.phrase(f"incident.role.{code}" if code in _ROLES else "incident.tl.a_role")


def involvement(code: object) -> Phrase:
    """How a person is involved, in words (失联, 受伤…)."""
    return i18n.phrase(f"incident.involvement.{code}" if code in _INVOLVEMENTS else "incident.involvement.involved")


def channel(code: object) -> Phrase:
    """A notification channel in words (站内消息, 短信)."""
    return i18n.phrase(f"notify.channel.{code}" if code in _CHANNELS else "notify.channel.any")


@dataclass(frozen=True)
class Entry:
    """One timeline line worded for a reader: when (`at_text`), what (`text`), and its kind (for styling)."""

    seq: int
    at: datetime
    at_text: str
    text: str
    kind: str
    actor_id: int | None


def entries(
    events: Sequence[IncidentEvent],
    names: Names,
    *,
    lang: str,
    tz: tzinfo,
    today: date | None,
    data: Callable[[IncidentEvent], Mapping[str, Any]] = lambda e: e.data,
) -> list[Entry]:
    """The timeline worded in `lang`: each time on the school's clock with its date unless it falls on `today`
    (none: always dated); `data` gives each line's data as this reader may read it."""
    return [
        Entry(
            seq=e.seq,
            at=e.at,
            at_text=i18n.when(e.at, lang, tz, today=today),
            text=i18n.word(lang, phrase(e.kind, data(e), names, tz, today)),
            kind=e.kind,
            actor_id=e.actor_id,
        )
        for e in events
    ]
