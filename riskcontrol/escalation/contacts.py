"""Whom a responder may ring about an escalation (its student, their guardians, whoever reported it), and the
one way a number leaves the server: asked for one person at a time, by someone the disclosure policy shows
that person to in full, and written to the audit log.

Numbers are never part of a page. A page lists the people with a button each; a tap asks for that one
number (`phone`), which is audited then and there. So each audit row stands for someone about to call
someone, not for every time a page was opened, reloaded or left on a desk, and no number sits in a
browser's cache or history, or on a screenshot of the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from riskcontrol.core import audit
from riskcontrol.core.clock import Clock
from riskcontrol.core.errors import Forbidden, InvalidInput, NotFound
from riskcontrol.core.i18n import phrase
from riskcontrol.core.security import Principal
from riskcontrol.escalation import service
from riskcontrol.escalation.models import Escalation
from riskcontrol.grid.models import OrgUnit
from riskcontrol.notify.sms import dialable
from riskcontrol.people import disclosure
from riskcontrol.people.disclosure_rules import Shown, shown
from riskcontrol.people.models import Student, User

# Kinds of contact; a contact's key is "student", "reporter", or "guardian-<id>".
STUDENT, GUARDIAN, REPORTER = "student", "guardian", "reporter"


@dataclass(frozen=True)
class Contact:
    """Someone to ring about the escalation, as the reader may see them: a name (or a stand-in), for a
    guardian the relation as recorded, and whether the reader may have the number (`may_call`: the policy
    shows the person in full, and a number is on file)."""

    key: str
    kind: str
    name: str
    relation: str | None
    full: bool
    # The number and whose it is, for `phone` alone: replies and pages leave them out.
    number: str | None = field(default=None, repr=False)
    subject: tuple[str, int] = field(default=("", 0), repr=False)

    @property
    def may_call(self) -> bool:
        return self.full and bool(self.number and self.number.strip())


def contacts(db: Session, principal: Principal, esc: Escalation, *, lang: str = "zh") -> list[Contact]:
    """The student (with their guardians, when the reader sees the student in full) and the reporter, in that
    order, each as the policy shows them to the reader; the reader themself is left out.

    A reporter who is a student (a dorm head) is the record's second person, by their own record: a reader
    shown neither by name reads 学生甲 and 学生乙, never the same stand-in for two people. A member of staff
    who reported is named to everyone (staff names are not sensitive) and is shown in full, number and
    all, to the contact roles covering the escalation's unit."""
    unit = db.get(OrgUnit, esc.unit_id)
    home = unit.path if unit is not None else ""
    student = db.get(Student, esc.student_id) if esc.student_id is not None else None
    reporter = db.get(User, esc.reported_by) if esc.reported_by is not None else None
    found = disclosure.people(db, [esc.student_id, reporter.student_id if reporter is not None else None])
    involved = [found[student.id]] if student is not None and student.id in found else []
    if reporter is not None and reporter.student_id is not None:
        involved.append(disclosure.named(reporter.name, found.get(reporter.student_id), home))
    told = service.was_told(db, principal.user_id, esc.id)
    view = disclosure.view(principal.grants, home, involved, told=told, lang=lang)
    out: list[Contact] = []
    if student is not None and involved:
        full = view.disclosure.of(0) is Shown.FULL
        out.append(Contact(STUDENT, STUDENT, view.name(0), None, full, student.phone, ("student", student.id)))
        if full:
            out += [
                Contact(f"guardian-{g.id}", GUARDIAN, g.name, g.relation, full, g.phone, ("guardian", g.id))
                for g in student.guardians
            ]
    if reporter is not None and reporter.id != principal.user_id:
        if reporter.student_id is not None:
            index = len(involved) - 1
            name, full = view.name(index), view.disclosure.of(index) is Shown.FULL
        else:
            name, full = reporter.name, shown(principal.grants, [home], told=told) is Shown.FULL
        out.append(Contact(REPORTER, REPORTER, name, None, full, reporter.phone, ("user", reporter.id)))
    return out


def phone(db: Session, clock: Clock, *, principal: Principal, escalation_id: int, key: str) -> tuple[Contact, str, str]:
    """One contact's number as (contact, `tel:` URI, number as shown), for a reader the policy shows the
    person to in full; the read is audited in the caller's transaction."""
    esc = service.get(db, principal, escalation_id)
    contact = next((c for c in contacts(db, principal, esc) if c.key == key), None)
    if contact is None:
        raise InvalidInput(phrase("refusal.escalation.contact_unknown"), field="contact")
    if not contact.full:
        raise Forbidden(phrase("refusal.escalation.contact_hidden"), field="contact")
    if not contact.may_call or contact.number is None:
        raise NotFound(phrase("refusal.escalation.contact_no_number"), field="contact")
    subject_type, subject_id = contact.subject
    detail = {"contact": contact.kind, f"{subject_type}_id": subject_id}
    audit.record_by(db, clock, principal, "escalation.phone.read", "escalation", esc.id, detail)
    tel, shown = dialable(contact.number)
    return contact, tel, shown
