"""The prevention stage's ledger promise: a hazard walked from report to struck off (销号) through the API.

On the demo campus with a manual clock: the building's safety officer reports a gas cylinder left
unchained in a lab (likelihood 4 × impact 4 = 16, a major red hazard); the school safety office assigns
the five fixes to the college with a deadline of 5 December 18:00; the owner is reminded 3 days and 1
day before; at the deadline the owner, the college officer (the owner unit's head) and the school
safety office are told, and the hazard goes under named supervision (挂牌督办) with the leaders told;
closing without acceptance is refused; the late rectification is accepted on site by someone else and
the hazard is closed, with every change in its history.
"""

from __future__ import annotations

import base64
import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import openpyxl
from PIL import Image
from sqlalchemy import func, select

from riskcontrol.core.csvimport import ErrorCollector, read_rows
from riskcontrol.core.deadlines import Deadline
from riskcontrol.grid.models import OrgUnit
from riskcontrol.hazards.models import Hazard, HazardEvent
from riskcontrol.notify.models import Notification
from tests.integration.conftest import SHANGHAI, Night

DEADLINE = datetime(2026, 12, 5, 18, 0, tzinfo=SHANGHAI)


def at(night: Night, moment: datetime) -> None:
    night.clock.set(moment.astimezone(UTC))
    night.worker.run_once()


def unit_id(night: Night, code: str) -> int:
    with night.sessions() as db:
        return db.execute(select(OrgUnit.id).where(OrgUnit.code == code)).scalar_one()


def told(night: Night, hazard_id: int, kind: str) -> list[str]:
    """Usernames told of `kind` about the hazard, in order."""
    with night.sessions() as db:
        rows = db.execute(
            select(Notification.user_id).where(
                Notification.subject_type == "hazard", Notification.subject_id == str(hazard_id), Notification.kind == kind
            )
        ).scalars()
        ids = list(rows)
    return sorted(night_username(night, i) for i in ids)


def night_username(night: Night, user_id: int) -> str:
    from riskcontrol.people.models import User

    with night.sessions() as db:
        user = db.get(User, user_id)
        assert user is not None
        return user.username


def report(night: Night, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    body = {
        "title": "实验楼3层气瓶未固定",
        "category": "lab",
        "description": "乙炔气瓶未用链条固定，靠近通道。",
        "unit_id": unit_id(night, "CS"),
        "location": {"type": "Point", "coordinates": [116.3575, 40.0048]},
        "building": "第三实验楼",
        "floor": "3",
        **extra,
    }
    reply = night.client.post("/api/v1/hazards", headers=headers, json=body)
    assert reply.status_code == 201, reply.text
    out: dict[str, Any] = reply.json()
    return out


def test_a_red_hazard_walks_from_report_to_closed_with_its_deadlines(night: Night) -> None:
    safety = night.token("safety")
    hazard = report(night, night.token("safety"))
    hid = hazard["id"]
    assert hazard["state"] == "reported"
    assert hazard["legal_actions"] == ["assess", "dismiss"]

    assessed = night.client.post(f"/api/v1/hazards/{hid}/assess", headers=safety, json={"likelihood": 4, "impact": 4})
    assert assessed.status_code == 200, assessed.text
    assert (assessed.json()["state"], assessed.json()["level"], assessed.json()["score"]) == ("assessed", "red", 16)

    # Assigning needs all five fixes; a missing one is named.
    fixes = {
        "owner_unit_id": unit_id(night, "CS"),
        "owner_user_id": night.user("counselor_cs").id,
        "owner_department": "计算机学院实验中心",
        "measures": "加装气瓶固定链，张贴警示标识，清理通道",
        "deadline": DEADLINE.isoformat(),
        "funds": "学院实验室安全专项 2000 元",
        "contingency_plan": "气体泄漏时关阀、通风、疏散，拨打保卫处值班电话",
    }
    incomplete = night.client.post(
        f"/api/v1/hazards/{hid}/assign", headers=safety, json={k: v for k, v in fixes.items() if k != "funds"}
    )
    assert incomplete.status_code == 422
    assert incomplete.json()["field"] == "funds"
    assigned = night.client.post(f"/api/v1/hazards/{hid}/assign", headers=safety, json=fixes)
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["state"] == "assigned"
    assert told(night, hid, "hazard.assigned") == ["counselor_cs"]

    # Closing without acceptance is refused: acceptance is the only way to closed, and only from awaiting acceptance.
    early = night.client.post(f"/api/v1/hazards/{hid}/accept", headers=safety, json={"note": "看过了"})
    assert early.status_code == 409
    assert early.json()["state"] == "assigned"
    assert early.json()["legal"] == ["assign", "start", "submit"]

    owner = night.token("counselor_cs")
    assert night.client.post(f"/api/v1/hazards/{hid}/start", headers=owner).json()["state"] == "rectifying"

    # Reminders for a red hazard: 7, 3 and 1 day before; the 7-day one was already past when it was assigned.
    at(night, DEADLINE - timedelta(days=3, minutes=1))
    assert told(night, hid, "hazard.reminder") == []
    at(night, DEADLINE - timedelta(days=3))
    assert told(night, hid, "hazard.reminder") == ["counselor_cs"]
    at(night, DEADLINE - timedelta(days=1))
    assert told(night, hid, "hazard.reminder") == ["counselor_cs", "counselor_cs"]

    # At the deadline, not a minute before: overdue, escalated to the owner's head and the safety office.
    at(night, DEADLINE - timedelta(minutes=1))
    assert told(night, hid, "hazard.overdue") == []
    assert night.client.get(f"/api/v1/hazards/{hid}", headers=night.token("safety")).json()["overdue"] is False
    at(night, DEADLINE)
    assert told(night, hid, "hazard.overdue") == ["counselor_cs", "officer_cs", "safety"]
    assert told(night, hid, "hazard.supervised") == ["leader", "leader2"]
    now = night.client.get(f"/api/v1/hazards/{hid}", headers=night.token("safety")).json()
    assert (now["overdue"], now["supervised"]) == (True, True)
    overdue_list = night.client.get("/api/v1/hazards?overdue=true", headers=night.token("safety")).json()
    assert hid in [h["id"] for h in overdue_list]
    assert all(h["overdue"] for h in overdue_list)
    # Fired once: another worker round tells nobody again.
    at(night, DEADLINE + timedelta(minutes=5))
    assert len(told(night, hid, "hazard.overdue")) == 3

    # Late rectification; the rectifier cannot accept their own work, and acceptance is due 10 days on.
    submitted_at = DEADLINE + timedelta(hours=16)
    at(night, submitted_at)
    owner, safety = night.token("counselor_cs"), night.token("safety")
    done = night.client.post(f"/api/v1/hazards/{hid}/submit", headers=owner, json={"rectification": "已加装固定链并清理通道"})
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "awaiting_acceptance"
    assert datetime.fromisoformat(done.json()["acceptance_due_at"]) == submitted_at + timedelta(days=10)
    assert night.client.post(f"/api/v1/hazards/{hid}/accept", headers=owner, json={"note": "ok"}).status_code == 403

    at(night, submitted_at + timedelta(days=2))
    safety = night.token("safety")
    accepted = night.client.post(f"/api/v1/hazards/{hid}/accept", headers=safety, json={"note": "现场验收合格，同意销号"})
    assert accepted.status_code == 200, accepted.text
    closed = accepted.json()
    assert (closed["state"], closed["overdue"], closed["legal_actions"]) == ("closed", False, ["reopen"])

    history = night.client.get(f"/api/v1/hazards/{hid}/history", headers=safety).json()
    kinds = [e["kind"] for e in history]
    assert kinds == [
        "reported",
        "assessed",
        "assigned",
        "started",
        "reminded",
        "reminded",
        "overdue",
        "supervised",
        "submitted",
        "accepted",
        "closed",
    ]
    assert [e["seq"] for e in history] == list(range(1, len(history) + 1))
    assert history[-3]["data"]["late"] is True
    with night.sessions() as db:
        pending = db.execute(
            select(func.count()).where(
                Deadline.subject_type == "hazard", Deadline.subject_id == str(hid), Deadline.status == "pending"
            )
        ).scalar_one()
    assert pending == 0


def test_acceptance_not_made_in_time_is_reported(night: Night) -> None:
    safety = night.token("safety")
    hid = report(night, safety, likelihood=2, impact=3)["id"]
    deadline = datetime(2026, 12, 1, 12, 0, tzinfo=SHANGHAI)
    fixes = {
        "owner_unit_id": unit_id(night, "CS"),
        "owner_user_id": night.user("counselor_cs").id,
        "measures": "更换灭火器",
        "deadline": deadline.isoformat(),
        "funds": "学院经费",
        "contingency_plan": "按实验室应急预案处置",
    }
    assert night.client.post(f"/api/v1/hazards/{hid}/assign", headers=safety, json=fixes).status_code == 200
    reply = night.client.post(
        f"/api/v1/hazards/{hid}/submit", headers=night.token("counselor_cs"), json={"rectification": "已更换"}
    )
    assert reply.status_code == 200
    # Submitted early: acceptance is due 10 days after the deadline; reminders and the overdue check are off.
    assert datetime.fromisoformat(reply.json()["acceptance_due_at"]) == deadline + timedelta(days=10)
    at(night, deadline + timedelta(days=1))
    assert told(night, hid, "hazard.overdue") == []
    at(night, deadline + timedelta(days=10, minutes=-1))
    assert told(night, hid, "hazard.acceptance_overdue") == []
    at(night, deadline + timedelta(days=10))
    assert told(night, hid, "hazard.acceptance_overdue") == ["officer_cs", "safety"]


def test_scope_and_bad_input(night: Night) -> None:
    safety = night.token("safety")
    hid = report(night, safety)["id"]
    # A college officer of another college does not see it (404, as if it did not exist).
    me = night.token("officer_me")
    assert night.client.get(f"/api/v1/hazards/{hid}", headers=me).status_code == 404
    assert night.client.get("/api/v1/hazards", headers=me).json() == []
    # Only the safety office keeps the ledger.
    assert (
        night.client.post(
            f"/api/v1/hazards/{hid}/assess", headers=night.token("officer_cs"), json={"likelihood": 1, "impact": 1}
        ).status_code
        == 403
    )
    bad: list[tuple[dict[str, Any], str | None]] = [
        ({"category": "volcano"}, "category"),
        ({"location": {"type": "Point", "coordinates": [200, 40]}}, "location.coordinates"),
        (
            {
                "location": {
                    "type": "Polygon",
                    "coordinates": [[[116.35, 40.0], [116.36, 40.01], [116.35, 40.01], [116.36, 40.0]]],
                }
            },
            "location.coordinates",
        ),
        ({"likelihood": 3}, "impact"),
        ({"unit_id": unit_id(night, "ME")}, None),
    ]
    with night.sessions() as db:
        before = db.execute(select(func.count()).select_from(Hazard)).scalar_one()
    for change, field in bad:
        reply = night.client.post(
            "/api/v1/hazards",
            headers=night.token("officer_cs"),
            json={"title": "x", "category": "fire", "unit_id": unit_id(night, "CS"), **change},
        )
        assert 400 <= reply.status_code < 500, (change, reply.text)
        if field is not None:
            assert reply.json()["field"] == field, reply.text
    with night.sessions() as db:
        assert db.execute(select(func.count()).select_from(Hazard)).scalar_one() == before
    # Moving it on the map is recorded in the history.
    moved = night.client.patch(
        f"/api/v1/hazards/{hid}", headers=safety, json={"location": {"type": "Point", "coordinates": [116.358, 40.005]}}
    )
    assert moved.status_code == 200
    assert (moved.json()["lon"], moved.json()["lat"]) == (116.358, 40.005)
    assert night.client.get(f"/api/v1/hazards/{hid}/history", headers=safety).json()[-1]["kind"] == "edited"

    # An incident can start from a hazard on the ledger; the reference is checked against the caller's scope.
    incident = {"type": "lab_accident", "level": "IV", "title": "气瓶倾倒", "unit_id": unit_id(night, "CS"), "source": "hazard"}
    team = night.token("response1")
    opened = night.client.post("/api/v1/incidents", headers=team, json=incident | {"source_id": str(hid)})
    assert opened.status_code == 201, opened.text
    assert (opened.json()["source"], opened.json()["source_id"]) == ("hazard", str(hid))
    unknown = night.client.post("/api/v1/incidents", headers=team, json=incident | {"source_id": "999999"})
    assert (unknown.status_code, unknown.json()["field"]) == (422, "source_id")


LEDGER_HEADER = (
    "title,category,unit,building,floor,lon,lat,likelihood,impact,"
    "owner_unit,owner_user,measures,deadline,funds,contingency_plan\n"
)


def row(*cells: str) -> str:
    """One CSV line of the ledger's 15 columns, the missing ones empty."""
    return ",".join([*cells, *[""] * (15 - len(cells))]) + "\n"


def test_a_ledger_with_one_bad_row_changes_nothing_and_names_the_row(night: Night) -> None:
    safety = night.token("safety") | {"Content-Type": "text/csv"}
    good = row(
        "东1楼走廊堆放杂物",
        "fire",
        "E1",
        "东1楼",
        "2",
        "116.3561",
        "40.0031",
        "3",
        "3",
        "E1",
        "safety_e1",
        "清理杂物",
        "2026-12-10",
        "后勤维修费",
        "按宿舍消防预案",
    ) + row("食堂燃气报警器失灵", "food", "HDU", "一食堂", "1", "116.3590", "40.0040", "4", "5")
    bad_row = row("西2楼插线板私拉", "electrical", "NOPE", "西2楼", "3", "116.3540", "40.0030", "3", "2")
    partial = row(
        "体育馆看台栏杆松动", "building", "HDU", "体育馆", "", "116.3600", "40.0050", "2", "4", "HDU", "", "加固", "2026-12-20"
    )
    body = (LEDGER_HEADER + good + bad_row + partial).encode()
    with night.sessions() as db:
        hazards_before = db.execute(select(func.count()).select_from(Hazard)).scalar_one()
        events_before = db.execute(select(func.count()).select_from(HazardEvent)).scalar_one()
    reply = night.client.post("/api/v1/hazards/import", headers=safety, content=body)
    assert reply.status_code == 422, reply.text
    errors = reply.json()["errors"]
    assert {(e["line"], e["column"]) for e in errors} == {(4, "unit"), (5, "owner_user")}
    with night.sessions() as db:
        assert db.execute(select(func.count()).select_from(Hazard)).scalar_one() == hazards_before
        assert db.execute(select(func.count()).select_from(HazardEvent)).scalar_one() == events_before

    ok = night.client.post("/api/v1/hazards/import", headers=safety, content=(LEDGER_HEADER + good).encode())
    assert ok.status_code == 200, ok.text
    assert ok.json()["created"] == 2
    rows = night.client.get("/api/v1/hazards", headers=night.token("safety")).json()
    states = sorted((h["title"], h["state"], h["level"]) for h in rows if h["origin"] == "import")
    assert states == [("东1楼走廊堆放杂物", "assigned", "yellow"), ("食堂燃气报警器失灵", "assessed", "red")]

    # The Excel export imports again as it stands.
    exported = night.client.get("/api/v1/hazards/export?format=xlsx", headers=night.token("safety"))
    assert exported.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(exported.content)).active
    assert sheet is not None
    assert [c.value for c in sheet[1]][:5] == ["id", "state", "level", "overdue", "supervised"]
    again = night.client.post(
        "/api/v1/hazards/import",
        headers=night.token("safety") | {"Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
        content=exported.content,
    )
    assert again.status_code == 200, again.text
    assert again.json()["created"] == hazards_before + 2


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (2, 2), (200, 30, 30, 255)).save(out, "PNG")
    return out.getvalue()


PNG = _png()


def pixels(data: bytes) -> tuple[str, tuple[int, int], list[tuple[int, ...]]]:
    """What an image shows, whatever bytes encode it (photos are stored re-encoded)."""
    with Image.open(io.BytesIO(data)) as image:
        flat: list[tuple[int, ...]] = [tuple(p) for p in image.convert("RGBA").get_flattened_data()]  # type: ignore[arg-type]
        return image.format or "", image.size, flat


def test_rejected_acceptance_reopening_dismissal_and_photos(night: Night) -> None:
    safety = night.token("safety")
    hid = report(night, safety, likelihood=3, impact=4)["id"]  # 12: orange
    deadline = datetime(2026, 12, 2, 18, 0, tzinfo=SHANGHAI)
    fixes = {
        "owner_unit_id": unit_id(night, "CS"),
        "owner_user_id": night.user("counselor_cs").id,
        "measures": "加装固定链",
        "deadline": deadline.isoformat(),
        "funds": "学院经费",
        "contingency_plan": "泄漏时关阀疏散",
    }
    assert night.client.post(f"/api/v1/hazards/{hid}/assign", headers=safety, json=fixes).status_code == 200
    owner = night.token("counselor_cs")
    assert night.client.post(f"/api/v1/hazards/{hid}/submit", headers=owner, json={"rectification": "已整改"}).status_code == 200
    # Failed on site: back to rectification, and the deadline's checks are timed again.
    rejected = night.client.post(f"/api/v1/hazards/{hid}/reject", headers=safety, json={"reason": "固定链未上锁"})
    assert rejected.json()["state"] == "rectifying"
    assert rejected.json()["acceptance_due_at"] is None
    at(night, deadline)
    assert told(night, hid, "hazard.overdue") == ["counselor_cs", "officer_cs", "safety"]
    assert told(night, hid, "hazard.supervised") == []  # orange: no named supervision
    owner, safety = night.token("counselor_cs"), night.token("safety")
    assert night.client.post(f"/api/v1/hazards/{hid}/submit", headers=owner, json={"rectification": "已上锁"}).status_code == 200
    assert night.client.post(f"/api/v1/hazards/{hid}/accept", headers=safety, json={"note": "合格"}).json()["state"] == "closed"
    # It came back: reopened with a reason and a new deadline in the future (a past one is refused).
    past = night.client.post(
        f"/api/v1/hazards/{hid}/reopen", headers=safety, json={"reason": "链条被剪断", "deadline": deadline.isoformat()}
    )
    assert (past.status_code, past.json()["field"]) == (422, "deadline")
    again = night.client.post(
        f"/api/v1/hazards/{hid}/reopen",
        headers=safety,
        json={"reason": "链条被剪断", "deadline": (deadline + timedelta(days=14)).isoformat()},
    )
    assert (again.json()["state"], again.json()["overdue"], again.json()["closed_at"]) == ("rectifying", False, None)

    # A report that is no hazard is dismissed with its reason; dismissed is not closed and cannot be reopened.
    other = report(night, safety, title="误报：灭火器位置正常")["id"]
    dismissed = night.client.post(f"/api/v1/hazards/{other}/dismiss", headers=safety, json={"reason": "现场核实无隐患"})
    assert (dismissed.json()["state"], dismissed.json()["legal_actions"]) == ("dismissed", [])
    assert (
        night.client.post(
            f"/api/v1/hazards/{other}/reopen", headers=safety, json={"reason": "x", "deadline": "2027-01-01T00:00:00+08:00"}
        ).status_code
        == 409
    )

    # Photos: a real image is kept and served back; anything else is refused, naming the field.
    added = night.client.post(
        f"/api/v1/hazards/{hid}/photos", headers=safety, json={"data_base64": base64.b64encode(PNG).decode(), "caption": "现场"}
    )
    assert added.status_code == 201, added.text
    assert added.json()["photos"] == [
        {"n": 1, "type": "image/png", "caption": "现场", "by": night.user("safety").id, "at": added.json()["photos"][0]["at"]}
    ]
    served = night.client.get(f"/api/v1/hazards/{hid}/photos/1", headers=safety)
    assert (served.status_code, served.headers["content-type"]) == (200, "image/png")
    assert pixels(served.content) == pixels(PNG)
    assert served.headers["x-content-type-options"] == "nosniff"  # served as an image, never sniffed as a page
    assert night.client.get("/api/v1/hazards", headers=safety).headers["x-content-type-options"] == "nosniff"
    bad = night.client.post(
        f"/api/v1/hazards/{hid}/photos", headers=safety, json={"data_base64": base64.b64encode(b"%PDF-1.4 not a photo").decode()}
    )
    assert (bad.status_code, bad.json()["field"]) == (422, "data_base64")
    assert night.client.get(f"/api/v1/hazards/{hid}/photos/2", headers=safety).status_code == 404


def test_exported_cells_never_run_as_formulas_and_import_back_as_written(night: Night) -> None:
    title, description = '=HYPERLINK("http://evil.example","open")', "+cmd|' /C calc'!A0"
    report(night, night.token("safety"), title=title, description=description, floor="-1")
    safety = night.token("safety")
    exported = night.client.get("/api/v1/hazards/export?format=xlsx", headers=safety)
    assert exported.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(exported.content)).active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    row = next(r for r in sheet.iter_rows(min_row=2) if r[header.index("title")].value == title)
    assert {c.data_type for c in row} <= {"s", "inlineStr"}  # text, never "f" (a formula)
    assert (row[header.index("description")].value, row[header.index("floor")].value) == (description, "-1")

    csv_text = night.client.get("/api/v1/hazards/export?format=csv", headers=safety).content.decode("utf-8-sig")
    line = next(r for r in csv.reader(io.StringIO(csv_text)) if "HYPERLINK" in ",".join(r))
    cells = dict(zip(next(csv.reader(io.StringIO(csv_text))), line, strict=True))
    assert (cells["title"], cells["description"], cells["floor"]) == ("'" + title, "'" + description, "'-1")
    # What is read back is what was written.
    rows = list(csv.reader(io.StringIO(csv_text)))
    errors = ErrorCollector()
    read = read_rows(csv_text.encode(), required=["title"], optional=["description", "floor"], errors=errors)
    assert not errors
    assert any((r["title"], r.cells["description"], r.cells["floor"]) == (title, description, "-1") for r in read)
    assert len(rows) == len(read) + 1
