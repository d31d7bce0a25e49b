"""Acknowledging by SMS reply, refusing forged replies, and the daily SMS cap that red ignores."""

from __future__ import annotations

from sqlalchemy import select

from riskcontrol.escalation.models import Escalation
from riskcontrol.notify.service import SMS
from tests.integration.conftest import Night, file_observation, file_red_observation

INBOUND_URL = "http://testserver/api/v1/notify/twilio/inbound"


def reply_by_sms(night: Night, phone: str, body: str, *, signed: bool = True) -> int:
    params = {"From": f"+86{phone}", "To": "+8610690000", "Body": body, "MessageSid": "SM" + "1" * 32}
    headers = night.twilio.signed_headers(INBOUND_URL, params) if signed else {"X-Twilio-Signature": "nope"}
    return night.client.post(INBOUND_URL, data=params, headers=headers).status_code


def status_of(night: Night, escalation_id: int) -> tuple[str, str | None]:
    with night.sessions() as db:
        esc = db.execute(select(Escalation).where(Escalation.id == escalation_id)).scalar_one()
        return esc.status, esc.acknowledged_via


def test_the_counselor_replies_1_and_the_climb_stops(night: Night) -> None:
    filed = file_red_observation(night)
    night.at("22:00")
    counselor = night.user("counselor_cs")
    assert counselor.phone
    assert reply_by_sms(night, counselor.phone, "1") == 200
    assert status_of(night, filed["escalation_id"]) == ("acknowledged", "sms")
    texts = len(night.twilio.messages)
    night.at("22:06")
    # The college is not texted (a text about the incident the report opened links its page: not the climb's).
    assert [m for m in night.twilio.messages[texts:] if "/incidents/" not in m["Body"]] == []


def test_any_other_reply_or_a_forged_one_changes_nothing(night: Night) -> None:
    filed = file_red_observation(night)
    night.at("22:00")
    phone = night.user("counselor_cs").phone
    assert phone
    assert reply_by_sms(night, phone, "收到，马上到") == 200
    assert reply_by_sms(night, phone, "1", signed=False) == 403
    assert status_of(night, filed["escalation_id"]) == ("open", None)


def test_below_red_the_daily_sms_cap_holds_but_red_always_texts(night: Night) -> None:
    cfg = night.app.state.ctx.extras["escalation"]
    object.__setattr__(cfg, "sms_daily_cap", 0)  # the cap is already used up today
    night.at("23:30")  # orange adds SMS at night
    orange = file_observation(night, ("self_harm",))
    assert orange["level"] == "orange"
    red = file_observation(night, ("suicide_plan",), client_id="phone-7f3a-0002")
    night.worker.run_once()
    detail_orange = night.client.get(f"/api/v1/escalations/{orange['escalation_id']}", headers=night.token("affairs")).json()
    detail_red = night.client.get(f"/api/v1/escalations/{red['escalation_id']}", headers=night.token("affairs")).json()
    assert {e["kind"] for e in detail_orange["timeline"] if e["channel"] == SMS} == {"sms_capped"}
    assert {e["kind"] for e in detail_red["timeline"] if e["channel"] == SMS} == {"notified"}
