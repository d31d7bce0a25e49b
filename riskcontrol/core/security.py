"""Password hashing, opaque session tokens, and the caller's roles and grid scope."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from riskcontrol.core.errors import Forbidden
from riskcontrol.core.i18n import Listing, listing, phrase

# "standard" is argon2's RFC 9106 low-memory profile; "cheapest" exists only so that a test suite
# signing in thousands of times does not spend minutes hashing (settings refuse it in production).
HashingProfile = Literal["standard", "cheapest"]
_PROFILES = {"standard": profiles.RFC_9106_LOW_MEMORY, "cheapest": profiles.CHEAPEST}


@dataclass(frozen=True)
class _Hashing:
    profile: HashingProfile
    hasher: PasswordHasher
    # Verifying against this keeps a login for an unknown user as slow as one for a known user.
    dummy_hash: str


def _hashing(profile: HashingProfile) -> _Hashing:
    hasher = PasswordHasher.from_parameters(_PROFILES[profile])
    return _Hashing(profile, hasher, hasher.hash("riskcontrol-timing-equaliser"))


_current = _hashing("standard")


def use_password_hashing(profile: HashingProfile) -> None:
    """Hash new passwords with `profile` from now on in this process (a stored hash keeps its own cost)."""
    global _current  # one process-wide choice, made by the composition root
    if _current.profile != profile:
        _current = _hashing(profile)


def hash_password(password: str) -> str:
    return _current.hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; an absent hash still costs one verification."""
    try:
        return _current.hasher.verify(password_hash or _current.dummy_hash, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """A fresh opaque bearer/cookie token (only its hash is stored)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def csrf_token(secret: str, session_token: str) -> str:
    """A form token bound to one session (double-submit without server state)."""
    return hmac.new(secret.encode(), b"csrf:" + session_token.encode(), hashlib.sha256).hexdigest()


def path_covers(scope_path: str, path: str) -> bool:
    """True when `path` is the unit at `scope_path` or below it (materialized paths end in '/')."""
    return path.startswith(scope_path)


def minimal_paths(paths: Iterable[str]) -> tuple[str, ...]:
    """Drop every path that lies under another one (the union of subtrees stays the same)."""
    kept: list[str] = []
    for path in sorted(set(paths), key=len):
        if not any(path_covers(k, path) for k in kept):
            kept.append(path)
    return tuple(sorted(kept))


@dataclass(frozen=True)
class Principal:
    """Who is calling: identity, roles, and the grid subtrees they may see."""

    user_id: int
    username: str
    display_name: str
    roles: frozenset[str]
    scope_paths: tuple[str, ...] = field(default_factory=tuple)
    session_id: int | None = None
    # Each (role, unit path) the user holds: a role's powers reach only the subtree it is held at.
    grants: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    # When the session behind this caller ends (None for callers not built from a session).
    session_expires_at: datetime | None = None

    def has_role(self, *roles: str) -> bool:
        return not self.roles.isdisjoint(roles)

    def narrowed_to(self, *roles: str) -> Principal:
        """The same caller, seeing only the subtrees where they hold one of `roles`."""
        grants = tuple(g for g in self.grants if g[0] in roles)
        return replace(self, roles=self.roles & frozenset(roles), scope_paths=minimal_paths(p for _, p in grants), grants=grants)

    def covers(self, path: str) -> bool:
        """True when the unit with materialized `path` lies inside the caller's scope."""
        return any(path_covers(scope, path) for scope in self.scope_paths)

    def covers_any(self, paths: Iterable[str | None]) -> bool:
        return any(p is not None and self.covers(p) for p in paths)


def roles_named(roles: Iterable[str]) -> Listing:
    """Roles by their names in words, as "one of": `辅导员、院系学工或学生处`."""
    return listing((phrase(f"role.{role}") for role in sorted(roles)), style="or")


def require_role(principal: Principal, *roles: str) -> None:
    """Refuse unless the caller holds one of `roles`."""
    if not principal.has_role(*roles):
        raise Forbidden(phrase("refusal.session.role", roles=roles_named(roles)))
