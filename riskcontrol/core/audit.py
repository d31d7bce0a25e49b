"""Append-only, hash-chained audit log: every row seals its content and the previous row's hash.

Writers only append (no lock, so audited writes run concurrently); the worker's sealer then takes
the head lock, chains the new rows in the order they were written and advances the head. A row is
tamper-evident from its sealing on, normally within a second of its commit.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NotRequired, TypedDict, Unpack

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from riskcontrol.core.clock import Clock
from riskcontrol.core.db import Base, UTCDateTime, transaction

GENESIS_HASH = "0" * 64


class AuditLog(Base):
    """One audited fact: who did or tried what, to which subject, when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor_user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor: Mapped[str] = mapped_column(String(150))
    action: Mapped[str] = mapped_column(String(80), index=True)
    subject_type: Mapped[str | None] = mapped_column(String(60))
    subject_id: Mapped[str | None] = mapped_column(String(80))
    outcome: Mapped[str] = mapped_column(String(20))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


class AuditHead(Base):
    """The single row naming the chain's last link; locking it serialises appends."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    last_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("audit_log.id", ondelete="SET NULL"))


def _content_hash(prev_hash: str, row: AuditLog) -> str:
    assert row.seq is not None
    content = {
        "seq": row.seq,
        "at": row.at.isoformat(timespec="microseconds"),
        "actor_user_id": row.actor_user_id,
        "actor": row.actor,
        "action": row.action,
        "subject_type": row.subject_type,
        "subject_id": row.subject_id,
        "outcome": row.outcome,
        "detail": row.detail,
    }
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def _locked_head(db: Session) -> AuditHead:
    """The chain's head row, locked until commit; created first if an emptied database lacks it."""
    locked = select(AuditHead).where(AuditHead.id == 1).with_for_update()
    head = db.execute(locked).scalar_one_or_none()
    if head is None:
        insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
        db.execute(insert(AuditHead).values(id=1, seq=0, hash=GENESIS_HASH).on_conflict_do_nothing())
        head = db.execute(locked).scalar_one()
    return head


class AuditFields(TypedDict):
    """What an audit row says: who did or tried what, to which subject, with what outcome."""

    actor_user_id: int | None
    actor: str
    action: str
    subject_type: NotRequired[str | None]
    subject_id: NotRequired[str | int | None]
    outcome: NotRequired[str]
    detail: NotRequired[dict[str, Any] | None]


def entry(clock: Clock, **fields: Unpack[AuditFields]) -> AuditLog:
    """One audit row, not yet added to any session."""
    # Round-trip through JSON so the hashed form is exactly what the database will return.
    clean_detail = json.loads(json.dumps(fields.get("detail") or {}, ensure_ascii=False, default=str))
    subject_id = fields.get("subject_id")
    return AuditLog(
        at=clock.now(),
        actor_user_id=fields["actor_user_id"],
        actor=fields["actor"],
        action=fields["action"],
        subject_type=fields.get("subject_type"),
        subject_id=None if subject_id is None else str(subject_id),
        outcome=fields.get("outcome", "ok"),
        detail=clean_detail,
    )


def record(db: Session, clock: Clock, **fields: Unpack[AuditFields]) -> AuditLog:
    """Append one row in the caller's transaction (it commits or vanishes with the change); sealed later."""
    row = entry(clock, **fields)
    db.add(row)
    return row


def seal(db: Session, *, batch: int = 1000) -> int:
    """Chain up to `batch` unsealed rows onto the head, oldest first; returns how many were sealed."""
    head = _locked_head(db)
    stmt = select(AuditLog).where(AuditLog.seq.is_(None)).order_by(AuditLog.id).limit(batch)
    rows = db.execute(stmt.execution_options(populate_existing=True)).scalars().all()
    for row in rows:
        row.seq, row.prev_hash = head.seq + 1, head.hash
        row.hash = _content_hash(head.hash, row)
        head.seq, head.hash, head.last_id = row.seq, row.hash, row.id
    return len(rows)


def seal_all(sessions: sessionmaker[Session], _clock: Clock | None = None) -> int:
    """Seal everything appended so far, one committed batch at a time (the worker's job)."""
    total = 0
    while True:
        with transaction(sessions) as db:
            sealed = seal(db)
        total += sealed
        if sealed < 1000:
            return total


def record_apart(factory: sessionmaker[Session], clock: Clock, **fields: Unpack[AuditFields]) -> None:
    """Append in a transaction of its own: for refusals whose request is about to fail."""
    with transaction(factory) as db:
        record(db, clock, **fields)


@dataclass(frozen=True)
class ChainReport:
    """The result of walking the chain: rows checked and the first broken link, if any."""

    rows_checked: int
    broken_seq: int | None = None
    broken_id: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


def verify_chain(db: Session, *, batch: int = 5000) -> ChainReport:
    """Walk every row in order and report the first one whose link or content does not hold."""
    expected_prev, expected_seq, checked = GENESIS_HASH, 1, 0
    after = 0
    while True:
        stmt = select(AuditLog).where(AuditLog.seq.is_not(None), AuditLog.seq >= after).order_by(AuditLog.seq).limit(batch)
        rows = db.execute(stmt.execution_options(populate_existing=True)).scalars().all()
        if not rows:
            break
        for row in rows:
            assert row.seq is not None
            assert row.hash is not None
            assert row.prev_hash is not None
            if row.seq != expected_seq:
                return ChainReport(
                    checked,
                    expected_seq,
                    None,
                    f"row with seq {expected_seq} is missing (next present is seq {row.seq}, id {row.id})",
                )
            if row.prev_hash != expected_prev:
                return ChainReport(checked, row.seq, row.id, "previous-hash link does not match the row before")
            if _content_hash(row.prev_hash, row) != row.hash:
                return ChainReport(checked, row.seq, row.id, "content does not match its hash (row altered)")
            expected_prev, expected_seq, checked = row.hash, row.seq + 1, checked + 1
        after = expected_seq
        for row in rows:  # keep memory flat on long chains without touching the caller's other objects
            db.expunge(row)
    head = db.get(AuditHead, 1)
    head_seq = head.seq if head is not None else 0
    head_hash = head.hash if head is not None else GENESIS_HASH
    if head_seq != checked or head_hash != expected_prev:
        return ChainReport(
            checked,
            head_seq,
            head.last_id if head is not None else None,
            f"chain ends at seq {checked} but the head records seq {head_seq} (rows removed at the end)",
        )
    return ChainReport(checked)
