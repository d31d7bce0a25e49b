"""随手拍 · 隐患上报 on the demo campus at 22:00: a dorm head reports a blocked exit from her phone.

The dorm head of E1-101 sees the fire exit by the east stairs of East Block 1 blocked with bicycles. She opens
随手拍, writes one line, picks 消防 and East Block 1, says 3F, takes a photo and sends it: the hazard is on the
ledger as reported by her, under her room, drawn at East Block 1, with the photo, and the school's safety
officer is told in the app. She finds it, numbered, under 我上报的隐患; her class monitor's list does not
show it. A form with a file that is not a photo, with no title, with a forged token, or from nobody signed
in saves nothing; a refused form comes back with what she typed.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from riskcontrol.core.audit import AuditLog
from riskcontrol.grid.models import OrgUnit
from riskcontrol.hazards.models import Hazard, HazardEvent
from riskcontrol.hazards.service import HazardConfig
from riskcontrol.notify.models import Notification
from riskcontrol.people.models import User
from tests.integration.conftest import TEN_PM, Night
from tests.integration.test_inspections import PLACES, hidden, phone

TITLE = "东侧楼梯安全出口被自行车堵住"
PAGE = "/hazards/report"


def picture(kind: str = "PNG", size: tuple[int, int] = (8, 8)) -> bytes:
    """A small real photo (a red square), as a phone's camera would hand it over."""
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, kind)
    return out.getvalue()


def form(client: TestClient, **changes: str) -> dict[str, str]:
    """The report form as the dorm head fills it in, with the page's own token, time and unit."""
    page = client.get(PAGE)
    assert page.status_code == 200, page.text
    found_at = re.search(r'name="found_at" type="datetime-local" value="([^"]*)"', page.text)
    assert found_at is not None
    filled = {
        "csrf": hidden(page.text, "csrf"),
        "title": TITLE,
        "category": "fire",
        "place": "E1",
        "where": "东侧楼梯口",
        "floor": "3F",
        "description": "约十辆自行车堆在安全出口门前，门只能推开一半。",
        "found_at": found_at.group(1),
    }
    unit = re.search(r'name="unit_id" value="([^"]*)"', page.text)
    if unit is not None:
        filled["unit_id"] = unit.group(1)
    return filled | changes


def send(client: TestClient, data: dict[str, str], *photos: tuple[str, bytes, str], lang: str = "") -> Any:
    files = [("photos", photo) for photo in photos]
    return client.post(PAGE + lang, data=data, files=files, follow_redirects=False)


def png(name: str = "exit.png") -> tuple[str, bytes, str]:
    return (name, picture(), "image/png")


def cfg(night: Night) -> HazardConfig:
    hazards: HazardConfig = night.app.state.ctx.extras["hazards"]
    return hazards


def photo_files(night: Night) -> list[Path]:
    folder = cfg(night).photo_dir
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def counts(night: Night) -> tuple[int, int, int]:
    """Hazards on the ledger, their history lines, and the word of new reports sent to anyone."""
    with night.sessions() as db:
        return (
            db.execute(select(func.count()).select_from(Hazard)).scalar_one(),
            db.execute(select(func.count()).select_from(HazardEvent)).scalar_one(),
            db.execute(select(func.count()).select_from(Notification).where(Notification.kind == "hazard.reported")).scalar_one(),
        )


def reported_id(reply: Any) -> int:
    assert reply.status_code == 303, reply.text
    found = re.fullmatch(r"/hazards/mine\?reported=(\d+)", reply.headers["location"])
    assert found is not None, reply.headers["location"]
    return int(found.group(1))


# --- reporting ---------------------------------------------------------------------------------


def test_the_dorm_head_reports_a_blocked_exit_with_a_photo_and_the_safety_office_is_told(night: Night) -> None:
    her = phone(night, "dorm_e1_101")
    page = her.get(PAGE).text
    assert "随手拍 · 隐患上报" in page
    assert 'accept="image/*" capture="environment" multiple' in page
    assert '<option value="fire">消防</option>' in page
    assert '<option value="E1">东区1号楼</option>' in page
    assert "东1-101" in page  # her room is the reporting unit, not a choice
    assert 'id="hr-unit"' not in page
    photo = picture()

    hazard_id = reported_id(send(her, form(her), ("exit.png", photo, "image/png")))

    dorm_head, safety = night.user("dorm_e1_101"), night.user("safety")
    with night.sessions() as db:
        hazard = db.get(Hazard, hazard_id)
        assert hazard is not None
        room = db.execute(select(OrgUnit).where(OrgUnit.code == "E1-101")).scalar_one()
        assert (hazard.title, hazard.category, hazard.origin, hazard.state) == (TITLE, "fire", "report", "reported")
        assert (hazard.found_by, hazard.unit_id, hazard.found_at) == (dorm_head.id, room.id, TEN_PM)
        assert (hazard.place, hazard.building, hazard.floor) == ("E1", "东区1号楼 · 东侧楼梯口", "3F")
        assert (hazard.lon, hazard.lat) == (PLACES.by_code["E1"].lon, PLACES.by_code["E1"].lat)
        assert hazard.geometry == {"type": "Point", "coordinates": [PLACES.by_code["E1"].lon, PLACES.by_code["E1"].lat]}
        assert [(p["n"], p["type"], p["by"]) for p in hazard.photos] == [(1, "image/png", dorm_head.id)]
        with Image.open(Path(hazard.photos[0]["file"])) as stored:
            shown = (stored.format, stored.size, list(stored.get_flattened_data()))
        assert shown == ("PNG", (8, 8), [(200, 30, 30)] * 64)
        history = db.execute(select(HazardEvent.kind).where(HazardEvent.hazard_id == hazard_id).order_by(HazardEvent.seq))
        assert list(history.scalars()) == ["reported", "photo_added"]
        told = db.execute(select(Notification).where(Notification.kind == "hazard.reported")).scalars().all()
        assert [(n.user_id, n.subject_type, n.subject_id) for n in told] == [(safety.id, "hazard", str(hazard_id))]
        assert TITLE in told[0].title_zh
        assert "东区1号楼 · 东侧楼梯口 3F" in told[0].body_zh
        reports = select(AuditLog.actor).where(AuditLog.action == "hazard.report").order_by(AuditLog.id)
        assert db.execute(reports).scalars().all()[-1] == "dorm_e1_101"

    mine = her.get(f"/hazards/mine?reported={hazard_id}")
    assert mine.status_code == 200
    assert f"已上报，编号 #{hazard_id}" in mine.text
    item = re.search(rf'<li class="pv-round hr-item hr-state-reported" id="hazard-{hazard_id}">(.*?)</li>', mine.text, re.S)
    assert item is not None
    assert all(words in item.group(1) for words in (TITLE, "待评估", "东区1号楼 · 东侧楼梯口 · 3F", "22:00"))

    monitor = phone(night, "monitor_cs2301")  # a student whose class holds her room: her report is not his
    theirs = monitor.get(f"/hazards/mine?reported={hazard_id}").text
    assert TITLE not in theirs
    assert "已上报" not in theirs
    assert "你还没有上报过隐患" in theirs


def test_a_counsellor_of_two_classes_picks_the_unit_and_may_say_where_in_his_own_words(night: Night) -> None:
    counsellor = phone(night, "counselor_cs")
    page = counsellor.get(PAGE).text
    options = re.findall(r'<option value="(\d+)"[^>]*>([^<]*· 班级)</option>', page)
    assert len(options) == 2, options
    second = options[1][0]
    data = form(counsellor, place="", where="北门外共享单车停放区", floor="", category="traffic", unit_id=second)

    hazard_id = reported_id(send(counsellor, data, png("a.png"), ("b.jpg", picture("JPEG"), "image/jpeg")))

    with night.sessions() as db:
        hazard = db.get(Hazard, hazard_id)
        assert hazard is not None
        assert (hazard.unit_id, hazard.place, hazard.building, hazard.lon, hazard.geometry) == (
            int(second),
            "",
            "北门外共享单车停放区",
            None,
            None,
        )
        assert [p["type"] for p in hazard.photos] == ["image/png", "image/jpeg"]


# --- refusals ----------------------------------------------------------------------------------


def test_a_file_that_is_not_a_photo_is_refused_naming_it_with_every_value_kept_and_nothing_saved(night: Night) -> None:
    her = phone(night, "dorm_e1_101")
    before, files = counts(night), photo_files(night)

    refused = send(her, form(her), png(), ("notes.png", b"not a picture at all", "image/png"))

    assert refused.status_code == 422
    assert "照片：第 2 张不是可识别的照片" in refused.text
    assert 'id="hr-photos-error"' in refused.text
    assert f'value="{TITLE}"' in refused.text
    assert 'value="东侧楼梯口"' in refused.text
    assert '<option value="E1" selected>' in refused.text
    assert '<option value="fire" selected>' in refused.text
    assert "约十辆自行车堆在安全出口门前" in refused.text
    assert "请重新选择" in refused.text  # a browser never keeps the chosen files
    assert (counts(night), photo_files(night)) == (before, files)


def test_a_report_without_a_title_or_a_photo_or_a_place_is_refused_naming_the_field(night: Night) -> None:
    her = phone(night, "dorm_e1_101")
    before = counts(night)
    untitled = send(her, form(her, title="  "), png())
    assert untitled.status_code == 422
    assert "隐患名称：请填写此项。" in untitled.text
    assert 'id="hr-title-error"' in untitled.text
    assert 'value="东侧楼梯口"' in untitled.text
    bare = send(her, form(her))
    assert (bare.status_code, "照片：请至少拍摄或选择 1 张照片。" in bare.text) == (422, True)
    nowhere = send(her, form(her, place="", where=""), png())
    assert (nowhere.status_code, "地点：请选择地点，或写明具体位置。" in nowhere.text) == (422, True)
    unknown = send(her, form(her, category="earthquake"), png())
    assert (unknown.status_code, "类别：请从列表中选择类别。" in unknown.text) == (422, True)
    future = send(her, form(her, found_at="2026-11-29T09:00"), png())
    assert (future.status_code, "发现时间：发现时间不能晚于现在。" in future.text) == (422, True)
    for when in ("0001-01-01T00:00", "0001-01-01T00:00+00:01", "9999-12-31T23:59-14:00", "昨晚十点"):
        garbled = send(her, form(her, found_at=when), png())
        assert (garbled.status_code, "发现时间：请填写有效的日期和时间。" in garbled.text) == (422, True)
    nul = send(her, form(her, title="消防门\x00坏了"), png())
    assert (nul.status_code, "隐患名称：含有不允许的字符" in nul.text) == (422, True)
    long = send(her, form(her, floor="3" * 21), png())
    assert (long.status_code, "最多 20 个字" in long.text) == (422, True)
    assert counts(night) == before


def test_too_many_or_too_large_photos_are_refused(night: Night) -> None:
    her = phone(night, "dorm_e1_101")
    before = counts(night)
    four = send(her, form(her), png("1.png"), png("2.png"), png("3.png"), png("4.png"))
    assert (four.status_code, "最多上传 3 张照片" in four.text) == (422, True)
    big = picture() + b"\0" * (5 * 1024 * 1024)
    large = send(her, form(her), ("big.png", big, "image/png"))
    assert (large.status_code, "第 1 张照片超过 5 MB" in large.text) == (422, True)
    assert counts(night) == before
    assert photo_files(night) == []


def test_a_room_outside_her_own_units_is_refused(night: Night) -> None:
    her = phone(night, "dorm_e1_101")
    with night.sessions() as db:
        other = db.execute(select(OrgUnit.id).where(OrgUnit.code == "CS2302")).scalar_one()
    refused = send(her, form(her, unit_id=str(other)), png())
    assert (refused.status_code, "上报单位：请选择你所在的单位。" in refused.text) == (422, True)


def test_a_forged_token_is_refused_and_audited_and_nothing_is_saved(night: Night) -> None:
    her = phone(night, "dorm_e1_101")
    before = counts(night)
    forged = send(her, form(her, csrf="forged"), png())
    assert forged.status_code == 403
    assert counts(night) == before
    with night.sessions() as db:
        denied = db.execute(select(AuditLog.subject_id).where(AuditLog.action == "access.denied")).scalars().all()
    assert "POST /hazards/report" in denied


def test_nobody_signed_in_is_sent_to_sign_in(night: Night) -> None:
    anonymous = TestClient(night.app)
    for url in (PAGE, "/hazards/mine"):
        reply = anonymous.get(url, follow_redirects=False)
        assert (reply.status_code, reply.headers["location"]) == (303, "/login")
    posted = anonymous.post(PAGE, data={"title": TITLE}, files=[("photos", png())], follow_redirects=False)
    assert (posted.status_code, posted.headers["location"]) == (303, "/login")


def test_every_role_but_the_administrator_has_the_tile_and_the_page(night: Night) -> None:
    for username in ("dorm_e1_101", "monitor_cs2301", "counselor_cs", "safety", "leader"):
        client = phone(night, username)
        assert 'href="/hazards/report"' in client.get("/").text, username
        assert client.get(PAGE).status_code == 200, username
    admin = phone(night, "admin")
    assert 'href="/hazards/report"' not in admin.get("/").text
    assert admin.get(PAGE).status_code == 403
    assert admin.get("/hazards/mine").status_code == 403


def test_a_safety_officer_reporting_is_not_told_of_his_own_report(night: Night) -> None:
    officer = phone(night, "safety")
    hazard_id = reported_id(send(officer, form(officer), png()))
    with night.sessions() as db:
        told = db.execute(select(Notification.user_id).where(Notification.subject_id == str(hazard_id))).scalars().all()
        users = db.execute(select(User.id).where(User.username == "safety")).scalars().all()
    assert set(told).isdisjoint(users)


def test_the_pages_are_in_english_when_asked(night: Night) -> None:
    her = phone(night, "dorm_e1_101")
    page = her.get(PAGE + "?lang=en").text
    assert "Snap &amp; report a hazard" in page
    assert '<option value="fire">Fire</option>' in page
    assert '<option value="E1">East Block 1</option>' in page
    assert "Send report" in page
    refused = send(her, form(her, title=""), png(), lang="?lang=en")
    assert (refused.status_code, "What is the hazard: Please fill this in." in refused.text) == (422, True)
    hazard_id = reported_id(send(her, form(her), png(), lang="?lang=en"))
    mine = her.get(f"/hazards/mine?reported={hazard_id}&lang=en").text
    assert f"Reported, number #{hazard_id}" in mine
    assert "Awaiting assessment" in mine
    assert "East Block 1 · 东侧楼梯口 · 3F" in mine
    assert 'href="/hazards/report"' in her.get("/?lang=en").text
    assert "Snap a hazard" in her.get("/?lang=en").text
