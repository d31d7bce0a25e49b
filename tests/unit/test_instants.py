"""Times and dates as input: aware, parsed from ISO strings, refused outside the years the system can hold."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from riskcontrol.core.instants import (
    EARLIEST,
    FIRST_DAY,
    LAST_DAY,
    LATEST,
    OUT_OF_RANGE,
    Day,
    Instant,
    OutOfRange,
    day_in_range,
    in_range,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Form(BaseModel):
    """A strict request model, like every schema of the API."""

    model_config = ConfigDict(strict=True, extra="forbid")

    at: Instant
    on: Day | None = None


def test_an_iso_time_with_an_offset_is_read_even_in_a_strict_model() -> None:
    form = Form.model_validate({"at": "2026-11-28T22:00:00+08:00", "on": "2026-12-01"})
    assert form.at == datetime(2026, 11, 28, 14, tzinfo=UTC)
    assert form.on == date(2026, 12, 1)


def test_a_time_without_a_zone_is_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        Form.model_validate({"at": "2026-11-28T22:00:00"})
    assert refused.value.errors()[0]["loc"] == ("at",)


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00+00:01",  # moving it to UTC overflows
        "9999-12-31T23:59:59-14:00",  # and so does this one
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "1969-12-31T23:59:59Z",
        "1970-01-01T07:59:59+08:00",  # 1969 in UTC
        "3000-01-01T00:00:00Z",
        "2999-12-31T20:00:00-05:00",  # 3000 in UTC
    ],
)
def test_a_time_outside_the_window_is_refused_naming_the_field_and_the_window(text: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Form.model_validate({"at": text})
    [error] = refused.value.errors()
    assert (error["loc"], error["type"], error["msg"]) == (("at",), "out_of_range", OUT_OF_RANGE)
    assert "1970-01-01" in error["msg"]
    assert "2999-12-31" in error["msg"]


@pytest.mark.parametrize("text", ["0001-01-01", "9999-12-31", "1969-12-31", "3000-01-01"])
def test_a_date_outside_the_window_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Form.model_validate({"at": "2026-11-28T22:00:00+08:00", "on": text})
    [error] = refused.value.errors()
    assert (error["loc"], error["type"], error["msg"]) == (("on",), "out_of_range", OUT_OF_RANGE)


@pytest.mark.parametrize(
    "at",
    [
        EARLIEST,
        LATEST,
        datetime(1970, 1, 1, 8, tzinfo=SHANGHAI),
        datetime(2999, 12, 31, 9, 59, tzinfo=timezone(timedelta(hours=-14))),
    ],
)
def test_the_edges_of_the_window_are_accepted_and_survive_what_the_system_does_with_a_time(at: datetime) -> None:
    assert Form.model_validate({"at": at.isoformat()}).at == at
    for moved in (at.astimezone(UTC), at.astimezone(SHANGHAI), at.astimezone(timezone(timedelta(hours=14)))):
        assert moved + timedelta(days=400) > moved - timedelta(days=400)


def test_the_edge_dates_are_accepted() -> None:
    assert [Form.model_validate({"at": EARLIEST, "on": day.isoformat()}).on for day in (FIRST_DAY, LAST_DAY)] == [
        FIRST_DAY,
        LAST_DAY,
    ]


def test_forms_and_imports_use_the_same_check_with_a_plain_value_error() -> None:
    assert in_range(EARLIEST) == EARLIEST
    assert day_in_range(LAST_DAY) == LAST_DAY
    with pytest.raises(OutOfRange, match="1970-01-01"):
        in_range(datetime.fromisoformat("0001-01-01T00:00:00+00:01"))
    with pytest.raises(OutOfRange):
        day_in_range(date(9999, 12, 31))
    with pytest.raises(ValueError, match="time zone"):
        in_range(datetime(2026, 11, 28, 22))
    assert issubclass(OutOfRange, ValueError)
