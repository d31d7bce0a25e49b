"""The audit chain holds, and `riskcontrol audit verify` names the row that was altered or removed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from riskcontrol.cli import app as cli
from riskcontrol.core import audit
from riskcontrol.core.audit import AuditLog
from riskcontrol.core.clock import ManualClock


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
    victim.hash = audit._content_hash(victim.prev_hash, victim)
    db.commit()
    assert audit.verify_chain(db).broken_seq == 3


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
