"""The warning stage's promise, on the demo campus with a manual clock and the real Twilio SDK.

A dorm head files a red observation at 22:00; the class is told at once over websocket and SMS;
nobody acknowledges; the college is told at 22:05, the school at 22:10; the college officer
acknowledges at 22:11 and the climb stops. And: when the SMS comes back undelivered, the climb
moves on at once instead of waiting out the window.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.fakes.fake_twilio import ACCOUNT_SID
from tests.integration.conftest import SHANGHAI, STATUS_URL, TEN_PM, Night, file_red_observation


def steps(detail: dict[str, Any]) -> list[tuple[str, int, str]]:
    """(local hh:mm, step, grid level) of each step of the timeline."""
    return [
        (datetime.fromisoformat(e["at"]).astimezone(SHANGHAI).strftime("%H:%M"), e["step"], e["detail"]["grid_level"])
        for e in detail["timeline"]
        if e["kind"] == "step"
    ]


def test_nobody_answers_so_the_climb_reaches_the_school_and_stops_when_the_college_acknowledges(night: Night) -> None:
    counselor = night.user("counselor_cs")
    with night.client.websocket_connect("/ws/inbox", headers=night.token("counselor_cs")) as inbox:
        assert inbox.receive_json()["type"] == "snapshot"
        filed = file_red_observation(night)
        night.at("22:00")
        pushed = inbox.receive_json()
        assert pushed["type"] == "notification"
        assert pushed["notification"]["level"] == "red"
        assert pushed["notification"]["data"]["escalation_id"] == filed["escalation_id"]
        inbox.send_json({"type": "received", "id": pushed["notification"]["id"]})
        assert inbox.receive_json() == {"type": "receipt", "of": "received", "id": pushed["notification"]["id"]}
    texted = [m["To"] for m in night.twilio.messages]
    assert f"+86{counselor.phone}" in texted  # the class level is told by SMS at once as well

    for minute in ("22:02", "22:04", "22:05", "22:07", "22:09", "22:10"):
        night.at(minute)
    officer = night.token("officer_cs")
    night.at("22:11")
    ack = night.client.post(f"/api/v1/escalations/{filed['escalation_id']}/ack", headers=officer)
    assert ack.status_code == 200, ack.text
    assert ack.json()["status"] == "acknowledged"

    # The incident the report opened runs its own ladder (its texts link its page); the warning's climb stops.
    def warning_texts() -> list[dict[str, str]]:
        return [m for m in night.twilio.messages if "/incidents/" not in m["Body"]]

    texts_at_ack = len(warning_texts())
    for minute in ("22:13", "22:15", "22:20"):
        night.at(minute)
    assert len(warning_texts()) == texts_at_ack  # the climb (and its reminders) stopped

    detail = night.client.get(f"/api/v1/escalations/{filed['escalation_id']}", headers=officer).json()
    assert steps(detail) == [("22:00", 0, "class"), ("22:05", 1, "college"), ("22:10", 2, "school")]
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds.count("unacknowledged") == 2
    assert kinds[-1] == "acknowledged"
    assert detail["acknowledged_via"] == "app"
    told = {(e["step"], e["channel"]) for e in detail["timeline"] if e["kind"] == "notified"}
    assert told == {(s, c) for s in (0, 1, 2) for c in ("in_app", "sms")}
    # Every message's delivery is on record: in-app published, SMS accepted by Twilio with its id.
    channels = [c for d in detail["deliveries"] for c in d["channels"]]
    assert {c["channel"] for c in channels} == {"in_app", "sms"}
    assert all(c["status"] == "sent" for c in channels)
    assert all(c["provider_id"].startswith("SM") for c in channels if c["channel"] == "sms")
    first = next(d for d in detail["deliveries"] if d["user_id"] == counselor.id)
    assert first["delivered_at"] is not None  # the counsellor's screen confirmed it

    # A delivery report from Twilio lands on the message it names.
    sid = next(c["provider_id"] for c in channels if c["channel"] == "sms")
    params = night.twilio.callback_params(sid, "delivered")
    assert night.client.post(STATUS_URL, data=params, headers=night.twilio.signed_headers(STATUS_URL, params)).status_code == 204
    detail = night.client.get(f"/api/v1/escalations/{filed['escalation_id']}", headers=officer).json()
    assert "delivered" in {c["provider_status"] for d in detail["deliveries"] for c in d["channels"]}


def test_an_undelivered_sms_moves_the_climb_on_at_once(night: Night) -> None:
    filed = file_red_observation(night)
    night.at("22:00")
    class_texts = list(night.twilio.messages)
    assert class_texts
    night.clock.advance(timedelta(seconds=40))
    for message in class_texts:
        params = night.twilio.callback_params(message["Sid"], "undelivered")
        reply = night.client.post(STATUS_URL, data=params, headers=night.twilio.signed_headers(STATUS_URL, params))
        assert reply.status_code == 204
    detail = night.client.get(f"/api/v1/escalations/{filed['escalation_id']}", headers=night.token("affairs")).json()
    assert detail["current_step"] == 1  # the college is told at 22:00:40, not at 22:05
    assert detail["delivery_problem"] is True
    fallback = [e for e in detail["timeline"] if e["kind"] == "fallback"]
    assert len(fallback) == 1
    assert datetime.fromisoformat(fallback[0]["at"]) == TEN_PM + timedelta(seconds=40)
    failed = [e for e in detail["timeline"] if e["kind"] == "delivery_failed"]
    assert {e["channel"] for e in failed} == {"sms"}
    assert "undelivered" in failed[0]["detail"]["reason"]


def test_a_forged_delivery_report_is_refused(night: Night) -> None:
    params = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "undelivered", "AccountSid": ACCOUNT_SID}
    reply = night.client.post(STATUS_URL, data=params, headers={"X-Twilio-Signature": "forged"})
    assert reply.status_code == 403
    assert reply.json()["field"] == "X-Twilio-Signature"
