"""The crisis SOP as validated data, and the state machine built from it (pure: no I/O).

`sop/crisis.yaml` names the lifecycle states of an incident and the triggers that move it. One
`transitions.Machine(model=None, auto_transitions=False)` is built per SOP version and asked what a
trigger does from a state; the incident row keeps its state and SOP version, so the machine never
holds per-incident data. Work that runs side by side in practice (coordinating departments and
talking to the family) lives as parallel tasks under one state, not as a made-up sequence.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import NoReturn

from pydantic import Field, model_validator
from transitions import Machine

from riskcontrol.core.shapes import Frozen, Label, refuse_all

CODE = r"^[a-z][a-z0-9_]*$"


class Phase(StrEnum):
    """The four stages of the school's work; every SOP state belongs to one."""

    PREVENTION = "prevention"
    WARNING = "warning"
    INTERVENTION = "intervention"
    RECOVERY = "recovery"


class SopState(Frozen):
    """One lifecycle state: its code, labels, stage, and whether an incident there is finished."""

    code: str = Field(pattern=CODE)
    label: Label
    phase: Phase
    # The SOP step number shown on the board (现场控制 is step 1 …); none for states outside the sequence.
    step: int | None = Field(default=None, ge=1, le=20)
    final: bool = False
    # Parallel work streams under this state (e.g. coordination and family contact), each a task group.
    streams: tuple[Label, ...] = ()


class SopTrigger(Frozen):
    """A trigger: from which states it may fire and where it leads (no `dest`: the state stays,
    e.g. a change of level)."""

    trigger: str = Field(pattern=CODE)
    label: Label
    source: tuple[str, ...] = Field(min_length=1)
    dest: str | None = None
    # Needs a written reason (kept on the timeline): exits such as false alarm, merge, reopen.
    needs_reason: bool = False
    # Cannot be taken back (closing, a false alarm, a merge, claiming control on site): the caller confirms.
    confirm: bool = False


def _refuse(loc: tuple[str | int, ...], reason: str, value: object) -> NoReturn:
    refuse_all("CrisisSop", [(loc, reason, value)])


class CrisisSop(Frozen):
    """The whole SOP: a version, the states, the initial state and the triggers."""

    version: int = Field(ge=1)
    initial: str
    states: tuple[SopState, ...] = Field(min_length=2)
    triggers: tuple[SopTrigger, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> CrisisSop:
        codes: set[str] = set()
        for i, state in enumerate(self.states):
            if state.code in codes:
                _refuse(("states", i, "code"), f"state {state.code!r} is defined twice", state.code)
            codes.add(state.code)
        if self.initial not in codes:
            _refuse(("initial",), f"initial state {self.initial!r} is not one of the states", self.initial)
        moves: set[tuple[str, str]] = set()
        for i, trig in enumerate(self.triggers):
            for j, source in enumerate(trig.source):
                if source not in codes:
                    _refuse(("triggers", i, "source", j), f"unknown state {source!r}", source)
                if (trig.trigger, source) in moves:
                    _refuse(("triggers", i, "source", j), f"{trig.trigger!r} from {source!r} is defined twice", source)
                moves.add((trig.trigger, source))
            if trig.dest is not None and trig.dest not in codes:
                _refuse(("triggers", i, "dest"), f"unknown state {trig.dest!r}", trig.dest)
        reached = _reachable(self.initial, self.triggers)
        for i, state in enumerate(self.states):
            if state.code not in reached:
                _refuse(("states", i, "code"), f"state {state.code!r} cannot be reached from {self.initial!r}", state.code)
        return self

    def state(self, code: str) -> SopState:
        return next(s for s in self.states if s.code == code)

    def trigger(self, name: str) -> SopTrigger | None:
        return next((t for t in self.triggers if t.trigger == name), None)

    @cached_property
    def machine(self) -> SopMachine:
        return SopMachine(self)


def _reachable(initial: str, triggers: Iterable[SopTrigger]) -> set[str]:
    edges = [(source, t.dest) for t in triggers if t.dest is not None for source in t.source]
    seen, frontier = {initial}, [initial]
    while frontier:
        here = frontier.pop()
        for source, dest in edges:
            if source == here and dest not in seen:
                seen.add(dest)
                frontier.append(dest)
    return seen


class IllegalTrigger(Exception):
    """A trigger that cannot fire from the incident's state; carries the ones that can."""

    def __init__(self, trigger: str, state: str, legal: tuple[str, ...]) -> None:
        super().__init__(f"{trigger!r} cannot fire from {state!r}; legal now: {', '.join(legal) or 'none'}")
        self.trigger, self.state, self.legal = trigger, state, legal


@dataclass(frozen=True)
class Move:
    """What a trigger does: from where, to where (the same state for an internal trigger)."""

    trigger: str
    source: str
    dest: str

    @property
    def internal(self) -> bool:
        return self.source == self.dest


class SopMachine:
    """The `transitions` machine of one SOP version, shared by every incident on that version."""

    def __init__(self, sop: CrisisSop) -> None:
        self.sop = sop
        self._machine = Machine(
            model=None,
            states=[s.code for s in sop.states],
            initial=sop.initial,
            auto_transitions=False,
            transitions=[
                # dest None: an internal transition (the state stays; no exit or entry).
                {"trigger": t.trigger, "source": list(t.source), "dest": t.dest}
                for t in sop.triggers
            ],
        )

    def legal(self, state: str) -> tuple[str, ...]:
        """The triggers that may fire from `state`, in the order the SOP lists them."""
        allowed = set(self._machine.get_triggers(state))
        return tuple(t.trigger for t in self.sop.triggers if t.trigger in allowed)

    def fire(self, state: str, trigger: str) -> Move:
        """Where `trigger` takes an incident in `state`; IllegalTrigger when it cannot fire there."""
        event = self._machine.events.get(trigger)
        moves = event.transitions.get(state, []) if event is not None else []
        if not moves:
            raise IllegalTrigger(trigger, state, self.legal(state))
        dest = moves[0].dest
        return Move(trigger, state, dest if dest is not None else state)


def mermaid(sop: CrisisSop, *, lang: str = "zh") -> str:
    """The SOP as a Mermaid `stateDiagram-v2`, for the docs and the board."""

    def name(label: Label) -> str:
        return label.zh if lang == "zh" else label.en

    lines = ["stateDiagram-v2", f"    [*] --> {sop.initial}"]
    for state in sop.states:
        lines.append(f"    {state.code} : {name(state.label)}")
        if state.streams:
            lines.append(f"    note right of {state.code} : {' ∥ '.join(name(s) for s in state.streams)}")
    for trig in sop.triggers:
        for source in trig.source:
            lines.append(f"    {source} --> {trig.dest or source} : {name(trig.label)}")
    lines += [f"    {s.code} --> [*]" for s in sop.states if s.final]
    return "\n".join(lines) + "\n"
