"""Times and dates as input: timezone-aware, and only within the years the whole system can store and convert."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Final, TypeVar

from pydantic import AfterValidator, AwareDatetime, Strict
from pydantic_core import PydanticCustomError

# Far enough from years 1 and 9999 that moving a time to UTC or to any time zone, or adding a year or
# so of deadlines to it, never leaves what Python's datetime and the database can hold.
FIRST_YEAR: Final = 1970
LAST_YEAR: Final = 2999
FIRST_DAY: Final = date(FIRST_YEAR, 1, 1)
LAST_DAY: Final = date(LAST_YEAR, 12, 31)
EARLIEST: Final = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(LAST_YEAR, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
OUT_OF_RANGE: Final = f"must lie between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()} (UTC)"

T = TypeVar("T")


class OutOfRange(ValueError):
    """A time or date outside the supported window."""

    def __init__(self) -> None:
        super().__init__(OUT_OF_RANGE)


def in_range(at: datetime) -> datetime:
    """`at` itself when it is timezone-aware and within the window; else ValueError (OutOfRange when outside)."""
    if at.utcoffset() is None:
        raise ValueError("give a time zone")
    # Compared as it is: moving a time near year 1 or 9999 to UTC first is what overflows.
    if not EARLIEST <= at <= LATEST:
        raise OutOfRange
    return at


def day_in_range(day: date) -> date:
    """`day` itself when it is within the window; else OutOfRange."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise OutOfRange
    return day


def _as_validation_error(check: Callable[[T], T]) -> Callable[[T], T]:
    """`check` for pydantic: OutOfRange becomes a validation error of its own kind, worded as it is."""

    def checked(value: T) -> T:
        try:
            return check(value)
        except OutOfRange as exc:
            raise PydanticCustomError("out_of_range", str(exc)) from None

    return checked


# A request's time: an ISO 8601 string with its offset (lax even inside strict models), within the window.
Instant = Annotated[AwareDatetime, Strict(False), AfterValidator(_as_validation_error(in_range))]
# A request's date: YYYY-MM-DD (lax even inside strict models), within the window.
Day = Annotated[date, Strict(False), AfterValidator(_as_validation_error(day_in_range))]
