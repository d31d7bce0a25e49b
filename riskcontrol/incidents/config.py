"""What the incident engine needs from the composition root, and the SOP and playbook each incident carries."""

from __future__ import annotations

import json
import weakref
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any

from riskcontrol.core.bus import Bus, MemoryBus
from riskcontrol.core.events import Events
from riskcontrol.incidents.models import Incident
from riskcontrol.incidents.playbook_rules import Playbook
from riskcontrol.incidents.playbooks import PlaybookLibrary, load_playbooks
from riskcontrol.incidents.rules import CrisisSop, SopMachine
from riskcontrol.incidents.sop import load_crisis_sop
from riskcontrol.observations.catalog import load_checklist


@dataclass
class IncidentConfig:
    """What the incident engine needs from the composition root."""

    sop_dir: Path
    playbook_dir: Path
    tz: tzinfo
    events: Events = field(default_factory=Events)
    bus: Bus = field(default_factory=MemoryBus)
    # After an overdue task's owner is told, the commander is told this much later, then the level above.
    overdue_step: timedelta = timedelta(minutes=5)
    sms_daily_cap: int | None = None
    # Where staff reach the app from a phone: every message about an incident links its page.
    public_base_url: str = "http://127.0.0.1:8000"

    def link(self, incident: Incident) -> str:
        """The incident's page, as a message links it."""
        return f"{self.public_base_url.rstrip('/')}/incidents/{incident.id}"

    def sop(self) -> CrisisSop:
        return load_crisis_sop(self.sop_dir)

    def library(self) -> PlaybookLibrary:
        checklist = load_checklist(self.sop_dir)
        items, categories = [item.code for item in checklist.items], [c.code for c in checklist.categories]
        return load_playbooks(self.playbook_dir, self.sop(), checklist_items=items, checklist_categories=categories)


@lru_cache(maxsize=16)
def _machine(version: int, frozen_sop: str) -> SopMachine:
    return CrisisSop.model_validate_json(frozen_sop).machine


# The snapshots an incident row carries never change: each loaded row looks its rules up once.
_RULES: weakref.WeakKeyDictionary[Incident, tuple[SopMachine, Playbook]] = weakref.WeakKeyDictionary()


def _rules_of(incident: Incident) -> tuple[SopMachine, Playbook]:
    found = _RULES.get(incident)
    if found is None:
        machine = _machine(incident.sop_version, _frozen(incident.sop))
        playbook = _playbook(incident.type, incident.playbook_version, _frozen(incident.playbook))
        found = _RULES[incident] = (machine, playbook)
    return found


def machine_of(incident: Incident) -> SopMachine:
    """The SOP machine of the version the incident started on (built once per version)."""
    return _rules_of(incident)[0]


def playbook_of(incident: Incident) -> Playbook:
    """The playbook as it was when the incident started."""
    return _rules_of(incident)[1]


def _frozen(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False)


@lru_cache(maxsize=64)
def _playbook(type_: str, version: int, frozen: str) -> Playbook:
    return Playbook.model_validate_json(frozen)
