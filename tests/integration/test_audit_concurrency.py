"""Appends and seals from several threads at once still form one unbroken chain."""

from __future__ import annotations

import threading

from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.core import audit
from riskcontrol.core.clock import ManualClock
from riskcontrol.core.db import transaction


def test_two_writers_and_two_sealers_at_once_keep_one_chain(sessions: sessionmaker[Session], clock: ManualClock) -> None:
    start = threading.Barrier(4)
    writing = threading.Event()

    def writer(name: str) -> None:
        start.wait()
        for i in range(40):
            with transaction(sessions) as db:
                audit.record(db, clock, actor_user_id=None, actor=name, action="test.append", detail={"i": i})

    def sealer() -> None:
        start.wait()
        while not writing.is_set():
            audit.seal_all(sessions)

    writers = [threading.Thread(target=writer, args=(n,)) for n in ("desk-a", "desk-b")]
    sealers = [threading.Thread(target=sealer) for _ in range(2)]
    for t in writers + sealers:
        t.start()
    for t in writers:
        t.join()
    writing.set()
    for t in sealers:
        t.join()
    audit.seal_all(sessions)
    with sessions() as db:
        report = audit.verify_chain(db)
    assert report.ok, report.reason
    assert report.rows_checked == 80
