"""Durations in data files."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel, ValidationError

from riskcontrol.core.durations import Duration, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("2h", timedelta(hours=2)),
        ("7d", timedelta(days=7)),
        ("1h30m", timedelta(minutes=90)),
        (" 15M ", timedelta(minutes=15)),
    ],
)
def test_durations_read_as_written(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "5", "m5", "5 minutes", "-5m", "1.5h", "5w"])
def test_anything_else_is_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match="30s, 5m, 2h or 7d"):
        parse_duration(text)


def test_durations_round_trip_through_a_model() -> None:
    class Window(BaseModel):
        ack_within: Duration

    assert Window.model_validate({"ack_within": "5m"}).ack_within == timedelta(minutes=5)
    assert Window(ack_within=timedelta(minutes=90)).model_dump() == {"ack_within": "1h30m"}
    assert format_duration(timedelta(days=7)) == "7d"
    with pytest.raises(ValidationError, match="ack_within"):
        Window.model_validate({"ack_within": "soon"})
