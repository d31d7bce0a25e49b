"""Which days are working days: Monday to Friday, except public holidays, plus the weekend days
worked in their place (调休), as a school's calendar file lists them per year."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Self

from pydantic import Field, model_validator

from riskcontrol.core.shapes import Frozen

log = logging.getLogger(__name__)


class Year(Frozen):
    holidays: tuple[date, ...] = ()
    # Weekend days worked in place of a holiday (调休上班).
    working_weekends: tuple[date, ...] = ()


class WorkCalendar(Frozen):
    """A school's working days; a year it does not list counts Monday to Friday only (and says so once)."""

    version: str = Field(default="weekdays", min_length=1)
    source: str = ""
    years: dict[int, Year] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _dates_in_their_year(self) -> Self:
        for year, days in self.years.items():
            for day in (*days.holidays, *days.working_weekends):
                if day.year != year:
                    raise ValueError(f"{day.isoformat()} is listed under {year}")
            for day in days.working_weekends:
                if day.weekday() < 5:
                    raise ValueError(f"{day.isoformat()} is a weekday; working_weekends lists weekend days worked")
        return self

    def is_working_day(self, day: date) -> bool:
        listed = self.years.get(day.year)
        if listed is None:
            if self.years:
                log.warning("the school calendar lists no %d: counting Monday to Friday as working days", day.year)
            return day.weekday() < 5
        if day in listed.working_weekends:
            return True
        return day.weekday() < 5 and day not in listed.holidays

    def next_working_day(self, after: date) -> date:
        """The first working day after `after`."""
        day = after + timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day


WEEKDAYS = WorkCalendar()
