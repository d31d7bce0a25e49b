"""Request and reply shapes of the auth and people APIs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from riskcontrol.core.http import NO_NUL


class TokenRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    username: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    password: str = Field(min_length=1, max_length=256, pattern=NO_NUL)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret


class AssignmentOut(BaseModel):
    role: str
    unit_id: int


class MeOut(BaseModel):
    id: int
    username: str
    name: str
    roles: list[str]
    assignments: list[AssignmentOut]


class StudentOut(BaseModel):
    """A student as anyone in scope sees them (no contact details)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    student_no: str
    name: str
    gender: str
    class_id: int
    dorm_id: int | None


class GuardianOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    relation: str
    phone: str


class StudentContactsOut(BaseModel):
    student_id: int
    phone: str | None
    guardians: list[GuardianOut]


class UserOut(BaseModel):
    id: int
    username: str
    name: str
    roles: list[str]
