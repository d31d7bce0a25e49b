"""The chain head is anchored outside the database every hour, once however many workers sweep; a chain
that disagrees with its anchors fails verification; the daily report lists the anchors and the rows."""

from __future__ import annotations

import logging
import threading
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from riskcontrol.app import build_context, build_worker
from riskcontrol.cli import app as cli
from riskcontrol.core import audit, audit_anchors
from riskcontrol.core.audit import AuditHead, AuditLog
from riskcontrol.core.clock import ManualClock
from riskcontrol.settings import Settings
from tests.conftest import START, TEST_AUDIT_KEY
from tests.integration.test_audit import write_rows

KEY = TEST_AUDIT_KEY.encode()


def anchor_lines(settings: Settings) -> list[str]:
    path = settings.audit_anchors
    return path.read_text(encoding="ascii").splitlines() if path.exists() else []


def test_the_head_is_anchored_every_hour_once_with_two_workers(
    sessions: sessionmaker[Session], settings: Settings, clock: ManualClock, db: Session
) -> None:
    write_rows(db, clock, 3)  # 22:00:03 in Shanghai
    db.close()
    ctx = build_context(settings, clock=clock)
    workers = [build_worker(ctx), build_worker(ctx)]
    for n, worker in enumerate(workers):
        worker.name = f"anchoring-worker-{n}"  # two processes, as in production

    def both_sweep() -> None:
        start = threading.Barrier(2)
        failures: list[BaseException] = []

        def sweep(index: int) -> None:
            start.wait()
            try:
                workers[index].run_once()
            except BaseException as exc:  # handed to the test's thread
                failures.append(exc)

        threads = [threading.Thread(target=sweep, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failures:
            raise failures[0]

    try:
        both_sweep()
        assert anchor_lines(settings) == []  # the first anchor is due at the top of the next hour
        clock.set(START + timedelta(hours=1))
        both_sweep()
        both_sweep()
        lines = anchor_lines(settings)
        assert len(lines) == 1
        assert lines[0].startswith(f"{clock.now().isoformat()} seq=3 hash=")
        clock.advance(timedelta(minutes=59))
        both_sweep()
        assert len(anchor_lines(settings)) == 1
        clock.advance(timedelta(minutes=1))
        both_sweep()
        assert len(anchor_lines(settings)) == 2
        assert settings.audit_anchors.stat().st_mode & 0o777 == 0o600
    finally:
        ctx.engine.dispose()


def forge_with_the_key(db: Session, *, from_seq: int) -> None:
    """An insider who stole the key rewrites a row and every link after it, and re-marks the head."""
    rows = db.execute(select(AuditLog).where(AuditLog.seq >= from_seq).order_by(AuditLog.seq)).scalars().all()
    rows[0].actor = "somebody else"
    prev = rows[0].prev_hash
    assert prev is not None
    for row in rows:
        row.row_mac = audit.row_mac(KEY, row)
        row.prev_hash, row.hash = prev, audit.link_hash(KEY, prev, row)
        prev = row.hash
    head = db.execute(select(AuditHead)).scalar_one()
    head.hash = prev
    head.mark = audit._head_mark(KEY, head)
    db.commit()


def verify(settings: Settings) -> tuple[int, str]:
    env = {"RISKCONTROL_DATABASE_URL": settings.database_url, "RISKCONTROL_VAR_DIR": str(settings.var_dir)}
    result = CliRunner().invoke(cli, ["audit", "verify"], env=env)
    return result.exit_code, result.output


def test_a_chain_rewritten_after_its_anchor_fails_verification(db: Session, clock: ManualClock, settings: Settings) -> None:
    write_rows(db, clock, 5)
    audit_anchors.write_anchor(db, clock, settings.audit_anchors)
    forge_with_the_key(db, from_seq=3)
    assert audit.verify_chain(db).ok  # the database alone cannot tell
    report = audit.verify_chain(db, anchors=audit_anchors.read_anchors(settings.audit_anchors))
    assert report.broken_seq == 5
    assert "anchor" in (report.reason or "")
    db.rollback()
    code, output = verify(settings)
    assert code == 1
    assert "seq 5" in output
    assert "anchor" in output


def test_rows_cut_from_the_end_after_their_anchor_fail_verification(db: Session, clock: ManualClock, settings: Settings) -> None:
    write_rows(db, clock, 5)
    audit_anchors.write_anchor(db, clock, settings.audit_anchors)
    fourth = db.execute(select(AuditLog).where(AuditLog.seq == 3)).scalar_one()
    db.execute(delete(AuditLog).where(AuditLog.seq > 3))
    head = db.execute(select(AuditHead)).scalar_one()
    head.seq, head.hash, head.last_id = 3, fourth.hash or "", fourth.id
    head.mark = audit._head_mark(KEY, head)
    db.commit()
    report = audit.verify_chain(db, anchors=audit_anchors.read_anchors(settings.audit_anchors))
    assert report.broken_seq == 5
    assert "past the chain's end" in (report.reason or "")


def test_an_anchors_file_with_a_line_that_is_no_anchor_is_reported(settings: Settings) -> None:
    settings.audit_anchors.parent.mkdir(parents=True)
    settings.audit_anchors.write_text("2026-11-28T15:00:00+00:00 seq=3 hash=ab\nnot an anchor\n", encoding="ascii")
    with pytest.raises(audit.ChainBroken, match="line 2"):
        audit_anchors.read_anchors(settings.audit_anchors)


def test_the_daily_report_lists_the_days_anchors_and_rows_by_action(
    db: Session, clock: ManualClock, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    write_rows(db, clock, 3)
    audit.record(db, clock, actor_user_id=None, actor="desk", action="hazard.report")
    db.commit()
    audit_anchors.write_anchor(db, clock, settings.audit_anchors)
    cfg = settings.audit_config()
    text = audit_anchors.daily_report(db, cfg, date(2026, 11, 28))
    assert "anchors (1):" in text
    assert "22:00  seq 3" in text
    assert "student.contacts.read  3" in text
    assert "hazard.report  1" in text
    assert "rows by action (4)" in text
    assert "anchors (0):" in audit_anchors.daily_report(db, cfg, date(2026, 11, 29))
    db.rollback()
    env = {"RISKCONTROL_DATABASE_URL": settings.database_url, "RISKCONTROL_VAR_DIR": str(settings.var_dir)}
    result = CliRunner().invoke(cli, ["audit", "report", "--date", "2026-11-28"], env=env)
    assert result.exit_code == 0, result.output
    assert "student.contacts.read  3" in result.output
    # The worker's daily run logs the same report once, just after midnight, for the day that ended.
    ctx = build_context(settings, clock=clock)
    worker = build_worker(ctx)
    try:
        with caplog.at_level(logging.INFO, logger="riskcontrol.core.audit_anchors"):
            worker.run_once()
            clock.set(START + timedelta(hours=10, minutes=10))  # 00:10 in Shanghai
            worker.run_once()
            worker.run_once()
        reports = [r.getMessage() for r in caplog.records if r.getMessage().startswith("audit report for")]
        assert len(reports) == 1
        assert reports[0].startswith("audit report for 2026-11-28")
    finally:
        ctx.engine.dispose()


def test_pruning_a_prefix_keeps_verification_passing(db: Session, clock: ManualClock, settings: Settings) -> None:
    write_rows(db, clock, 6)  # written at 22:00:00 … 22:00:05
    audit_anchors.write_anchor(db, clock, settings.audit_anchors)
    fourth = db.execute(select(AuditLog).where(AuditLog.seq == 4)).scalar_one()
    assert audit.prune(db, clock, before=fourth.at) == 3
    db.commit()
    remaining = db.execute(select(AuditLog.seq).where(AuditLog.seq.is_not(None)).order_by(AuditLog.seq)).scalars().all()
    assert remaining == [4, 5, 6]
    anchors = audit_anchors.read_anchors(settings.audit_anchors)
    assert audit.verify_chain(db, anchors=anchors).ok
    assert audit.seal(db, clock) == 1  # the pruning is itself audited
    db.commit()
    report = audit.verify_chain(db, anchors=anchors)
    assert (report.ok, report.rows_checked) == (True, 4)
    assert audit.prune(db, clock, before=fourth.at) == 0
    db.rollback()
    assert verify(settings)[0] == 0


def test_rows_deleted_from_the_start_without_pruning_are_caught(db: Session, clock: ManualClock) -> None:
    write_rows(db, clock, 5)
    second = db.execute(select(AuditLog).where(AuditLog.seq == 2)).scalar_one()
    db.execute(delete(AuditLog).where(AuditLog.seq <= 2))
    head = db.execute(select(AuditHead)).scalar_one()
    head.base_seq, head.base_hash = 2, second.hash or ""  # the genuine link, but not marked with the key
    db.commit()
    report = audit.verify_chain(db)
    assert not report.ok
    assert "mark" in (report.reason or "")


def test_a_tampered_prefix_is_never_pruned(db: Session, clock: ManualClock) -> None:
    write_rows(db, clock, 4)
    victim = db.execute(select(AuditLog).where(AuditLog.seq == 2)).scalar_one()
    victim.actor = "somebody else"
    db.commit()
    with pytest.raises(audit.ChainBroken, match="seq 2"):
        audit.prune(db, clock, before=clock.now())
    db.rollback()
    assert len(db.execute(select(AuditLog).where(AuditLog.seq.is_not(None))).scalars().all()) == 4


def test_the_anchors_file_lives_in_var_by_default(tmp_path: Path) -> None:
    assert Settings(var_dir=tmp_path).audit_anchors == tmp_path / "audit-anchors.log"
    assert Settings(var_dir=tmp_path, audit_anchor_file=tmp_path / "x.log").audit_anchors == tmp_path / "x.log"
