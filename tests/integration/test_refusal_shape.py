"""Every refusal has one shape ({error, message, field, errors}), even for a body FastAPI cannot parse."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize(
    "body",
    [
        "[" * 5000 + "]" * 5000,  # nested deeper than the parser goes
        '{"username": ' * 3000 + "1" + "}" * 3000,
    ],
)
def test_a_body_nested_too_deep_is_refused_like_any_bad_input(client: TestClient, body: str) -> None:
    reply = client.post("/api/v1/auth/token", content=body, headers={"Content-Type": "application/json", "Accept-Language": "en"})
    assert reply.status_code == 422, reply.text
    answer = reply.json()
    assert (answer["error"], answer["field"]) == ("invalid", "body")
    assert answer["errors"] == [{"field": "body", "reason": answer["message"].removeprefix("body: ")}]
    assert answer["message"] == "body: could not be read as JSON (malformed, or nested too deep)"
    in_chinese = client.post("/api/v1/auth/token", content=body, headers={"Content-Type": "application/json"}).json()
    assert in_chinese["message"] == "“请求内容”无法读取（格式有误或嵌套过深）。"
    assert in_chinese["errors"] == [{"field": "body", "reason": "无法读取（格式有误或嵌套过深）。"}]
