"""Student risk factors as validated data (`sop/risk_factors.yaml`): pure, no I/O.

A factor is a fact the student-affairs systems hold about a student (a screening flag, an academic
warning, a sanction, hardship, leave): coded from one catalogue, each counting as a checklist item
when someone reports a new sign, each with an expiry, some asking for a talk within days."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal, Self

from pydantic import Field, model_validator

from riskcontrol.core.durations import Duration
from riskcontrol.core.shapes import Frozen

CODE = r"^[a-z][a-z0-9_]*$"


class Factor(Frozen):
    code: str = Field(pattern=CODE, max_length=40)
    zh: str = Field(min_length=1, max_length=100)
    en: str = Field(min_length=1, max_length=200)
    # The checklist item it counts as (checked against the checklist by observations.catalog).
    item: str = Field(pattern=CODE, max_length=60)
    expires_after: Duration
    interview_within: Duration | None = None
    interview_level: Literal["yellow", "orange", "red"] | None = None

    @model_validator(mode="after")
    def _interview_complete(self) -> Self:
        if (self.interview_within is None) != (self.interview_level is None):
            raise ValueError("interview_within and interview_level go together")
        if self.expires_after <= timedelta(0):
            raise ValueError("expires_after must be longer than 0s")
        return self

    def expires_on(self, dated: date) -> date:
        """The first day the factor no longer counts, for one dated `dated`."""
        return dated + timedelta(days=max(1, self.expires_after.days))


class FactorCatalogue(Frozen):
    version: str = Field(min_length=1, max_length=40)
    factors: tuple[Factor, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        codes = [factor.code for factor in self.factors]
        if len(set(codes)) != len(codes):
            raise ValueError(f"a factor code appears twice: {sorted(c for c in codes if codes.count(c) > 1)[0]!r}")
        return self

    def get(self, code: str) -> Factor | None:
        return next((factor for factor in self.factors if factor.code == code), None)
