"""Prevention rounds' arithmetic: periods on the school's calendar, due times, who signs off, coverage counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from riskcontrol.incidents.playbook_rules import Recurrence
from riskcontrol.incidents.prevention_rules import (
    Bucket,
    Calendar,
    Period,
    Tally,
    Terms,
    bucket,
    completers,
    completion_problem,
    due_at,
    next_opening,
    period_of,
    tally,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEKLY, MONTHLY, TERMLY, YEARLY = Recurrence.WEEKLY, Recurrence.MONTHLY, Recurrence.TERMLY, Recurrence.YEARLY


def local(text: str) -> datetime:
    """A Shanghai wall-clock time, as the aware UTC moment it is."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(UTC)


# --- weeks -------------------------------------------------------------------------------------


def test_a_saturday_night_belongs_to_the_iso_week_that_opened_on_monday_at_midnight() -> None:
    assert period_of(local("2026-11-28 22:00"), WEEKLY, SHANGHAI) == Period("2026-W48", local("2026-11-23 00:00"))
    assert next_opening(local("2026-11-28 22:00"), WEEKLY, SHANGHAI) == local("2026-11-30 00:00")


def test_the_week_turns_at_midnight_in_shanghai_not_at_midnight_utc() -> None:
    half_past_midnight_monday = datetime(2026, 11, 29, 16, 30, tzinfo=UTC)  # still Sunday in UTC
    assert period_of(half_past_midnight_monday, WEEKLY, SHANGHAI).code == "2026-W49"
    assert period_of(half_past_midnight_monday, WEEKLY, UTC).code == "2026-W48"
    assert period_of(local("2026-11-29 23:59:59"), WEEKLY, SHANGHAI).code == "2026-W48"
    assert period_of(half_past_midnight_monday, WEEKLY, SHANGHAI).opens_at == datetime(2026, 11, 29, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "code", "opens"),
    [
        ("2026-12-31 12:00", "2026-W53", "2026-12-28 00:00"),  # 2026 has 53 ISO weeks
        ("2027-01-03 23:59", "2026-W53", "2026-12-28 00:00"),  # New Year's weekend is still 2026's week
        ("2027-01-04 00:00", "2027-W01", "2027-01-04 00:00"),
        ("2024-12-30 08:00", "2025-W01", "2024-12-30 00:00"),  # and here December is already 2025's
    ],
)
def test_iso_weeks_cross_the_new_year_by_their_own_rule(moment: str, code: str, opens: str) -> None:
    assert period_of(local(moment), WEEKLY, SHANGHAI) == Period(code, local(opens))


# --- months, terms, years ----------------------------------------------------------------------


def test_a_month_runs_from_the_first_at_midnight_to_the_next_first() -> None:
    assert period_of(local("2026-11-30 23:59"), MONTHLY, SHANGHAI) == Period("2026-11", local("2026-11-01 00:00"))
    assert period_of(local("2026-12-01 00:00"), MONTHLY, SHANGHAI).code == "2026-12"
    assert next_opening(local("2026-12-15 10:00"), MONTHLY, SHANGHAI) == local("2027-01-01 00:00")


@pytest.mark.parametrize(
    ("moment", "code", "opens", "closes"),
    [
        ("2026-08-31 23:59", "2026-spring", "2026-02-20", "2026-09-01"),
        ("2026-09-01 00:00", "2026-autumn", "2026-09-01", "2027-02-20"),
        ("2027-01-10 09:00", "2026-autumn", "2026-09-01", "2027-02-20"),  # the winter break ends the autumn term
        ("2027-02-19 23:59", "2026-autumn", "2026-09-01", "2027-02-20"),
        ("2027-02-20 00:00", "2027-spring", "2027-02-20", "2027-09-01"),
    ],
)
def test_terms_open_on_the_first_of_september_and_the_twentieth_of_february(
    moment: str, code: str, opens: str, closes: str
) -> None:
    assert period_of(local(moment), TERMLY, SHANGHAI) == Period(code, local(f"{opens} 00:00"))
    assert next_opening(local(moment), TERMLY, SHANGHAI) == local(f"{closes} 00:00")


def test_a_school_sets_its_own_term_days() -> None:
    terms = Terms(autumn=(9, 7), spring=(3, 1))
    assert period_of(local("2026-09-06 12:00"), TERMLY, SHANGHAI, terms).code == "2026-spring"
    assert period_of(local("2026-09-07 00:00"), TERMLY, SHANGHAI, terms) == Period("2026-autumn", local("2026-09-07 00:00"))
    assert period_of(local("2027-02-28 12:00"), YEARLY, SHANGHAI, terms).code == "2026-2027"
    assert Calendar(SHANGHAI, terms).closes_at(local("2026-10-01 00:00"), TERMLY) == local("2027-03-01 00:00")


@pytest.mark.parametrize(("autumn", "spring"), [((9, 1), (2, 29)), ((2, 1), (3, 1)), ((13, 1), (2, 20))])
def test_term_days_that_cannot_work_are_refused(autumn: tuple[int, int], spring: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="term"):
        Terms(autumn=autumn, spring=spring)


def test_the_academic_year_opens_with_the_autumn_term() -> None:
    assert period_of(local("2027-03-01 08:00"), YEARLY, SHANGHAI) == Period("2026-2027", local("2026-09-01 00:00"))
    assert period_of(local("2026-08-31 23:59"), YEARLY, SHANGHAI).code == "2025-2026"
    assert next_opening(local("2026-12-31 23:59"), YEARLY, SHANGHAI) == local("2027-09-01 00:00")


def test_the_current_codes_of_the_four_recurrences_never_clash() -> None:
    codes = Calendar(SHANGHAI).current_codes(local("2026-11-28 22:00"))
    assert codes == {WEEKLY: "2026-W48", MONTHLY: "2026-11", TERMLY: "2026-autumn", YEARLY: "2026-2027"}


# --- due times ---------------------------------------------------------------------------------


def test_a_round_opened_by_the_morning_run_is_due_its_allowance_after_the_period_opens() -> None:
    opens, closes = local("2026-11-23 00:00"), local("2026-11-30 00:00")
    assert due_at(opens, timedelta(days=1), closes, local("2026-11-23 06:00")) == local("2026-11-24 00:00")


def test_a_round_opened_late_gets_its_full_allowance_but_not_past_the_end_of_its_period() -> None:
    term_opens, term_closes = local("2026-09-01 00:00"), local("2027-02-20 00:00")
    # A class added in November has 14 days for this term's quiz, from when its round opens.
    assert due_at(term_opens, timedelta(days=14), term_closes, local("2026-11-28 22:00")) == local("2026-12-12 22:00")
    week_opens, week_closes = local("2026-11-23 00:00"), local("2026-11-30 00:00")
    assert due_at(week_opens, timedelta(days=1), week_closes, local("2026-11-29 20:00")) == week_closes
    # A system started four days into the term: thirty days from then.
    assert due_at(term_opens, timedelta(days=30), term_closes, local("2026-09-05 06:00")) == local("2026-10-05 06:00")
    # Within the first day is on time: the morning run or a restart before it changes nothing.
    assert due_at(term_opens, timedelta(days=30), term_closes, local("2026-09-01 23:00")) == local("2026-10-01 00:00")


# --- signing off -------------------------------------------------------------------------------


def test_the_owner_and_those_answering_for_the_unit_may_sign_off_and_a_safety_officer_for_rooms() -> None:
    assert completers("class_monitor", "class") == {
        "class_monitor",
        "counselor",
        "college_officer",
        "student_affairs",
        "admin",
    }
    assert "safety_officer" in completers("dorm_head", "dorm")
    assert "safety_officer" in completers("safety_officer", "building")
    assert "safety_officer" not in completers("class_monitor", "class")
    assert "psych_member" not in completers("class_monitor", "class")


@pytest.mark.parametrize(
    ("required", "evidence", "covered", "population", "problem"),
    [
        (True, None, None, None, "evidence"),
        (True, "   ", None, None, "evidence"),
        (False, "x" * 2001, None, None, "evidence"),
        (False, None, 40, None, "population"),
        (False, None, None, 42, "covered"),
        (False, None, 43, 42, "covered"),
        (False, None, -1, 42, "covered"),
        (False, None, 0, 0, "population"),
    ],
)
def test_a_completion_missing_what_it_needs_names_the_field(
    required: bool, evidence: str | None, covered: int | None, population: int | None, problem: str
) -> None:
    found = completion_problem(evidence_required=required, evidence=evidence, covered=covered, population=population)
    assert found is not None
    assert found[0] == problem


def test_a_complete_completion_passes() -> None:
    assert completion_problem(evidence_required=True, evidence="截图已上传", covered=42, population=42) is None
    assert completion_problem(evidence_required=False, evidence=None, covered=None, population=None) is None


# --- coverage ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Round:
    due: str
    done: str | None = None
    covered: int | None = None
    population: int | None = None
    opens: str = "2026-11-23 00:00"

    @property
    def opens_at(self) -> datetime:
        return local(self.opens)

    @property
    def due_at(self) -> datetime:
        return local(self.due)

    @property
    def done_at(self) -> datetime | None:
        return local(self.done) if self.done else None

    @property
    def late(self) -> bool:
        return self.done_at is not None and self.done_at > self.due_at


def test_a_round_is_due_until_its_time_then_overdue_and_done_whenever_signed_off() -> None:
    due, opens = local("2026-11-24 00:00"), local("2026-11-23 00:00")
    assert bucket(done=False, opens_at=opens, due_at=due, now=local("2026-11-23 23:59")) is Bucket.DUE
    assert bucket(done=False, opens_at=opens, due_at=due, now=due) is Bucket.OVERDUE
    assert bucket(done=True, opens_at=opens, due_at=due, now=local("2026-12-01 00:00")) is Bucket.DONE
    assert bucket(done=False, opens_at=opens, due_at=due, now=local("2026-11-22 12:00")) is Bucket.UPCOMING


def test_coverage_counts_done_late_due_and_overdue_and_rounds_the_percentage_down() -> None:
    rounds = [
        Round(due="2026-11-24 00:00", done="2026-11-23 20:00", covered=41, population=42),
        Round(due="2026-11-24 00:00", done="2026-11-25 09:00", covered=38, population=38),  # late
        Round(due="2026-11-24 00:00"),  # overdue
        Round(due="2026-11-30 00:00"),  # still due
        Round(due="2026-11-30 00:00", done="2026-11-28 10:00"),
        Round(due="2026-11-30 00:00", opens="2026-11-30 00:00"),  # not open yet
    ]
    found = tally(rounds, local("2026-11-28 22:00"))
    assert found == Tally(done=3, late=1, due=1, overdue=1, upcoming=1, covered=79, population=80)
    assert (found.total, found.percent_done, found.percent_covered) == (6, 50, 98)


def test_an_empty_set_has_no_percentage_and_only_a_full_set_is_a_hundred() -> None:
    assert (Tally().percent_done, Tally().percent_covered) == (None, None)
    assert Tally(done=199, overdue=1).percent_done == 99
    assert Tally(done=3).percent_done == 100
    assert Tally(done=1, due=2) + Tally(overdue=1, covered=5, population=6) == Tally(
        done=1, due=2, overdue=1, covered=5, population=6
    )
