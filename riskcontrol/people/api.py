"""HTTP API for signing in and out, and for students and users within the caller's scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from riskcontrol.core.errors import error_responses
from riskcontrol.core.http import NO_NUL, Ctx, CurrentPrincipal, Db, Offset, PathId, QueryId
from riskcontrol.core.ratelimit import client_address
from riskcontrol.people import auth, service
from riskcontrol.people.schemas import (
    AssignmentOut,
    GuardianOut,
    MeOut,
    StudentContactsOut,
    StudentOut,
    TokenOut,
    TokenRequest,
    UserOut,
)

router = APIRouter(prefix="/api/v1", tags=["people"])


@router.post("/auth/token", response_model=TokenOut, responses=error_responses(429))
def issue_token(body: TokenRequest, request: Request, db: Db, ctx: Ctx) -> TokenOut:
    """Exchange a username and password for a bearer token."""
    source = client_address(request)
    ctx.rates.check_login(source, body.username)
    policy = auth.LoginPolicy.from_settings(ctx.settings)
    outcome = auth.attempt_login(db, ctx.clock, policy, username=body.username, password=body.password, kind="api", source=source)
    db.commit()
    if outcome.error is not None:
        raise outcome.error
    assert outcome.token is not None
    return TokenOut(access_token=outcome.token)


@router.post("/auth/logout", status_code=204)
def revoke_token(db: Db, ctx: Ctx, principal: CurrentPrincipal) -> Response:
    """Revoke the token (or cookie session) this request was made with."""
    auth.logout(db, ctx.clock, principal)
    db.commit()
    return Response(status_code=204)


@router.get("/auth/me", response_model=MeOut)
def me(db: Db, principal: CurrentPrincipal) -> MeOut:
    """Who the caller is, with every role and the unit it is held at."""
    user = service.get_user_by_username(db, principal.username)
    return MeOut(
        id=user.id,
        username=user.username,
        name=user.name,
        roles=sorted(principal.roles),
        assignments=[AssignmentOut(role=a.role, unit_id=a.unit_id) for a in user.assignments],
    )


@router.get("/people/students", response_model=list[StudentOut])
def list_students(
    db: Db,
    principal: CurrentPrincipal,
    unit_id: QueryId = None,
    q: Annotated[str | None, Query(max_length=50, pattern=NO_NUL)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[StudentOut]:
    """Students in the caller's scope; `q` matches a name or the start of a student number."""
    students = service.list_students(db, principal, unit_id=unit_id, query=q, limit=limit, offset=offset)
    return [StudentOut.model_validate(s) for s in students]


@router.get("/people/students/{student_id}", response_model=StudentOut)
def get_student(student_id: PathId, db: Db, principal: CurrentPrincipal) -> StudentOut:
    return StudentOut.model_validate(service.get_student(db, principal, student_id))


@router.get("/people/students/{student_id}/contacts", response_model=StudentContactsOut)
def student_contacts(student_id: PathId, db: Db, ctx: Ctx, principal: CurrentPrincipal) -> StudentContactsOut:
    """Phone numbers of a student and their guardians; each read is written to the audit log."""
    student, guardians = service.student_contacts(db, ctx.clock, principal, student_id)
    db.commit()
    return StudentContactsOut(
        student_id=student.id, phone=student.phone, guardians=[GuardianOut.model_validate(g) for g in guardians]
    )


@router.get("/people/users", response_model=list[UserOut])
def list_users(
    db: Db,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Offset = 0,
) -> list[UserOut]:
    """Users who hold a role somewhere in the caller's subtree."""
    return [
        UserOut(id=u.id, username=u.username, name=u.name, roles=roles)
        for u, roles in service.list_users(db, principal, limit=limit, offset=offset)
    ]
