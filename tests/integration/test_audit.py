"""The keyed audit chain holds, and `riskcontrol audit verify` names the row that was altered, forged,
rehashed or removed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from riskcontrol.cli import app as cli
from riskcontrol.core import audit
from riskcontrol.core.audit import AuditHead, AuditLog
from riskcontrol.core.clock import ManualClock
from tests.conftest import TEST_AUDIT_KEY

KEY = TEST_AUDIT_KEY.encode()


def write_rows(db: Session, clock: ManualClock, n: int) -> None:
    for i in range(n):
        audit.record(
            db,
            clock,
            actor_user_id=i,
            actor=f"user{i}",
            action="student.contacts.read",
            subject_type="student",
            subject_id=i,
            detail={"note": "读取联系方式", "i": i},
        )
        clock.advance(timedelta(seconds=1))
    db.commit()
    audit.seal(db)
    db.commit()


def verify(database_url: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["audit", "verify"], env={"RISKCONTROL_DATABASE_URL": database_url})
    return result.exit_code, result.output


def test_an_untouched_chain_verifies(db: Session, clock: ManualClock, database_url: str) -> None:
    write_rows(db, clock, 5)
    assert audit.verify_chain(db).ok
    db.rollback()  # end the read transaction: on SQLite it holds the write lock the CLI waits for
    code, output = verify(database_url)
    assert code == 0, output
    assert "5 rows" in output


@pytest.mark.parametrize("field", ["actor", "detail", "at"])
def test_altering_one_row_breaks_the_chain_at_that_row(db: Session, clock: ManualClock, database_url: str, field: str) -> None:
    write_rows(db, clock, 5)
    victim = db.execute(select(AuditLog).where(AuditLog.seq == 3)).scalar_one()
    changes = {"actor": "someone else", "detail": {"note": "改过了"}, "at": victim.at + timedelta(minutes=1)}
    db.execute(update(AuditLog).where(AuditLog.id == victim.id).values({field: changes[field]}))
    db.commit()
    report = audit.verify_chain(db)
    assert (report.broken_seq, report.broken_id) == (3, victim.id)
    db.rollback()
    code, output = verify(database_url)
    assert code == 1
    assert f"seq 3 (row id {victim.id})" in output.replace("\n", " ")


def test_rewriting_a_row_and_its_hash_is_caught_by_the_next_link(db: Session, clock: ManualClock) -> None:
    write_rows(db, clock, 4)
    victim = db.execute(select(AuditLog).where(AuditLog.seq == 2)).scalar_one()
    victim.actor = "forger"
    assert victim.prev_hash is not None
    victim.row_mac = audit.row_mac(KEY, victim)  # even a forger holding the key
    victim.hash = audit.link_hash(KEY, victim.prev_hash, victim)
    db.commit()
    assert audit.verify_chain(db).broken_seq == 3


def old_link(prev_hash: str, row: AuditLog) -> str:
    """The unkeyed link of the chain before the key (plain SHA-256 over the content): what a forger recomputes."""
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


def rehash_from(db: Session, seq: int, link: Callable[[str, AuditLog], str]) -> None:
    """What someone with write access to the database does: recompute every link from `seq` on, and the head."""
    rows = db.execute(select(AuditLog).where(AuditLog.seq >= seq).order_by(AuditLog.seq)).scalars().all()
    prev = rows[0].prev_hash
    assert prev is not None
    for row in rows:
        row.prev_hash, row.hash = prev, link(prev, row)
        prev = row.hash
    head = db.execute(select(AuditHead)).scalar_one()
    head.hash = prev
    db.commit()


def wrong_key_link(prev_hash: str, row: AuditLog) -> str:
    row.row_mac = audit.row_mac(b"a guess at the key", row)
    return audit.link_hash(b"a guess at the key", prev_hash, row)


@pytest.mark.parametrize("link", [old_link, wrong_key_link], ids=["plain-sha256", "another-key"])
def test_a_rehashed_chain_is_caught_at_the_row_that_was_changed(
    db: Session, clock: ManualClock, database_url: str, link: Callable[[str, AuditLog], str]
) -> None:
    write_rows(db, clock, 5)
    victim = db.execute(select(AuditLog).where(AuditLog.seq == 3)).scalar_one()
    victim.detail = {"note": "从未读取"}
    rehash_from(db, 3, link)
    report = audit.verify_chain(db)
    assert (report.broken_seq, report.broken_id) == (3, victim.id), report.reason
    db.rollback()
    code, output = verify(database_url)
    assert code == 1
    assert f"seq 3 (row id {victim.id})" in output.replace("\n", " ")


def test_a_row_altered_before_sealing_is_not_sealed_and_verify_names_it(
    db: Session, clock: ManualClock, database_url: str
) -> None:
    write_rows(db, clock, 2)
    waiting = audit.record(db, clock, actor_user_id=7, actor="counselor_cs", action="student.contacts.read", subject_id=12)
    db.commit()
    # The worker is down; someone with database access changes who read the contacts.
    db.execute(update(AuditLog).where(AuditLog.id == waiting.id).values(actor="nobody"))
    db.commit()
    assert audit.seal(db) == 0
    db.commit()
    db.refresh(waiting)
    assert (waiting.seq, waiting.hash) == (None, audit.REFUSED)
    alert = db.execute(select(AuditLog).where(AuditLog.action == "audit.seal.refused")).scalar_one()
    assert alert.subject_id == str(waiting.id)
    report = audit.verify_chain(db)
    assert (report.broken_seq, report.broken_id) == (None, waiting.id)
    assert "altered before sealing" in (report.reason or "")
    db.rollback()
    code, output = verify(database_url)
    assert code == 1
    assert f"row id {waiting.id}" in output


def test_a_row_slipped_in_without_the_key_is_not_sealed(db: Session, clock: ManualClock) -> None:
    write_rows(db, clock, 2)
    forged = db.execute(
        insert(AuditLog)
        .values(at=clock.now(), actor="admin", action="user.role.grant", outcome="ok", detail={})
        .returning(AuditLog.id)
    ).scalar_one()
    db.commit()
    assert audit.seal(db) == 0
    db.commit()
    assert audit.verify_chain(db).broken_id == forged


def test_a_row_altered_after_sealing_fails_its_mac_even_with_the_links_redone(db: Session, clock: ManualClock) -> None:
    write_rows(db, clock, 3)
    victim = db.execute(select(AuditLog).where(AuditLog.seq == 2)).scalar_one()
    victim.outcome = "denied"
    rehash_from(db, 2, lambda prev, row: audit.link_hash(KEY, prev, row))  # links redone with the key, MAC not
    report = audit.verify_chain(db)
    assert report.broken_seq == 2
    assert "MAC" in (report.reason or "")


def test_removing_a_row_in_the_middle_or_at_the_end_is_caught(db: Session, clock: ManualClock, database_url: str) -> None:
    write_rows(db, clock, 5)
    db.execute(delete(AuditLog).where(AuditLog.seq == 5))
    db.commit()
    assert audit.verify_chain(db).broken_seq == 5
    db.execute(delete(AuditLog).where(AuditLog.seq == 2))
    db.commit()
    assert audit.verify_chain(db).broken_seq == 2
    db.rollback()
    assert verify(database_url)[0] == 1


def test_rows_are_chained_only_once_sealed_and_in_the_order_written(db: Session, clock: ManualClock) -> None:
    write_rows(db, clock, 2)
    late = audit.record(db, clock, actor_user_id=None, actor="late", action="test.append")
    db.commit()
    assert seq_of(late) is None
    assert audit.verify_chain(db).rows_checked == 2  # sealed rows verify; the new one waits its turn
    assert audit.seal(db) == 1
    db.commit()
    assert (seq_of(late), audit.verify_chain(db).rows_checked) == (3, 3)


def seq_of(row: AuditLog) -> int | None:
    return row.seq


def test_chain_spans_verification_batches(db: Session, clock: ManualClock) -> None:
    write_rows(db, clock, 12)
    assert audit.verify_chain(db, batch=5).rows_checked == 12
