"""HTTP API of staff cover: a counsellor (or any staff member) going on leave names who stands in for
the days away; the warning chain and the night ladder tell the cover instead (people.service.Holders)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import or_, select

from riskcontrol.core import audit
from riskcontrol.core.errors import Forbidden, InvalidInput, NotFound, error_responses
from riskcontrol.core.http import MAX_ID, NO_NUL, Ctx, CurrentPrincipal, Db, PathId
from riskcontrol.core.i18n import phrase
from riskcontrol.core.instants import Day
from riskcontrol.core.security import Principal
from riskcontrol.people.models import RoleAssignment, StaffCover, User
from riskcontrol.people.rules import STUDENT_ROLES

router = APIRouter(prefix="/api/v1/covers", tags=["cover"])

# A cover is for leave, not a standing delegation.
LONGEST: timedelta = timedelta(days=366)


class CoverIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    cover_user_id: int = Field(ge=1, le=MAX_ID)
    starts_on: Day
    ends_on: Day
    reason: str = Field(default="", max_length=200, pattern=NO_NUL)


class CoverOut(BaseModel):
    id: int
    user_id: int
    cover_user_id: int
    starts_on: date
    ends_on: date
    reason: str
    created_at: datetime


def _staff(principal: Principal) -> None:
    if principal.roles <= STUDENT_ROLES:
        raise Forbidden(phrase("refusal.cover.staff_only"))


def _is_staff(db: Db, user_id: int) -> bool:
    roles = set(db.execute(select(RoleAssignment.role).where(RoleAssignment.user_id == user_id)).scalars())
    return bool(roles - STUDENT_ROLES)


@router.post("", status_code=201, responses=error_responses(403, 422))
def name_cover(body: CoverIn, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> CoverOut:
    """Name who stands in for you from `starts_on` to `ends_on` (both inclusive, the school's dates)."""
    _staff(principal)
    today = ctx.clock.now().astimezone(ctx.settings.tz).date()
    if body.ends_on < body.starts_on:
        raise InvalidInput(phrase("refusal.cover.ends_before_start"), field="ends_on")
    if body.ends_on < today:
        raise InvalidInput(phrase("refusal.cover.over"), field="ends_on")
    if body.ends_on - body.starts_on > LONGEST:
        raise InvalidInput(phrase("refusal.cover.too_long"), field="ends_on")
    cover = db.get(User, body.cover_user_id)
    if cover is None or not cover.active or cover.id == principal.user_id or not _is_staff(db, cover.id):
        raise InvalidInput(phrase("refusal.cover.who"), field="cover_user_id")
    row = StaffCover(
        user_id=principal.user_id,
        cover_user_id=cover.id,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        reason=body.reason.strip(),
        created_at=ctx.clock.now(),
        created_by=principal.user_id,
    )
    db.add(row)
    db.flush()
    detail = {"cover_user_id": cover.id, "starts_on": body.starts_on.isoformat(), "ends_on": body.ends_on.isoformat()}
    audit.record(
        db, ctx.clock, actor_user_id=principal.user_id, actor=principal.username, action="cover.set",
        subject_type="cover", subject_id=row.id, detail=detail,
    )  # fmt: skip
    db.commit()
    return CoverOut.model_validate(row, from_attributes=True)


@router.get("")
def my_covers(db: Db, principal: CurrentPrincipal) -> list[CoverOut]:
    """The covers you named, and those where you stand in for someone."""
    mine = or_(StaffCover.user_id == principal.user_id, StaffCover.cover_user_id == principal.user_id)
    rows = db.execute(select(StaffCover).where(mine).order_by(StaffCover.starts_on, StaffCover.id)).scalars()
    return [CoverOut.model_validate(row, from_attributes=True) for row in rows]


@router.delete("/{cover_id}", status_code=204, responses=error_responses(404))
def withdraw_cover(cover_id: PathId, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> Response:
    """Withdraw a cover you named (back early)."""
    row = db.get(StaffCover, cover_id)
    if row is None or row.user_id != principal.user_id:
        raise NotFound(phrase("refusal.cover.not_found", id=cover_id), field="cover_id")
    db.delete(row)
    audit.record(
        db, ctx.clock, actor_user_id=principal.user_id, actor=principal.username, action="cover.withdraw",
        subject_type="cover", subject_id=cover_id, detail={},
    )  # fmt: skip
    db.commit()
    return Response(status_code=204)
