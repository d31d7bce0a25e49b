"""Signing in and out: password checks with lockout, session tokens, and loading the caller."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskcontrol.core import audit
from riskcontrol.core.clock import Clock
from riskcontrol.core.errors import DomainError, Locked, NotAuthenticated
from riskcontrol.core.i18n import phrase
from riskcontrol.core.security import Principal, hash_token, minimal_paths, new_token, verify_password
from riskcontrol.grid.models import OrgUnit
from riskcontrol.people.models import AuthSession, RoleAssignment, User


@dataclass(frozen=True)
class LoginPolicy:
    """How long sessions last and how many failures lock an account for how long."""

    session_ttl: timedelta
    max_failures: int
    lockout: timedelta

    @classmethod
    def from_settings(cls, settings: Any) -> LoginPolicy:
        return cls(session_ttl=settings.session_ttl, max_failures=settings.login_max_failures, lockout=settings.login_lockout)


@dataclass(frozen=True)
class LoginOutcome:
    """A token on success, else the error to answer with (the failure is already recorded)."""

    token: str | None = None
    user: User | None = None
    error: DomainError | None = None


def attempt_login(
    db: Session,
    clock: Clock,
    policy: LoginPolicy,
    *,
    username: str,
    password: str,
    kind: str,
    source: str | None = None,
) -> LoginOutcome:
    """Check a password; count failures; lock after too many. The caller commits either way."""
    now = clock.now()
    user = db.execute(select(User).where(User.username == username)).scalar_one_or_none()
    detail = {"kind": kind, "source": source}
    if user is not None and user.locked_until is not None and user.locked_until > now:
        wait = int((user.locked_until - now).total_seconds()) + 1
        audit.record(db, clock, actor_user_id=user.id, actor=username, action="login.locked", outcome="denied", detail=detail)
        return LoginOutcome(error=Locked(phrase("refusal.session.locked", seconds=wait), retry_after=wait))
    if user is None or not user.active or not verify_password(user.password_hash, password):
        if user is not None:
            user.failed_logins += 1
            if user.failed_logins >= policy.max_failures:
                user.locked_until = now + policy.lockout
                user.failed_logins = 0
        audit.record(
            db,
            clock,
            actor_user_id=user.id if user else None,
            actor=username[:150],
            action="login.failure",
            outcome="denied",
            detail=detail,
        )
        return LoginOutcome(error=NotAuthenticated(phrase("refusal.session.wrong_password"), field="password"))
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    token = new_token()
    db.add(
        AuthSession(user_id=user.id, token_hash=hash_token(token), kind=kind, created_at=now, expires_at=now + policy.session_ttl)
    )
    audit.record(db, clock, actor_user_id=user.id, actor=user.username, action="login.success", detail=detail)
    return LoginOutcome(token=token, user=user)


def logout(db: Session, clock: Clock, principal: Principal) -> None:
    """Revoke the caller's current session."""
    if principal.session_id is None:
        return
    session = db.get(AuthSession, principal.session_id)
    if session is not None and session.revoked_at is None:
        session.revoked_at = clock.now()
        audit.record(db, clock, actor_user_id=principal.user_id, actor=principal.username, action="logout")


# The tables a caller is built from, each with the attribute naming the user a row belongs to: a
# committed write forgets that user's cached callers; a unit change (paths move) forgets everyone's.
PRINCIPAL_TABLES: dict[str, str | None] = {
    AuthSession.__tablename__: "user_id",
    User.__tablename__: "id",
    RoleAssignment.__tablename__: "user_id",
    OrgUnit.__tablename__: None,
}


def load_principal(db: Session, clock: Clock, token: str) -> Principal | None:
    """The caller behind a live token with roles and scope, or None when the token is not valid.

    Runs on every request, so it is one query: the session, the user and each (role, unit path).
    """
    stmt = (
        select(
            AuthSession.id,
            AuthSession.revoked_at,
            AuthSession.expires_at,
            User.id,
            User.username,
            User.name,
            User.active,
            RoleAssignment.role,
            OrgUnit.path,
        )
        .join(User, User.id == AuthSession.user_id)
        .outerjoin(RoleAssignment, RoleAssignment.user_id == User.id)
        .outerjoin(OrgUnit, OrgUnit.id == RoleAssignment.unit_id)
        .where(AuthSession.token_hash == hash_token(token))
    )
    rows = db.execute(stmt).all()
    if not rows:
        return None
    session_id, revoked_at, expires_at, user_id, username, name, active, _, _ = rows[0]
    if revoked_at is not None or expires_at <= clock.now() or not active:
        return None
    grants = tuple(sorted({(role, path) for *_, role, path in rows if role is not None}))
    return Principal(
        user_id=user_id,
        username=username,
        display_name=name,
        roles=frozenset(role for role, _ in grants),
        scope_paths=minimal_paths(path for _, path in grants),
        session_id=session_id,
        grants=grants,
        session_expires_at=expires_at,
    )


def principal_of(db: Session, username: str) -> Principal:
    """An active user as a caller without a session (a command run on the server in their name)."""
    user = db.execute(select(User).where(User.username == username, User.active.is_(True))).scalar_one_or_none()
    if user is None:
        raise NotAuthenticated(phrase("refusal.session.no_user", username=username), field="username")
    units = select(RoleAssignment.role, OrgUnit.path).join(OrgUnit, OrgUnit.id == RoleAssignment.unit_id)
    grants = tuple(sorted({(role, path) for role, path in db.execute(units.where(RoleAssignment.user_id == user.id))}))
    return Principal(
        user_id=user.id,
        username=user.username,
        display_name=user.name,
        roles=frozenset(role for role, _ in grants),
        scope_paths=minimal_paths(path for _, path in grants),
        grants=grants,
    )
