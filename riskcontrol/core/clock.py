"""Injected time: the Clock protocol and its system, manual and scaled implementations."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Protocol

from riskcontrol.core import i18n


class Clock(Protocol):
    """Anything that tells the current time as a timezone-aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to; tests drive deadlines with it."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by `delta` and return the new time."""
        if delta < timedelta(0):
            raise ValueError("time does not run backwards")
        with self._lock:
            self._now += delta
            return self._now

    def set(self, moment: datetime) -> None:
        """Jump to `moment` (not earlier than now)."""
        self.advance(moment.astimezone(UTC) - self.now())


class ScaledClock:
    """A clock that runs `factor` times faster than real time from `start` (for drills)."""

    def __init__(self, start: datetime, factor: float, base: Clock | None = None) -> None:
        self._base = base or SystemClock()
        self._origin = self._base.now()
        self._start = start.astimezone(UTC)
        self._factor = factor

    def now(self) -> datetime:
        return self._start + (self._base.now() - self._origin) * self._factor


def next_local(after: datetime, tz: tzinfo, at: time) -> datetime:
    """The first local `at` (09:00 in Shanghai, say) strictly after `after`, in UTC."""

    def moment(day: date) -> datetime:
        return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)

    candidate = moment(after.astimezone(tz).date())
    return candidate if candidate > after else moment(after.astimezone(tz).date() + timedelta(days=1))


def local_text(
    at: datetime | None, lang: str, tz: tzinfo, *, now: datetime | None = None, whole_day: bool = False, empty: str = "—"
) -> str:
    """`at` as a person reads it on the school's clock in `tz`, in `lang` (`empty` when there is no time):
    `i18n.when`, its date left out on the day of `now`, or with `whole_day` the date alone (`i18n.day`)."""
    if at is None:
        return empty
    if whole_day:
        return i18n.day(at, lang, tz)
    return i18n.when(at, lang, tz, today=now.astimezone(tz).date() if now is not None else None)
