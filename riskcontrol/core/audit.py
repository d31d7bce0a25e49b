"""Append-only, keyed audit log: each row carries an HMAC of its content from the moment it is written,
and the sealer chains the rows with HMACs under a key kept outside the database.

Writers only append (no lock, so audited writes run concurrently). A row gets `row_mac` when it is
inserted, in the writer's own transaction: altered afterwards, sealed or not, it no longer matches.
The worker's sealer then takes the head lock, checks each new row's MAC, and chains the genuine ones
in the order they were written (`hash` = HMAC(key, previous hash + content + row MAC)); a row whose
MAC fails is kept out of the chain, marked refused and reported in an alert row of its own. Without
the key nobody can recompute the chain, so a rehashed chain shows at the first row changed.

The key reaches writers through their session (`keyed`): the composition root and the command line
key their session factories with the configured key. The head row carries an HMAC too (`mark`)
over the head, the legacy boundary and the pruning base, so none of them can be moved unnoticed.
Rows sealed before the key existed (migration 0021) end at `legacy_seq` and stay verifiable the old
way (plain SHA-256 links); every row after them must be keyed. `prune` drops a verified prefix and
records the last dropped link as the base that verification starts from. The hourly anchors
(core.audit_anchors) keep copies of the head outside the database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, Final, NotRequired, TypedDict, Unpack

from sqlalchemy import JSON, BigInteger, Connection, ForeignKey, Integer, String, delete, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Mapper, Session, mapped_column, object_session, sessionmaker

from riskcontrol.core.clock import Clock, SystemClock
from riskcontrol.core.db import Base, UTCDateTime, transaction
from riskcontrol.core.security import Principal

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
# In `hash` of a row the sealer kept out of the chain because its MAC failed (it stays unsealed, as evidence).
REFUSED: Final = "refused"
KEY_INFO: Final = "riskcontrol.audit_key"
SEAL_BATCH = 1000


class AuditKeyMissing(RuntimeError):
    """An audit row was written or checked through a session that carries no audit key."""


class ChainBroken(RuntimeError):
    """The chain does not hold where an operation needs it to (the head's mark, a prefix to prune)."""


@dataclass(frozen=True)
class AuditConfig:
    """The audit log's wiring, built from settings by the app and the command line alike."""

    key: bytes
    anchors: Path
    tz: tzinfo


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
    row_mac: Mapped[str | None] = mapped_column(String(64))


class AuditHead(Base):
    """The single row naming the chain's last link; locking it serialises appends."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    last_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("audit_log.id", ondelete="SET NULL"))
    # Rows up to here were sealed before the key existed (plain SHA-256); everything after is keyed.
    legacy_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # The last pruned link: verification starts after it.
    base_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    base_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)
    # HMAC over the fields above; None only before the first keyed seal.
    mark: Mapped[str | None] = mapped_column(String(64))


def keyed(sessions: sessionmaker[Session], key: bytes) -> sessionmaker[Session]:
    """`sessions`, its sessions carrying the audit key (every writer and the sealer find it there)."""
    sessions.configure(info={**sessions.kw.get("info", {}), KEY_INFO: key})
    return sessions


def _key(db: Session) -> bytes:
    key = db.info.get(KEY_INFO)
    if not isinstance(key, bytes):
        raise AuditKeyMissing("this session carries no audit key (build its factory with audit.keyed)")
    return key


def _mac(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def _content(row: AuditLog) -> dict[str, Any]:
    return {
        "at": row.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_user_id": row.actor_user_id,
        "actor": row.actor,
        "action": row.action,
        "subject_type": row.subject_type,
        "subject_id": row.subject_id,
        "outcome": row.outcome,
        "detail": row.detail,
    }


def _canonical(content: dict[str, Any]) -> str:
    return json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def row_mac(key: bytes, row: AuditLog) -> str:
    """The row's own MAC: its content under the key, fixed when it is written."""
    return _mac(key, "row:" + _canonical(_content(row)))


def link_hash(key: bytes, prev_hash: str, row: AuditLog) -> str:
    """The keyed chain link: the previous hash, the row's place, content and MAC under the key."""
    return _mac(key, prev_hash + _canonical({**_content(row), "seq": row.seq, "row_mac": row.row_mac}))


def legacy_hash(prev_hash: str, row: AuditLog) -> str:
    """The unkeyed link of rows sealed before migration 0021 (plain SHA-256)."""
    canonical = _canonical({**_content(row), "seq": row.seq})
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def _head_mark(key: bytes, head: AuditHead) -> str:
    return _mac(key, f"head:{head.seq}:{head.hash}:{head.legacy_seq}:{head.base_seq}:{head.base_hash}")


def _mark_problem(key: bytes, head: AuditHead) -> str | None:
    """Why the head cannot be trusted, or None. An unmarked head is fine only before any keyed seal."""
    if head.mark is None:
        untouched = head.seq == head.legacy_seq and head.base_seq == 0
        return None if untouched else "the chain head carries no mark although keyed rows were sealed"
    if not hmac.compare_digest(head.mark, _head_mark(key, head)):
        return "the chain head (seq, hash, legacy boundary or pruning base) does not match its mark"
    return None


@event.listens_for(AuditLog, "before_insert")
def _mac_on_insert(_mapper: Mapper[AuditLog], _conn: Connection, row: AuditLog) -> None:
    # At insert, not in entry(): a caller may still set fields (the filed observation's id) until then.
    db = object_session(row)
    if db is None:
        raise AuditKeyMissing("an audit row is inserted outside a session")
    row.row_mac = row_mac(_key(db), row)


def _locked_head(db: Session) -> AuditHead:
    """The chain's head row, locked until commit; created first if an emptied database lacks it."""
    locked = select(AuditHead).where(AuditHead.id == 1).with_for_update()
    head = db.execute(locked.execution_options(populate_existing=True)).scalar_one_or_none()
    if head is None:
        insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
        values = {"id": 1, "seq": 0, "hash": GENESIS_HASH, "legacy_seq": 0, "base_seq": 0, "base_hash": GENESIS_HASH}
        db.execute(insert(AuditHead).values(values).on_conflict_do_nothing())
        head = db.execute(locked).scalar_one()
    return head


def _trusted_head(db: Session, key: bytes) -> AuditHead:
    head = _locked_head(db)
    if (problem := _mark_problem(key, head)) is not None:
        raise ChainBroken(problem)
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
    """One audit row, not yet added to any session (its MAC is computed when a keyed session inserts it)."""
    # Round-trip through JSON so the MAC'd form is exactly what the database will return.
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
    """Append one row in the caller's transaction (it commits or vanishes with the change), MAC'd at insert."""
    _key(db)  # refused at once, not at the flush far from the cause
    row = entry(clock, **fields)
    db.add(row)
    return row


def record_by(
    db: Session,
    clock: Clock,
    principal: Principal,
    action: str,
    subject_type: str,
    subject_id: str | int | None,
    detail: dict[str, Any] | None = None,
) -> AuditLog:
    """`record` of something a signed-in caller did or read, in their name."""
    return record(
        db,
        clock,
        actor_user_id=principal.user_id,
        actor=principal.username,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        detail=detail,
    )


def _mac_holds(key: bytes, row: AuditLog) -> bool:
    return row.row_mac is not None and hmac.compare_digest(row.row_mac, row_mac(key, row))


def _seal_batch(db: Session, clock: Clock, batch: int) -> tuple[int, int]:
    """Chain up to `batch` waiting rows; (sealed, looked at)."""
    key = _key(db)
    head = _trusted_head(db, key)
    waiting = select(AuditLog).where(AuditLog.seq.is_(None), AuditLog.hash.is_(None)).order_by(AuditLog.id).limit(batch)
    rows = db.execute(waiting.execution_options(populate_existing=True)).scalars().all()
    sealed = 0
    for row in rows:
        if not _mac_holds(key, row):
            # Sealing it would make a forged or altered row look genuine: it stays out, marked, and is reported.
            row.hash = REFUSED
            log.error("audit row id %s not sealed: its MAC does not match its content (altered or forged)", row.id)
            record(
                db,
                clock,
                actor_user_id=None,
                actor="audit-sealer",
                action="audit.seal.refused",
                subject_type="audit_log",
                subject_id=row.id,
                outcome="alert",
                detail={"reason": "row MAC does not match its content", "action": row.action},
            )
            continue
        row.seq, row.prev_hash = head.seq + 1, head.hash
        row.hash = link_hash(key, head.hash, row)
        head.seq, head.hash, head.last_id = row.seq, row.hash, row.id
        sealed += 1
    head.mark = _head_mark(key, head)
    return sealed, len(rows)


def seal(db: Session, clock: Clock | None = None, *, batch: int = SEAL_BATCH) -> int:
    """Chain up to `batch` unsealed rows onto the head, oldest first; returns how many were sealed."""
    return _seal_batch(db, clock or SystemClock(), batch)[0]


def seal_all(sessions: sessionmaker[Session], clock: Clock | None = None) -> int:
    """Seal everything appended so far, one committed batch at a time (the worker's job)."""
    total = 0
    while True:
        with transaction(sessions) as db:
            sealed, seen = _seal_batch(db, clock or SystemClock(), SEAL_BATCH)
        total += sealed
        if seen < SEAL_BATCH:
            return total


def record_apart(factory: sessionmaker[Session], clock: Clock, **fields: Unpack[AuditFields]) -> None:
    """Append in a transaction of its own: for refusals whose request is about to fail."""
    with transaction(factory) as db:
        record(db, clock, **fields)


def _sealed_from(db: Session, after_seq: int, through_seq: int, batch: int) -> Iterator[AuditLog]:
    """Sealed rows after `after_seq` up to the head's `through_seq` in chain order, a batch at a time
    (rows a sealer adds meanwhile are left for the next walk)."""
    while True:
        window = (AuditLog.seq > after_seq, AuditLog.seq <= through_seq)
        stmt = select(AuditLog).where(*window).order_by(AuditLog.seq).limit(batch)
        rows = db.execute(stmt.execution_options(populate_existing=True)).scalars().all()
        if not rows:
            return
        yield from rows
        after_seq = rows[-1].seq or after_seq
        for row in rows:  # keep memory flat on long chains without touching the caller's other objects
            db.expunge(row)


def _link_problem(key: bytes, head: AuditHead, expected_seq: int, expected_prev: str, row: AuditLog) -> str | None:
    """Why `row` is not the genuine next link of the chain, or None."""
    if row.seq != expected_seq:
        return f"row with seq {expected_seq} is missing (next present is seq {row.seq}, id {row.id})"
    if row.prev_hash != expected_prev:
        return "previous-hash link does not match the row before"
    assert row.seq is not None
    if row.seq <= head.legacy_seq:
        return None if legacy_hash(expected_prev, row) == row.hash else "content does not match its hash (row altered)"
    if row.row_mac is None:
        return "row has no MAC (every row after the legacy boundary is keyed)"
    if not _mac_holds(key, row):
        return "content does not match the row's MAC (row altered)"
    if row.hash is None or not hmac.compare_digest(row.hash, link_hash(key, expected_prev, row)):
        return "link does not match its keyed hash (chain rehashed without the key)"
    return None


@dataclass(frozen=True)
class Anchor:
    """A copy of the chain head kept outside the database."""

    at: datetime
    seq: int
    hash: str


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


def verify_chain(db: Session, *, batch: int = 5000, anchors: list[Anchor] | None = None) -> ChainReport:
    """Walk every sealed row in order from the pruning base, then the waiting rows and the anchors,
    and report the first row whose link, MAC or content does not hold."""
    key = _key(db)
    head = db.execute(select(AuditHead).where(AuditHead.id == 1).execution_options(populate_existing=True)).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS_HASH, legacy_seq=0, base_seq=0, base_hash=GENESIS_HASH)
    anchored = {a.seq: a for a in anchors or [] if a.seq > head.base_seq}
    for a in anchors or []:
        if a.seq == head.base_seq and a.hash != head.base_hash:
            return ChainReport(0, a.seq, None, f"the pruning base disagrees with the anchor written at {a.at.isoformat()}")
    expected_prev, expected_seq, checked = head.base_hash, head.base_seq + 1, 0
    for row in _sealed_from(db, head.base_seq, head.seq, batch):
        if (problem := _link_problem(key, head, expected_seq, expected_prev, row)) is not None:
            missing = row.seq != expected_seq
            return ChainReport(checked, expected_seq if missing else row.seq, None if missing else row.id, problem)
        assert row.hash is not None
        if (anchor := anchored.pop(expected_seq, None)) is not None and anchor.hash != row.hash:
            reason = f"hash differs from the anchor written at {anchor.at.isoformat()} (chain rewritten)"
            return ChainReport(checked, row.seq, row.id, reason)
        expected_prev, expected_seq, checked = row.hash, expected_seq + 1, checked + 1
    last_seq = expected_seq - 1
    if head.seq != last_seq or head.hash != expected_prev:
        reason = f"chain ends at seq {last_seq} but the head records seq {head.seq} (rows removed at the end)"
        return ChainReport(checked, head.seq, head.last_id, reason)
    if (problem := _mark_problem(key, head)) is not None:
        return ChainReport(checked, head.seq, head.last_id, problem)
    if anchored:
        anchor = min(anchored.values(), key=lambda a: a.seq)
        reason = f"the anchor written at {anchor.at.isoformat()} names seq {anchor.seq}, past the chain's end (rows removed)"
        return ChainReport(checked, anchor.seq, None, reason)
    return _waiting_problem(db, key) or ChainReport(checked)


def _waiting_problem(db: Session, key: bytes) -> ChainReport | None:
    """The first unsealed row that was refused by the sealer or no longer matches its MAC."""
    waiting = select(AuditLog).where(AuditLog.seq.is_(None)).order_by(AuditLog.id)
    for row in db.execute(waiting.execution_options(populate_existing=True)).scalars():
        if row.hash == REFUSED:
            return ChainReport(
                0, None, row.id, "unsealed row refused by the sealer: its MAC did not match (altered before sealing)"
            )
        if not _mac_holds(key, row):
            return ChainReport(0, None, row.id, "unsealed row does not match its MAC (altered before sealing)")
    return None


def prune(db: Session, clock: Clock, *, before: datetime) -> int:
    """Delete the sealed rows written before `before` from the start of the chain (a contiguous prefix,
    verified first: evidence of tampering is never deleted), record the last one as the base, and
    return how many went. The pruning itself is audited."""
    key = _key(db)
    head = _trusted_head(db, key)
    expected_prev, expected_seq = head.base_hash, head.base_seq + 1
    doomed: list[int] = []
    for row in _sealed_from(db, head.base_seq, head.seq, 5000):
        if row.at >= before:
            break
        if (problem := _link_problem(key, head, expected_seq, expected_prev, row)) is not None:
            raise ChainBroken(f"not pruning: seq {expected_seq} (row id {row.id}): {problem}")
        assert row.hash is not None
        doomed.append(row.id)
        expected_prev, expected_seq = row.hash, expected_seq + 1
    if not doomed:
        return 0
    for start in range(0, len(doomed), 5000):
        db.execute(delete(AuditLog).where(AuditLog.id.in_(doomed[start : start + 5000])))
    if head.last_id in doomed:
        head.last_id = None
    head.base_seq, head.base_hash = expected_seq - 1, expected_prev
    head.mark = _head_mark(key, head)
    record(
        db,
        clock,
        actor_user_id=None,
        actor="retention",
        action="audit.prune",
        outcome="ok",
        detail={"rows": len(doomed), "through_seq": head.base_seq, "before": before.isoformat()},
    )
    return len(doomed)
