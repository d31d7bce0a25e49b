"""Loading the crisis SOP (`crisis.yaml`) from a school's SOP directory, once per file version."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Final

from riskcontrol.core.datafiles import load_model
from riskcontrol.incidents.rules import CrisisSop

SOP_FILE: Final = "crisis.yaml"


@lru_cache(maxsize=8)
def _load(path: Path, modified_ns: int | None) -> CrisisSop:
    return load_model(path, CrisisSop)


def load_crisis_sop(sop_dir: Path) -> CrisisSop:
    """The validated crisis SOP in `sop_dir`; raises DataFileError naming file, line and field."""
    path = (sop_dir / SOP_FILE).resolve()
    try:
        modified_ns: int | None = path.stat().st_mtime_ns
    except OSError:
        modified_ns = None  # load_model reports the unreadable file with its path
    return _load(path, modified_ns)
