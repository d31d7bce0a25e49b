"""Students, guardians, users, their role assignments on the grid, and login sessions."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from riskcontrol.core.db import Base, UTCDateTime


class Student(Base):
    """A student, placed in a class and (usually) a dorm room."""

    __tablename__ = "student"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_no: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    gender: Mapped[str] = mapped_column(String(1))
    class_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"), index=True)
    dorm_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id", ondelete="SET NULL"), index=True)
    phone: Mapped[str | None] = mapped_column(String(32))

    guardians: Mapped[list[Guardian]] = relationship(
        back_populates="student", cascade="all, delete-orphan", order_by="Guardian.id"
    )


class Guardian(Base):
    """A parent or other guardian of a student (contact details are personal information)."""

    __tablename__ = "guardian"
    __table_args__ = (UniqueConstraint("student_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    relation: Mapped[str] = mapped_column(String(40))
    phone: Mapped[str] = mapped_column(String(32))

    student: Mapped[Student] = relationship(back_populates="guardians")


class User(Base):
    """A person who signs in: staff, or a student who serves as a monitor."""

    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(32))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    student_id: Mapped[int | None] = mapped_column(ForeignKey("student.id", ondelete="SET NULL"))

    assignments: Mapped[list[RoleAssignment]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="RoleAssignment.id"
    )


class RoleAssignment(Base):
    """A role held by a user at a grid unit; the unit's subtree is what the role sees."""

    __tablename__ = "role_assignment"
    __table_args__ = (UniqueConstraint("user_id", "role", "unit_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(32), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"), index=True)

    user: Mapped[User] = relationship(back_populates="assignments")


class AuthSession(Base):
    """A signed-in session (API bearer token or web cookie); only the token's hash is kept."""

    __tablename__ = "auth_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class StaffCover(Base):
    """Someone away (a counsellor on leave) and who stands in for them over the days named, both
    inclusive: whatever would tell the one away tells the cover instead."""

    __tablename__ = "staff_cover"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    cover_user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
