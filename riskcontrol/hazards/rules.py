"""Pure rules of the hazard ledger (隐患台账): the risk matrix, the closed-loop lifecycle and its deadlines.

A hazard moves reported → assessed → assigned → rectifying → awaiting acceptance → closed (销号). It
is assessed on the 5×5 matrix (score = likelihood × impact, four colour bands), assigned with the
five fixes (五定: owner unit and person, measures, deadline, funds, contingency plan), rectified,
and struck off only after on-site acceptance by someone other than the rectifier. Rejected
acceptance sends it back to rectification; a closed hazard can be reopened. Overdue is not a state:
a hazard is overdue while its deadline has passed and it is not yet awaiting acceptance or closed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from pydantic import Field, model_validator

from riskcontrol.core.durations import Duration
from riskcontrol.core.shapes import Frozen, Label, Problem, refuse_all

SCORES: Final = range(1, 26)
RATINGS: Final = range(1, 6)


class State(StrEnum):
    REPORTED = "reported"
    ASSESSED = "assessed"
    ASSIGNED = "assigned"
    RECTIFYING = "rectifying"
    AWAITING_ACCEPTANCE = "awaiting_acceptance"
    CLOSED = "closed"
    DISMISSED = "dismissed"


# The states in which the owner still owes the rectification (its deadline can be overdue).
OWING: Final = frozenset({State.ASSIGNED, State.RECTIFYING})
# The states of a hazard still on the books (shown on the map, counted as open).
OPEN_STATES: Final = frozenset(set(State) - {State.CLOSED, State.DISMISSED})


class Action(StrEnum):
    ASSESS = "assess"
    ASSIGN = "assign"
    START = "start"
    SUBMIT = "submit"
    ACCEPT = "accept"
    REJECT = "reject"
    REOPEN = "reopen"
    DISMISS = "dismiss"


# action → (states it may start from, state it leads to). Re-assessing and re-assigning are allowed
# while the work is not yet in for acceptance, so a level or deadline can be corrected.
TRANSITIONS: Final[dict[Action, tuple[frozenset[State], State]]] = {
    Action.ASSESS: (frozenset({State.REPORTED, State.ASSESSED}), State.ASSESSED),
    Action.ASSIGN: (frozenset({State.ASSESSED, State.ASSIGNED, State.RECTIFYING}), State.ASSIGNED),
    Action.START: (frozenset({State.ASSIGNED}), State.RECTIFYING),
    Action.SUBMIT: (frozenset({State.ASSIGNED, State.RECTIFYING}), State.AWAITING_ACCEPTANCE),
    Action.ACCEPT: (frozenset({State.AWAITING_ACCEPTANCE}), State.CLOSED),
    Action.REJECT: (frozenset({State.AWAITING_ACCEPTANCE}), State.RECTIFYING),
    Action.REOPEN: (frozenset({State.CLOSED}), State.RECTIFYING),
    Action.DISMISS: (frozenset({State.REPORTED, State.ASSESSED}), State.DISMISSED),
}


def legal_actions(state: State) -> list[Action]:
    """The actions that may be taken from `state`, in lifecycle order."""
    return [action for action, (sources, _) in TRANSITIONS.items() if state in sources]


def next_state(state: State, action: Action) -> State | None:
    """Where `action` leads from `state`, or None when it may not be taken there."""
    sources, dest = TRANSITIONS[action]
    return dest if state in sources else None


# --- the matrix ----------------------------------------------------------------------------------


class Band(Frozen):
    """A colour band of scores and how hazards in it are followed up."""

    code: str = Field(pattern=r"^(red|orange|yellow|blue)$")
    min: int = Field(ge=1, le=25)
    max: int = Field(ge=1, le=25)
    label: Label
    colour: str = Field(pattern=r"^#[0-9a-fA-F]{6}$")
    remind_before: tuple[Duration, ...] = ()
    supervised_when_overdue: bool = False
    sms: bool = False


class Category(Frozen):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class RiskMatrix(Frozen):
    """`sop/risk_matrix.yaml`: the ratings, the bands over their product, and the ledger's follow-up rules."""

    version: int = Field(ge=1)
    likelihood: dict[int, Label]
    impact: dict[int, Label]
    bands: tuple[Band, ...] = Field(min_length=1)
    acceptance_within: Duration
    heads: dict[str, tuple[str, ...]]
    categories: tuple[Category, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> RiskMatrix:
        problems: list[Problem] = []
        for name in ("likelihood", "impact"):
            keys = set(getattr(self, name))
            if keys != set(RATINGS):
                problems.append(((name,), "must rate exactly 1, 2, 3, 4 and 5", sorted(keys)))
        covered: dict[int, int] = {}
        for i, band in enumerate(self.bands):
            if band.min > band.max:
                problems.append((("bands", i, "min"), f"min {band.min} is above max {band.max}", band.min))
            for score in range(band.min, band.max + 1):
                if score in covered:
                    problems.append((("bands", i), f"score {score} is already in band {covered[score] + 1}", band.code))
                    break
                covered[score] = i
        if not problems and (missing := [s for s in SCORES if s not in covered]):
            problems.append((("bands",), f"no band covers the scores {missing}", missing))
        codes = [band.code for band in self.bands]
        for i, code in enumerate(codes):
            if codes.index(code) != i:
                problems.append((("bands", i, "code"), f"band {code!r} appears twice", code))
        seen: set[str] = set()
        for i, category in enumerate(self.categories):
            if category.code in seen:
                problems.append((("categories", i, "code"), f"category {category.code!r} appears twice", category.code))
            seen.add(category.code)
        if problems:
            refuse_all("RiskMatrix", problems)
        return self

    def band(self, likelihood: int, impact: int) -> Band:
        """The band of a likelihood and impact, each 1–5."""
        if likelihood not in RATINGS or impact not in RATINGS:
            raise ValueError("likelihood and impact are rated 1 to 5")
        score = likelihood * impact
        return next(band for band in self.bands if band.min <= score <= band.max)

    def band_of(self, code: str) -> Band:
        return next(band for band in self.bands if band.code == code)

    def category(self, code: str) -> Category | None:
        return next((c for c in self.categories if c.code == code), None)

    def head_roles(self, unit_kind: str) -> tuple[str, ...]:
        return self.heads.get(unit_kind, ())


# --- deadlines -----------------------------------------------------------------------------------


def reminder_times(band: Band, deadline: datetime, now: datetime) -> list[datetime]:
    """When to remind the owner before `deadline`: each of the band's leads still in the future."""
    return sorted({deadline - lead for lead in band.remind_before if deadline - lead > now})


def acceptance_due(deadline: datetime, submitted_at: datetime, within: timedelta) -> datetime:
    """Acceptance is due `within` after the rectification deadline, or after the request when it came late."""
    return max(deadline, submitted_at) + within


def is_overdue(state: State, deadline: datetime | None, now: datetime) -> bool:
    return state in OWING and deadline is not None and deadline <= now
