"""The audit key lives outside the database: generated once into var/ in development, required in
production; and a database upgraded from the unkeyed chain keeps verifying, the old part the old way."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session

from riskcontrol.app import create_app
from riskcontrol.core import audit, migrations
from riskcontrol.core.audit import GENESIS_HASH, AuditHead, AuditLog
from riskcontrol.core.clock import ManualClock
from riskcontrol.core.db import make_engine, make_sessionmaker
from riskcontrol.core.security import use_password_hashing
from riskcontrol.settings import Settings, SettingsError

KEY = b"upgraded-campus-audit-key-" + b"u" * 20


def test_production_refuses_to_start_without_an_audit_key(tmp_path: Path) -> None:
    s = Settings(environment="production", var_dir=tmp_path, secret_key="k" * 40, audit_key=None, argon2_profile="standard")
    try:
        with pytest.raises(SettingsError, match="RISKCONTROL_AUDIT_KEY"):
            create_app(s)
    finally:
        use_password_hashing("cheapest")  # as the suite runs (tests/conftest.py), whatever got this far
    assert not (tmp_path / "audit_key").exists()


@pytest.mark.parametrize("key", ["changeme", "short", "k" * 40])
def test_production_refuses_a_weak_audit_key_or_the_signing_secret(tmp_path: Path, key: str) -> None:
    s = Settings(environment="production", var_dir=tmp_path, secret_key="k" * 40, audit_key=key)
    with pytest.raises(SettingsError, match="RISKCONTROL_AUDIT_KEY"):
        s.resolve_audit_key()


def test_development_generates_the_audit_key_once_readable_by_the_owner_alone(tmp_path: Path) -> None:
    first = Settings(var_dir=tmp_path / "var", audit_key=None).resolve_audit_key()
    assert len(first) >= 48
    assert Settings(var_dir=tmp_path / "var", audit_key=None).resolve_audit_key() == first
    assert (tmp_path / "var" / "audit_key").stat().st_mode & 0o777 == 0o600
    assert first != Settings(var_dir=tmp_path / "var").resolve_secret().encode()


def test_a_session_without_the_key_writes_no_audit_row(engine: Engine) -> None:
    with make_sessionmaker(engine)() as db, pytest.raises(audit.AuditKeyMissing):
        audit.record(db, ManualClock(datetime(2026, 11, 28, tzinfo=UTC)), actor_user_id=None, actor="x", action="test")


def old_link(prev_hash: str, seq: int, row: dict[str, object]) -> str:
    content = {"seq": seq, **{k: v for k, v in row.items() if k != "at"}, "at": row["at"].isoformat(timespec="microseconds")}  # type: ignore[attr-defined]
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def test_an_upgraded_database_verifies_its_unkeyed_rows_the_old_way_and_the_rest_keyed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'upgraded.db'}"
    migrations.upgrade(url, "0020")
    engine = make_engine(url)
    at = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    try:
        with engine.begin() as conn:  # two rows sealed by the old sealer, one still waiting for it
            prev = GENESIS_HASH
            for n in range(3):
                row = {
                    "at": at + timedelta(minutes=n),
                    "actor_user_id": n,
                    "actor": f"user{n}",
                    "action": "student.contacts.read",
                    "subject_type": "student",
                    "subject_id": str(n),
                    "outcome": "ok",
                    "detail": {"i": n},
                }
                if n == 2:
                    conn.execute(insert(AuditLog).values(**row))
                    continue
                link = old_link(prev, n + 1, row)
                conn.execute(insert(AuditLog).values(**row, seq=n + 1, prev_hash=prev, hash=link))
                prev = link
            conn.execute(update(AuditHead).values(seq=2, hash=prev))
        migrations.upgrade(url)
        sessions = audit.keyed(make_sessionmaker(engine), KEY)
        clock = ManualClock(at + timedelta(days=1))
        with sessions() as db:
            head = db.execute(select(AuditHead)).scalar_one()
            assert (head.seq, head.legacy_seq, head.mark) == (3, 3, None)  # the waiting row closed the old chain
            audit.record(db, clock, actor_user_id=9, actor="counselor", action="student.contacts.read")
            db.commit()
            assert audit.seal(db, clock) == 1
            db.commit()
            report = audit.verify_chain(db)
            assert (report.ok, report.rows_checked) == (True, 4), report.reason
            keyed_row = db.execute(select(AuditLog).where(AuditLog.seq == 4)).scalar_one()
            assert keyed_row.row_mac is not None
            # Moving the boundary and rehashing the keyed row the old way, so that it passes as an old
            # one, is caught by the head's mark.
            fields = ("at", "actor_user_id", "actor", "action", "subject_type", "subject_id", "outcome", "detail")
            converted = old_link(keyed_row.prev_hash or "", 4, {f: getattr(keyed_row, f) for f in fields})
            original = keyed_row.hash
            db.execute(update(AuditLog).where(AuditLog.seq == 4).values(hash=converted))
            db.execute(update(AuditHead).values(legacy_seq=4, hash=converted))
            db.commit()
            assert "mark" in (audit.verify_chain(db).reason or "")
            db.execute(update(AuditLog).where(AuditLog.seq == 4).values(hash=original))
            db.execute(update(AuditHead).values(legacy_seq=3, hash=original))
            db.commit()
            assert audit.verify_chain(db).ok
            # A row past the boundary without a MAC is a failure, not an old row.
            db.execute(update(AuditLog).where(AuditLog.seq == 4).values(row_mac=None))
            db.commit()
            assert audit.verify_chain(db).broken_seq == 4
            # An old row altered is caught the old way.
            db.execute(update(AuditLog).where(AuditLog.seq == 2).values(actor="someone else"))
            db.commit()
            assert audit.verify_chain(db).broken_seq == 2
    finally:
        engine.dispose()


def test_a_fresh_database_starts_keyed(db: Session) -> None:
    head = db.execute(select(AuditHead)).scalar_one_or_none()
    assert head is None or head.legacy_seq == 0
