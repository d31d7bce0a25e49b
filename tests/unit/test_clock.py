"""The injected clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from riskcontrol.core.clock import ManualClock, ScaledClock, SystemClock

SHANGHAI = timezone(timedelta(hours=8))


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(datetime(2026, 11, 28, 22, 0, tzinfo=SHANGHAI))
    assert clock.now() == datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
    assert clock.advance(timedelta(minutes=15)) == datetime(2026, 11, 28, 14, 15, tzinfo=UTC)
    assert clock.now().tzinfo is UTC


def test_manual_clock_refuses_naive_starts_and_running_backwards() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2026, 11, 28))
    clock = ManualClock(datetime(2026, 11, 28, tzinfo=UTC))
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(timedelta(seconds=-1))


def test_scaled_clock_runs_a_drill_sixty_times_faster() -> None:
    base = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    drill = ScaledClock(datetime(2026, 11, 28, 14, 0, tzinfo=UTC), factor=60, base=base)
    base.advance(timedelta(seconds=10))
    assert drill.now() == datetime(2026, 11, 28, 14, 10, tzinfo=UTC)


def test_system_clock_is_aware_utc() -> None:
    assert SystemClock().now().tzinfo is UTC
