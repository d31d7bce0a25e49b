"""A refusal is worded in the caller's language, chosen as pages choose theirs: ?lang=, the lang cookie,
Accept-Language, else Chinese. The machine code and the field stay as they are."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

WRONG_PASSWORD = {"username": "nobody", "password": "not-the-password"}
NO_PASSWORD = {"username": "nobody"}


def test_a_wrong_password_is_refused_in_chinese_when_the_caller_names_no_language(client: TestClient) -> None:
    reply = client.post("/api/v1/auth/token", json=WRONG_PASSWORD)
    assert reply.status_code == 401, reply.text
    assert reply.json() == {"error": "not_authenticated", "message": "用户名或密码不对，请重新输入。", "field": "password"}


@pytest.mark.parametrize(
    ("how", "headers", "cookies", "query"),
    [
        ("Accept-Language", {"Accept-Language": "en-GB,en;q=0.9,zh;q=0.5"}, {}, ""),
        ("the lang cookie", {}, {"lang": "en"}, ""),
        ("?lang=", {"Accept-Language": "zh-CN"}, {}, "?lang=en"),
    ],
)
def test_a_refusal_is_in_english_for_a_caller_who_reads_english(
    client: TestClient, how: str, headers: dict[str, str], cookies: dict[str, str], query: str
) -> None:
    client.cookies.update(cookies)
    refused = client.post("/api/v1/auth/token" + query, json=WRONG_PASSWORD, headers=headers)
    assert refused.json() == {"error": "not_authenticated", "message": "Wrong username or password.", "field": "password"}, how
    invalid = client.post("/api/v1/auth/token" + query, json=NO_PASSWORD, headers=headers)
    assert invalid.status_code == 422, invalid.text
    assert invalid.json() == {
        "error": "invalid",
        "message": "password: is required",
        "field": "password",
        "errors": [{"field": "password", "reason": "is required"}],
    }, how


def test_the_lang_cookie_outranks_accept_language(client: TestClient) -> None:
    client.cookies.set("lang", "zh-CN")
    reply = client.post("/api/v1/auth/token", json=WRONG_PASSWORD, headers={"Accept-Language": "en"})
    assert reply.json()["message"] == "用户名或密码不对，请重新输入。"


def test_a_field_left_out_is_refused_in_chinese_naming_it_in_words(client: TestClient) -> None:
    reply = client.post("/api/v1/auth/token", json=NO_PASSWORD)
    assert reply.status_code == 422, reply.text
    assert reply.json() == {
        "error": "invalid",
        "message": "“密码”不能为空，请填写。",
        "field": "password",
        "errors": [{"field": "password", "reason": "不能为空，请填写。"}],
    }


def test_every_field_at_fault_is_listed_with_its_reason_in_the_callers_language(client: TestClient) -> None:
    reply = client.post("/api/v1/auth/token", json={"username": "x" * 500, "colour": "red"})
    assert reply.status_code == 422, reply.text
    body = reply.json()
    assert body["field"] == body["errors"][0]["field"]
    assert {e["field"] for e in body["errors"]} == {"username", "password", "colour"}
    assert all(not e["reason"].isascii() for e in body["errors"]), body["errors"]
    english = client.post("/api/v1/auth/token", json={"username": "x" * 500, "colour": "red"}, headers={"Accept-Language": "en"})
    assert {e["field"]: e["reason"] for e in english.json()["errors"]}[
        "colour"
    ] == "is not a field this request takes; leave it out"


def test_a_request_without_a_session_is_told_to_sign_in_in_chinese(client: TestClient) -> None:
    reply = client.get("/api/v1/auth/me")
    assert reply.status_code == 401, reply.text
    assert reply.json()["message"] == "请先登录。"
    assert client.get("/api/v1/auth/me", headers={"Accept-Language": "en"}).json()["message"].startswith("Sign in first")
