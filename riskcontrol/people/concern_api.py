"""HTTP API of the key-concern register: add, list and change entries in scope, record and read talks (audited)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal, Self

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from riskcontrol.core.errors import InvalidInput, error_responses
from riskcontrol.core.http import MAX_ID, NO_NUL, AppContext, Ctx, CurrentPrincipal, Db, Offset, PathId
from riskcontrol.core.i18n import phrase
from riskcontrol.core.instants import Day, Instant
from riskcontrol.core.refusals import refused
from riskcontrol.people import concern_rules as rules
from riskcontrol.people import concern_service as service
from riskcontrol.people.concern_models import ACTIVE, TalkRecord
from riskcontrol.people.concern_service import Entry

# Where the composition root puts the codes a reason may name (the checklist's items).
REASON_CODES = "key_concern.reason_codes"

router = APIRouter(prefix="/api/v1/key-concerns", tags=["key-concerns"])


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class KeyConcernIn(_Strict):
    """A student to put on the register; without `counselor_id` the caller (if their counsellor) or the class's own."""

    student_id: int = Field(ge=1, le=MAX_ID)
    level: rules.Level
    # Why, as codes of the checklist (sop/observation_checklist.yaml; risk factors count as its items).
    reason_codes: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=60)]] = Field(min_length=1, max_length=20)
    # In words, beside the codes (optional).
    reasons: str = Field(default="", max_length=4000, pattern=NO_NUL)
    counselor_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    review_on: Day | None = None


class KeyConcernPatch(_Strict):
    """What to change; a new level needs a `reason`."""

    level: rules.Level | None = None
    counselor_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    review_on: Day | None = None
    reason: str | None = Field(default=None, max_length=2000, pattern=NO_NUL)

    @model_validator(mode="after")
    def _changes_something(self) -> Self:
        if self.level is None and self.counselor_id is None and self.review_on is None:
            raise refused("refusal.concern.change_nothing")
        return self


class CloseIn(_Strict):
    reason: str = Field(min_length=2, max_length=2000, pattern=NO_NUL)


class TalkIn(_Strict):
    """A talk (谈心谈话). `summary` is a case note: clinical counselling notes stay in the psych centre's records."""

    talked_at: Instant
    mode: rules.TalkMode
    summary: str = Field(min_length=1, max_length=4000, pattern=NO_NUL)
    risk_change: rules.RiskChange


class KeyConcernOut(BaseModel):
    id: int
    student_id: int
    student_no: str
    student_name: str
    class_id: int
    level: str
    counselor_id: int
    counselor_name: str
    status: str
    source: str
    source_id: str | None
    started_at: datetime
    review_on: date
    review_due: bool
    last_talk_at: datetime | None
    next_talk_due_at: datetime | None
    overdue: bool
    closed_at: datetime | None
    closed_reason: str | None


class KeyConcernDetailOut(KeyConcernOut):
    reason_codes: list[str]
    reasons: str
    added_by: int | None


class TalkOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    key_concern_id: int
    counselor_id: int
    talked_at: datetime
    mode: str
    summary: str
    risk_change: str
    next_due_at: datetime
    recorded_at: datetime


def register_config(ctx: AppContext) -> rules.RegisterConfig:
    """The cadence file in force now (re-read when it changes) and the school's time zone."""
    return rules.RegisterConfig(service.load_rules(ctx.settings.sop_dir), ctx.settings.tz)


def shown(row: Entry, ctx: AppContext) -> KeyConcernOut:
    entry, student, counselor = row
    now = ctx.clock.now()
    return KeyConcernOut(
        id=entry.id,
        student_id=student.id,
        student_no=student.student_no,
        student_name=student.name,
        class_id=student.class_id,
        level=entry.level,
        counselor_id=counselor.id,
        counselor_name=counselor.name,
        status=entry.status,
        source=entry.source,
        source_id=entry.source_id,
        started_at=entry.started_at,
        review_on=entry.review_on,
        review_due=entry.status == ACTIVE and rules.review_due(entry.review_on, now.astimezone(ctx.settings.tz).date()),
        last_talk_at=entry.last_talk_at,
        next_talk_due_at=entry.next_talk_due_at,
        overdue=rules.is_overdue(entry.next_talk_due_at, now),
        closed_at=entry.closed_at,
        closed_reason=entry.closed_reason,
    )


def detailed(row: Entry, ctx: AppContext) -> KeyConcernDetailOut:
    entry = row[0]
    return KeyConcernDetailOut(
        **shown(row, ctx).model_dump(), reason_codes=entry.reason_codes, reasons=entry.reasons, added_by=entry.added_by
    )


@router.post("", status_code=201, response_model=KeyConcernDetailOut, responses=error_responses(403, 404, 409))
def add(body: KeyConcernIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> KeyConcernDetailOut:
    """Put a student in scope on the register; the talk cadence of the level starts now."""
    known: frozenset[str] = ctx.extras.get(REASON_CODES, frozenset())
    if unknown := [code for code in body.reason_codes if code not in known]:
        raise InvalidInput(phrase("refusal.concern.unknown_reason", code=unknown[0]), field="reason_codes")
    new = rules.NewEntry(**(body.model_dump() | {"reason_codes": tuple(dict.fromkeys(body.reason_codes))}))
    entry = service.add(db, ctx.clock, register_config(ctx), by=principal, new=new)
    row = service.get_entry(db, principal, entry.id)
    db.commit()
    return detailed(row, ctx)


@router.get("", response_model=list[KeyConcernOut], responses=error_responses(403))
def list_entries(
    db: Db,
    ctx: Ctx,
    principal: CurrentPrincipal,
    status: Annotated[Literal["active", "closed", "all"], Query()] = "active",
    mine: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> list[KeyConcernOut]:
    """Entries in the caller's scope, the most urgent talk first; `mine=true`: those I counsel."""
    rows = service.list_entries(db, principal, status=None if status == "all" else status, mine=mine, limit=limit, offset=offset)
    return [shown(row, ctx) for row in rows]


@router.get("/{key_concern_id}", response_model=KeyConcernDetailOut, responses=error_responses(404))
def get_entry(key_concern_id: PathId, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> KeyConcernDetailOut:
    """One entry with its reasons; the read is written to the audit log."""
    row = service.read_entry(db, ctx.clock, by=principal, entry_id=key_concern_id)
    db.commit()
    return detailed(row, ctx)


@router.patch("/{key_concern_id}", response_model=KeyConcernDetailOut, responses=error_responses(404, 409))
def update(key_concern_id: PathId, body: KeyConcernPatch, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> KeyConcernDetailOut:
    """Change the level (with a reason), the counsellor or the review date."""
    change = rules.EntryChange(**body.model_dump())
    row = service.update(db, ctx.clock, register_config(ctx), by=principal, entry_id=key_concern_id, change=change)
    db.commit()
    return detailed(row, ctx)


@router.post("/{key_concern_id}/close", response_model=KeyConcernOut, responses=error_responses(404, 409))
def close(key_concern_id: PathId, body: CloseIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> KeyConcernOut:
    """Take the student off the register with a reason; pending reminders are cancelled."""
    row = service.close(db, ctx.clock, by=principal, entry_id=key_concern_id, reason=body.reason)
    db.commit()
    return shown(row, ctx)


@router.post("/{key_concern_id}/talks", status_code=201, response_model=TalkOut, responses=error_responses(403, 404, 409))
def record_talk(key_concern_id: PathId, body: TalkIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> TalkOut:
    """Record a talk; the next one falls due the level's interval after it."""
    note = rules.TalkNote(**body.model_dump())
    talk = service.record_talk(db, ctx.clock, register_config(ctx), by=principal, entry_id=key_concern_id, note=note)
    db.commit()
    return TalkOut.model_validate(talk)


@router.get("/{key_concern_id}/talks", response_model=list[TalkOut], responses=error_responses(403, 404))
def list_talks(key_concern_id: PathId, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> list[TalkOut]:
    """The talks with the student, newest first: for the assigned counsellor and the officers above; audited."""
    found: list[TalkRecord] = service.talks(db, ctx.clock, by=principal, entry_id=key_concern_id)
    db.commit()
    return [TalkOut.model_validate(talk) for talk in found]
