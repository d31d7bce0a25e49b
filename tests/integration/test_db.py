"""Database helpers on SQLite and PostgreSQL alike: inserting only the rows nobody inserted meanwhile."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskcontrol.core import deadlines
from riskcontrol.core.clock import ManualClock
from riskcontrol.core.db import insert_new
from riskcontrol.core.deadlines import Deadline


def row(ident: int, clock: ManualClock, subject_id: str) -> dict[str, object]:
    return {
        "id": ident,
        "kind": "test.fire",
        "subject_type": "test",
        "subject_id": subject_id,
        "due_at": clock.now() + timedelta(minutes=ident),
        "status": deadlines.PENDING,
        "payload": {},
        "created_at": clock.now(),
        "late": False,
        "attempts": 0,
    }


def test_rows_clashing_on_the_key_are_skipped_and_only_the_inserted_ones_are_returned(db: Session, clock: ManualClock) -> None:
    assert insert_new(db, Deadline, [row(1, clock, "first")], ["id"], Deadline.due_at) == [clock.now() + timedelta(minutes=1)]
    # Another worker got row 1 in first: the second run keeps it and adds only row 2.
    second = insert_new(db, Deadline, [row(1, clock, "again"), row(2, clock, "second")], ["id"], Deadline.due_at)
    assert second == [clock.now() + timedelta(minutes=2)]
    assert db.execute(select(Deadline.subject_id).order_by(Deadline.id)).scalars().all() == ["first", "second"]
    assert insert_new(db, Deadline, [], ["id"], Deadline.due_at) == []
