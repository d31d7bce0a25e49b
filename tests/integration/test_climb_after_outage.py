"""The climb keeps its schedule through outages: a red report at 22:00 reaches the school by 22:10 on
paper, and after the worker was down the steps already due are told at once, in order, each marked
late by how much; reminders of passed steps are dropped, never sent; nothing is told twice.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.core import deadlines
from riskcontrol.core.db import INSERT_PAGE_ROWS, Base
from riskcontrol.core.deadlines import DROPPED as DROPPED_DEADLINE
from riskcontrol.core.deadlines import Deadline, SweepPolicy
from riskcontrol.core.outbox import DROPPED, OutboxMessage
from riskcontrol.incidents.models import Incident
from riskcontrol.notify.models import Notification
from tests.integration.conftest import SHANGHAI, TEN_PM, Night, a_night, file_observation, file_red_observation


def local(iso: str | None) -> str:
    assert iso is not None
    return datetime.fromisoformat(iso).astimezone(SHANGHAI).strftime("%H:%M:%S")


def detail_of(night: Night, escalation_id: int) -> dict[str, Any]:
    reply = night.client.get(f"/api/v1/escalations/{escalation_id}", headers=night.token("admin"))
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def reminder_texts(night: Night) -> list[str]:
    return [m["To"] for m in night.twilio.messages if m["Body"].startswith("【提醒】")]


def at_seconds(night: Night, hh_mm_ss: str) -> None:
    """Move the clock to hh:mm:ss tonight and let the worker do one round."""
    hours, minutes, seconds = (int(x) for x in hh_mm_ss.split(":"))
    night.clock.set(TEN_PM + timedelta(hours=hours - 22, minutes=minutes, seconds=seconds))
    night.worker.run_once()


def test_the_worker_down_from_22_00_05_to_22_12_tells_college_and_school_at_once_marked_late(night: Night) -> None:
    filed = file_red_observation(night)
    night.at("22:00")  # the class is told at once
    texts_before = len(night.twilio.messages)
    # The worker is killed at 22:00:05 and comes back at 22:12: one round, at 22:12.
    at_seconds(night, "22:12:00")

    detail = detail_of(night, filed["escalation_id"])
    steps = [
        (s["step"], s["grid_level"], local(s["scheduled_at"]), local(s["told_at"]), s["late_seconds"]) for s in detail["steps"]
    ]
    assert steps == [
        (0, "class", "22:00:00", "22:00:00", 0),
        (1, "college", "22:05:00", "22:12:00", 7 * 60),
        (2, "school", "22:10:00", "22:12:00", 2 * 60),
    ]
    # The school's window counts from its schedule: it must acknowledge by 22:15, not 22:17.
    assert local(detail["step_due_at"]) == "22:15:00"
    assert detail["current_step"] == 2
    assert detail["step_late_seconds"] == 120
    # The inbox lists it with the lateness; the board shows it on the incident the report opened.
    mine = night.client.get("/api/v1/escalations?mine=true", headers=night.token("affairs")).json()
    assert [(e["id"], e["step_late_seconds"]) for e in mine] == [(filed["escalation_id"], 120)]
    board = night.client.get("/api/v1/board", headers=night.token("response1")).json()
    with night.sessions() as db:
        from_report = db.execute(
            select(Incident.id).where(Incident.source == "escalation", Incident.source_id == str(filed["escalation_id"]))
        ).scalar_one()
    opened = [i for i in board["incidents"] if i["id"] == from_report]
    assert [i["warning_late_seconds"] for i in opened] == [120]
    kinds = [(e["kind"], e["step"]) for e in detail["timeline"]]
    assert kinds.index(("step", 1)) < kinds.index(("step", 2))
    # The class reminder that fell due at 22:02, during the outage, is recorded as dropped, not sent.
    with night.sessions() as db:
        reminders = db.execute(
            select(Deadline.status, Deadline.payload).where(
                Deadline.kind == "escalation.repeat", Deadline.subject_id == str(filed["escalation_id"])
            )
        ).all()
    assert [(status, payload["step"]) for status, payload in reminders] == [(DROPPED_DEADLINE, 0), ("pending", 2)]
    assert reminder_texts(night) == []
    # Each person at the college and the school got exactly one text about the escalation, sent in this
    # very round (texts about the incident it opened, whose dispatch task fell due meanwhile, link its page).
    sent_now = Counter(m["To"] for m in night.twilio.messages[texts_before:] if "/incidents/" not in m["Body"])
    assert sent_now
    assert set(sent_now.values()) == {1}

    # From here the climb runs on its schedule again: one reminder to the school at 22:14, and at
    # 22:15 the top is told again with a new window; no step is ever told twice in one go.
    school_by_sms = {
        e["user_id"] for e in detail["timeline"] if e["kind"] == "notified" and e["step"] == 2 and e["channel"] == "sms"
    }
    at_seconds(night, "22:14:00")
    assert len(reminder_texts(night)) == len(school_by_sms) > 0
    at_seconds(night, "22:15:00")
    detail = detail_of(night, filed["escalation_id"])
    told = Counter((s["step"], s["told_at"]) for s in detail["steps"])
    assert set(told.values()) == {1}
    assert [s["step"] for s in detail["steps"]] == [0, 1, 2, 2]
    assert local(detail["step_due_at"]) == "22:20:00"


def test_with_no_worker_for_a_whole_climb_the_first_sweep_tells_every_level_once(night: Night) -> None:
    filed = file_red_observation(night)
    # Nothing sweeps until 22:16: the whole climb (class 22:00, college 22:05, school 22:10) was missed.
    at_seconds(night, "22:16:00")
    detail = detail_of(night, filed["escalation_id"])
    steps = [(s["step"], local(s["scheduled_at"]), local(s["told_at"]), s["late_seconds"]) for s in detail["steps"]]
    assert steps == [
        (0, "22:00:00", "22:16:00", 16 * 60),  # the first step itself shows as late
        (1, "22:05:00", "22:16:00", 11 * 60),
        (2, "22:10:00", "22:16:00", 6 * 60),
    ]
    # The top's scheduled window (to 22:15) is over already: it gets a whole window from now instead of
    # being told a second time in the same second.
    assert local(detail["step_due_at"]) == "22:21:00"
    assert reminder_texts(night) == []
    told = Counter((e["user_id"], e["step"], e["channel"]) for e in detail["timeline"] if e["kind"] == "notified")
    assert told
    assert set(told.values()) == {1}


def test_texts_queued_while_the_provider_is_down_are_dropped_once_the_escalation_is_acknowledged(night: Night) -> None:
    night.twilio.mode = "error_500"
    filed = file_red_observation(night)
    night.at("22:00")
    night.at("22:02")  # the class reminder is queued too, and fails like the rest
    assert night.twilio.messages == []
    officer = night.token("counselor_cs")
    assert night.client.post(f"/api/v1/escalations/{filed['escalation_id']}/ack", headers=officer).status_code == 200
    night.twilio.mode = "queued"
    night.at("22:20")  # the provider is back and every retry falls due
    # (The incident opened at 22:00 pages its responders now; none of the escalation's texts goes.)
    with night.sessions() as db:
        items = {
            n.id: n.kind
            for n in db.execute(
                select(Notification).where(
                    Notification.subject_type == "escalation", Notification.subject_id == str(filed["escalation_id"])
                )
            ).scalars()
        }
        texts = db.execute(
            select(OutboxMessage).where(OutboxMessage.channel == "sms", OutboxMessage.subject_id.in_([str(i) for i in items]))
        ).scalars()
        states = Counter((items[int(m.subject_id or 0)], m.status, m.last_error) for m in texts)
    assert {status for _, status, _ in states} == {DROPPED}
    assert {reason for _, _, reason in states} <= {"escalation acknowledged", "its step has passed"}
    assert ("escalation", DROPPED, "escalation acknowledged") in states


def test_with_no_dedicated_worker_the_web_process_itself_tells_the_first_step(
    sessions: sessionmaker[Session], database_url: str, tmp_path: Path
) -> None:
    with a_night(sessions, database_url, tmp_path, run_worker_in_process=True, worker_interval=timedelta(milliseconds=50)) as web:
        filed = file_red_observation(web)
        # Nobody drives a worker here: the serving process's own loop sweeps and sends.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (steps := detail_of(web, filed["escalation_id"])["steps"]):
            time.sleep(0.05)
        assert [(s["step"], s["late_seconds"]) for s in steps] == [(0, 0)]
        while time.monotonic() < deadline and not web.twilio.messages:
            time.sleep(0.05)
        assert web.twilio.messages  # the class was texted too


def test_first_steps_are_told_in_batches_whose_statements_do_not_grow_with_the_number_of_reports(
    night: Night, database_url: str
) -> None:
    ctx = night.app.state.ctx
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    def rows_by_table() -> Counter[str]:
        with night.sessions() as db:
            return Counter(
                {t.name: db.execute(select(func.count()).select_from(t)).scalar_one() for t in Base.metadata.sorted_tables}
            )

    def first_round_after(filings: int, start: int) -> tuple[int, Counter[str], Counter[str]]:
        for n in range(filings):
            file_observation(night, ("suicide_plan",), client_id=f"phone-batch-{start + n}")
        before = rows_by_table()
        statements.clear()
        event.listen(ctx.engine, "before_cursor_execute", count)
        try:
            # One round: the begin rows of every report just filed, told together.
            result = deadlines.sweep(
                ctx.sessions, night.clock, ctx.deadline_handlers, worker="t", policy=SweepPolicy(max_rounds=1)
            )
        finally:
            event.remove(ctx.engine, "before_cursor_execute", count)
        assert result.fired == filings
        added = rows_by_table() - before
        deadlines.sweep(ctx.sessions, night.clock, ctx.deadline_handlers, worker="t")  # what follows (incidents)
        reads = [s for s in statements if not s.lstrip().upper().startswith("INSERT")]
        inserts = Counter(m.group(1) for s in statements if (m := re.match(r"\s*INSERT INTO (\w+)", s, re.IGNORECASE)))
        return len(reads), inserts, added

    few, many = first_round_after(2, 0), first_round_after(8, 100)
    assert many[0] == few[0]  # reads and updates are per batch everywhere
    if database_url.startswith("postgresql"):
        # PostgreSQL also inserts each table's rows together, INSERT_PAGE_ROWS rows per statement
        # (SQLAlchemy's insertmanyvalues), where SQLite's driver goes row by row: four times the
        # reports cost at most one more statement per page of rows, never one per row.
        (_, few_inserts, _), (_, many_inserts, added) = few, many
        assert set(many_inserts) == set(few_inserts)
        for table, statements_then in few_inserts.items():
            assert statements_then <= many_inserts[table] <= statements_then + added[table] / INSERT_PAGE_ROWS, table
        assert max(added.values()) > INSERT_PAGE_ROWS  # some table took more than one page
    with night.sessions() as db:
        told = db.execute(select(Notification.id).where(Notification.subject_type == "escalation")).all()
    assert len(told) == 10 * 2  # each report told the counsellor and the class monitor
