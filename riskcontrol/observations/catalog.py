"""The checklist and triage rubric read from the SOP directory, loaded once per file version."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from riskcontrol.core.datafiles import error_at, load_model
from riskcontrol.observations.rules import Checklist, TriageRubric, rubric_checked_against
from riskcontrol.people.factor_import import FACTORS_FILE
from riskcontrol.people.factor_rules import FactorCatalogue

CHECKLIST_FILE = "observation_checklist.yaml"
RUBRIC_FILE = "triage.yaml"


def _stamp(path: Path) -> int:
    # The cache key includes the modification time, so an edited file is read again; a missing
    # file gets a stamp too and load_model then reports it with its name.
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1


@lru_cache(maxsize=16)
def _checklist(path: Path, stamp: int) -> Checklist:
    return load_model(path, Checklist)


@lru_cache(maxsize=16)
def _rubric(path: Path, stamp: int, checklist_path: Path, checklist_stamp: int) -> TriageRubric:
    with rubric_checked_against(_checklist(checklist_path, checklist_stamp)):
        return load_model(path, TriageRubric)


@lru_cache(maxsize=32)
def _resolved(sop_dir: Path, name: str) -> Path:
    return (sop_dir / name).resolve()


def load_checklist(sop_dir: Path) -> Checklist:
    """The abnormal-behaviour checklist in `sop_dir`; DataFileError names file, line and field."""
    path = _resolved(sop_dir, CHECKLIST_FILE)
    return _checklist(path, _stamp(path))


@lru_cache(maxsize=16)
def _factors(path: Path, stamp: int, checklist_path: Path, checklist_stamp: int) -> FactorCatalogue:
    catalogue = load_model(path, FactorCatalogue)
    items = {item.code for item in _checklist(checklist_path, checklist_stamp).items}
    for index, factor in enumerate(catalogue.factors):
        if factor.item not in items:
            raise error_at(path, ("factors", index, "item"), f"{factor.item!r} is not an item of the observation checklist")
    return catalogue


def load_factors(sop_dir: Path) -> FactorCatalogue:
    """The risk-factor catalogue in `sop_dir`, each factor's item checked against the checklist beside it."""
    path, checklist_path = _resolved(sop_dir, FACTORS_FILE), _resolved(sop_dir, CHECKLIST_FILE)
    return _factors(path, _stamp(path), checklist_path, _stamp(checklist_path))


def load_rubric(sop_dir: Path) -> TriageRubric:
    """The triage rubric in `sop_dir`, its combinations checked against the checklist beside it."""
    path, checklist_path = _resolved(sop_dir, RUBRIC_FILE), _resolved(sop_dir, CHECKLIST_FILE)
    return _rubric(path, _stamp(path), checklist_path, _stamp(checklist_path))
