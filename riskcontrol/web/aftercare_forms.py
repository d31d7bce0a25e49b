"""Reading the forms of the aftercare page (善后与复盘): required fields, local times in the school's zone,
textareas of one entry a line, the service's input models; what is refused becomes a 422 in the page's words
naming the field."""

from __future__ import annotations

import re
from datetime import datetime, time, tzinfo
from typing import Final, TypeVar

from pydantic import BaseModel, ValidationError

from riskcontrol.core import refusals
from riskcontrol.core.errors import DomainError, InvalidInput
from riskcontrol.core.i18n import phrase
from riskcontrol.core.instants import in_range
from riskcontrol.reviews.schemas import AttendeeIn

LOCAL_MINUTE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?$")  # what <input type=datetime-local> sends
LOCAL_DAY: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ATTENDEE_PART: Final = 100  # characters of a name or a role (AttendeeIn)
# The page's name for each field a form or a service may refuse.
FIELD_LABELS: Final = {
    "scheduled_for": "aftercare.scheduled_for",
    "place": "aftercare.place",
    "held_at": "aftercare.held_at",
    "attendees": "aftercare.attendees",
    "minutes": "aftercare.minutes",
    "conclusions": "aftercare.conclusions",
    "title": "aftercare.action_title",
    "detail": "aftercare.action_detail",
    "owner_user_id": "aftercare.owner",
    "due_at": "aftercare.action_due",
    "hazard_id": "aftercare.hazard_field",
    "evidence": "aftercare.evidence",
    "note": "aftercare.note_field",
}
Model = TypeVar("Model", bound=BaseModel)


class FormError(InvalidInput):
    """Input the page itself refuses, in the page's words, naming the field."""


def explain(exc: DomainError, lang: str) -> str:
    """A refusal as the page shows it, in the page's language (a refusal names its field in words)."""
    return exc.worded(lang)


def _refusal(lang: str, key: str, field: str, **params: object) -> FormError:
    return FormError(phrase(key, field=phrase(FIELD_LABELS[field]), **params), field=field)


def required(value: str, field: str, lang: str) -> str:
    if not (value := value.strip()):
        raise _refusal(lang, "aftercare.error.required", field)
    return value


def local_time(value: str, field: str, lang: str, tz: tzinfo, *, whole_day: bool = False) -> datetime:
    """A datetime-local value (or with `whole_day` a date, meaning its last minute: "by this date") in the school's
    time zone; malformed, a 422 naming the field."""
    value = required(value, field, lang)
    pattern, key = (LOCAL_DAY, "aftercare.error.date") if whole_day else (LOCAL_MINUTE, "aftercare.error.datetime")
    try:
        if pattern.match(value) is None:
            raise ValueError(value)
        at = datetime.fromisoformat(value)
        return in_range((datetime.combine(at.date(), time(23, 59)) if whole_day else at).replace(tzinfo=tz))
    except ValueError:
        raise _refusal(lang, key, field) from None


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def some_lines(text: str, field: str, lang: str) -> list[str]:
    """The non-blank lines of a textarea; none at all, a 422 naming the field."""
    if not (found := lines(text)):
        raise _refusal(lang, "aftercare.error.required", field)
    return found


def attendees(text: str, lang: str) -> list[AttendeeIn]:
    """One attendee a line, "姓名 / 身份" (the role may be left out)."""
    out = []
    for number, line in enumerate(some_lines(text, "attendees", lang), start=1):
        name, _, role = line.replace("／", "/").partition("/")
        name, role = name.strip(), role.strip()
        if not name or len(name) > ATTENDEE_PART or len(role) > ATTENDEE_PART:
            raise _refusal(lang, "aftercare.error.attendee", "attendees", line=number)
        out.append(AttendeeIn(name=name, role=role))
    return out


def build(model: type[Model], lang: str, **data: object) -> Model:
    """The service's input model; what it refuses becomes a 422 naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        label = phrase(FIELD_LABELS[field]) if field in FIELD_LABELS else refusals.field_label(field)
        raise FormError(phrase("refusal.input.field", field=label, reason=refusals.reason(first)), field=field) from None
