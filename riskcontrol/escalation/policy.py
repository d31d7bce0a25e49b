"""Loading the escalation policy (`escalation.yaml`) from a school's SOP directory, cached."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Final

from riskcontrol.core.datafiles import load_model
from riskcontrol.core.workdays import WEEKDAYS, WorkCalendar
from riskcontrol.escalation.rules import EscalationPolicy

POLICY_FILE: Final = "escalation.yaml"


@lru_cache(maxsize=8)
def _load(path: Path, modified_ns: int | None) -> EscalationPolicy:
    return load_model(path, EscalationPolicy)


@lru_cache(maxsize=32)
def policy_path(sop_dir: Path) -> Path:
    """Where the escalation policy of an SOP directory lives."""
    return (sop_dir / POLICY_FILE).resolve()


def load_policy(sop_dir: Path) -> EscalationPolicy:
    """The validated policy in `sop_dir`; raises DataFileError naming file, line and field."""
    path = policy_path(sop_dir)
    try:
        modified_ns: int | None = path.stat().st_mtime_ns
    except OSError:
        modified_ns = None  # load_model reports the unreadable file with its path
    # Keyed by modification time, so an edited file is read again for escalations that start
    # afterwards without a restart; running escalations keep the snapshot frozen onto them.
    return _load(path, modified_ns)


CALENDAR_FILE: Final = "calendar.yaml"


@lru_cache(maxsize=8)
def _calendar(path: Path, modified_ns: int | None) -> WorkCalendar:
    return load_model(path, WorkCalendar) if modified_ns is not None else WEEKDAYS


def load_calendar(sop_dir: Path) -> WorkCalendar:
    """The school's working days in `sop_dir` (calendar.yaml); Monday to Friday when there is no file."""
    path = (sop_dir / CALENDAR_FILE).resolve()
    try:
        modified_ns: int | None = path.stat().st_mtime_ns
    except OSError:
        modified_ns = None
    return _calendar(path, modified_ns)
