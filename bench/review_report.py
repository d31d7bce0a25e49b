"""Review report: the full review PDF of an incident with 500 timeline lines against WeasyPrint
rendering the bare timeline table alone (same rows, same CJK font).

A SQLite file in a temporary directory is migrated and seeded with the demo campus; the response
team opens a level Ⅱ missing-student incident, takes control, ticks the on-site tasks, and adds
notes until the timeline holds 500 lines. Then each path runs in its own Python process:
(a) `report.pdf`, end to end: the queries, the figures, the template and WeasyPrint;
(b) the bare timeline rows (read before the clock starts) in one table, rendered by WeasyPrint.
Each process renders a one-line warm-up page first (fonts loaded once per process), then the
path RUNS times; it reports the median time, the peak RSS of the process (`ru_maxrss`) and the
Python heap peak of one more run under tracemalloc. Target: full ≤ 1.5 × bare.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy import select

from riskcontrol.core import audit, migrations
from riskcontrol.core.clock import ManualClock
from riskcontrol.core.db import make_engine, make_sessionmaker, transaction
from riskcontrol.core.security import Principal
from riskcontrol.demo import seed_demo
from riskcontrol.grid.models import OrgUnit
from riskcontrol.incidents import board, moves, opening, reading, tasks
from riskcontrol.incidents.config import IncidentConfig
from riskcontrol.incidents.schemas import IncidentIn, TransitionIn
from riskcontrol.people.models import User
from riskcontrol.reviews import report
from riskcontrol.settings import PROJECT_ROOT

EVENTS = int(os.environ.get("BENCH_REPORT_EVENTS", "500"))
RUNS = int(os.environ.get("BENCH_REPORT_RUNS", "3"))
TARGET: Final = 1.5
TZ: Final = ZoneInfo("Asia/Shanghai")
START: Final = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)

AUDIT_KEY = b"bench-audit-key-" + b"b" * 40  # the reads and writes measured here are audited


def _team(db_url: str) -> Principal:
    sessions = audit.keyed(make_sessionmaker(make_engine(db_url)), AUDIT_KEY)
    with sessions() as db:
        user = db.execute(select(User).where(User.username == "response1")).scalar_one()
        school = db.execute(select(OrgUnit).where(OrgUnit.kind == "school")).scalar_one()
        return Principal(user.id, user.username, user.name, frozenset({"response_team"}), (school.path,))


def prepare(db_url: str) -> int:
    """The campus and one incident whose timeline holds EVENTS lines; returns its id."""
    migrations.upgrade(db_url)
    sessions = audit.keyed(make_sessionmaker(make_engine(db_url)), AUDIT_KEY)
    clock = ManualClock(START)
    cfg = IncidentConfig(sop_dir=PROJECT_ROOT / "sop", playbook_dir=PROJECT_ROOT / "playbooks", tz=TZ)
    with transaction(sessions) as db:
        seed_demo(db, clock)
    team = _team(db_url)
    with transaction(sessions) as db:
        unit = db.execute(select(OrgUnit).where(OrgUnit.code == "CS2301")).scalar_one()
        body = {"type": "missing_student", "level": "II", "title": "学生晚归未归、电话无法接通", "unit_id": unit.id}
        incident = opening.open_incident(db, clock, cfg, team, IncidentIn.model_validate(body))
        iid = incident.id
    with transaction(sessions) as db:
        clock.advance(timedelta(minutes=3))
        moves.transition(db, clock, cfg, team, iid, "take_control", TransitionIn(confirm=True))
    with transaction(sessions) as db:
        for task in reading.tasks(db, iid):
            clock.advance(timedelta(minutes=4))
            tasks.complete_task(db, clock, cfg, team, iid, task.id, "已完成，记录在案")
    with transaction(sessions) as db:
        incident = reading.get(db, team, iid)
        for n in range(incident.last_seq, EVENTS):
            clock.advance(timedelta(seconds=30))
            board.add_note(db, clock, cfg, team, iid, f"第 {n + 1} 条进展：继续查找东区宿舍、图书馆和操场，联系室友与家长。")
    with sessions() as db:
        assert len(reading.timeline(db, iid)) == EVENTS
    return iid


def _bare_page(rows: list[dict[str, object]]) -> str:
    body = "".join(
        f"<tr><td>{r['seq']}</td><td>{escape(str(r['at_text']))}</td><td>{escape(str(r['who']))}</td><td>{escape(str(r['text']))}</td></tr>"
        for r in rows
    )
    return (
        f"<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'><style>html {{ font-family: {report.FONT_FAMILY}; }}"
        " body { font-size: 9.5pt } table { width: 100%; border-collapse: collapse }"
        " td { border: 0.5pt solid #999; padding: 1mm 1.5mm }</style></head>"
        f"<body><table>{body}</table></body></html>"
    )


def measure(path: str, db_url: str, incident_id: int) -> dict[str, float]:
    """Run one path in this process: warm up, time RUNS renders, then one under tracemalloc."""
    from weasyprint import HTML

    team = _team(db_url)
    sessions = audit.keyed(make_sessionmaker(make_engine(db_url)), AUDIT_KEY)
    clock = ManualClock(START + timedelta(hours=6))
    HTML(string=f"<p style='font-family: {report.FONT_FAMILY}'>预热</p>").write_pdf()
    if path == "full":

        def render() -> bytes:
            with sessions() as db:
                return report.pdf(db, clock, team, incident_id, tz=TZ)
    else:
        with sessions() as db:
            rows = report.build(db, clock, team, incident_id, tz=TZ)["timeline"]
        page = _bare_page(rows)

        def render() -> bytes:
            data: bytes = HTML(string=page).write_pdf()
            return data

    times, size = _timed(render)
    tracemalloc.start()
    render()
    _current, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "rss_mb": rss_mb,
        "heap_mb": heap_peak / 2**20,
        "kb": size / 1024,
    }


def _timed(render: Callable[[], bytes]) -> tuple[list[float], int]:
    times, size = [], 0
    for _ in range(RUNS):
        began = time.perf_counter()
        size = len(render())
        times.append(time.perf_counter() - began)
    return times, size


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        iid = prepare(db_url)
        results = {}
        for path in ("full", "bare"):
            out = subprocess.run(
                [sys.executable, "-m", "bench.review_report", "--path", path, db_url, str(iid)],
                check=True,
                capture_output=True,
                text=True,
                cwd=PROJECT_ROOT,
            )
            results[path] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"review report, {EVENTS} timeline lines, {RUNS} runs per path (own process each)")
    print(f"{'path':<6} {'median s':>9} {'min s':>7} {'peak RSS MB':>12} {'heap peak MB':>13} {'PDF KB':>7}")
    for path, r in results.items():
        print(f"{path:<6} {r['median_s']:>9.2f} {r['min_s']:>7.2f} {r['rss_mb']:>12.0f} {r['heap_mb']:>13.1f} {r['kb']:>7.0f}")
    ratio = results["full"]["median_s"] / results["bare"]["median_s"]
    print(f"full / bare = {ratio:.2f} (target ≤ {TARGET}): {'met' if ratio <= TARGET else 'MISSED'}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--path":
        print(json.dumps(measure(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
    else:
        main()
