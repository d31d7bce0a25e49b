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
    reply = client.post("/api/v1/auth/token", content=body, headers={"Content-Type": "application/json"})
    assert reply.status_code == 422, reply.text
    answer = reply.json()
    assert (answer["error"], answer["field"]) == ("invalid", "body")
    assert answer["errors"] == [{"field": "body", "reason": answer["message"].removeprefix("body: ")}]
