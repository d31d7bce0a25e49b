"""HTML routes of prevention: coverage per unit with drill-down, a unit's rounds, and a form to mark one done.

Server-rendered so that it works on any phone without a script: a class monitor or a dorm head sees
their unit's rounds and marks one done with a form (carrying the session's CSRF token); counsellors,
officers and leaders walk down from their top units and see each unit's done, due and overdue share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from riskcontrol.core import refusals
from riskcontrol.core.errors import DomainError, InvalidInput
from riskcontrol.core.http import NO_NUL, AppContext, Ctx, Db, PathId, QueryId, record_denial, request_token
from riskcontrol.core.i18n import phrase
from riskcontrol.core.security import Principal, csrf_token
from riskcontrol.grid.models import OrgUnit
from riskcontrol.grid.rules import UnitKind
from riskcontrol.incidents import prevention
from riskcontrol.incidents.models import MeasureRound
from riskcontrol.incidents.playbook_rules import PreventionMeasure, Recurrence
from riskcontrol.incidents.prevention import MeasureKey, RoundView, config
from riskcontrol.incidents.prevention_rules import Bucket, Tally
from riskcontrol.people.models import Student
from riskcontrol.web.pages import OptionalPrincipal, csrf_refused, shown_at, sign_in_first, unit_name
from riskcontrol.web.templating import page_language, redirect, render, translator

router = APIRouter(include_in_schema=False)

PAGE = "/prevention"
# Rounds of these units count people (a class's quiz): the form asks how many of how many.
COUNTS_PEOPLE = frozenset({UnitKind.CLASS.value})
NOT_A_NUMBER = "not_a_number"
_ROUND_ERRORS = {403: "prevention.error.forbidden", 409: "prevention.error.conflict"}


@dataclass(frozen=True)
class Bar:
    """A stacked bar of done, due and overdue shares (percent of the width), with its words."""

    done: float
    due: float
    overdue: float
    percent: int | None
    counts: str

    @property
    def due_x(self) -> float:
        return self.done

    @property
    def overdue_x(self) -> float:
        return self.done + self.due


@dataclass(frozen=True)
class MeasureLine:
    label: str
    every: str
    bar: Bar


@dataclass(frozen=True)
class UnitLine:
    id: int
    name: str
    kind: str
    has_children: bool
    bar: Bar
    measures: list[MeasureLine]


@dataclass(frozen=True)
class RoundLine:
    id: int
    label: str
    every: str
    owner: str
    status: str
    status_label: str
    due: str
    done: str | None
    evidence: str | None
    evidence_label: str | None
    people: str | None
    may_complete: bool
    counts_people: bool


def _bar(tally: Tally, lang: str) -> Bar:
    t = translator(lang)
    counts = t("prevention.counts", done=tally.done, due=tally.due, overdue=tally.overdue)
    if not tally.total:
        return Bar(0.0, 0.0, 0.0, None, counts)
    share = 100 / tally.total
    return Bar(tally.done * share, tally.due * share, tally.overdue * share, tally.percent_done, counts)


def _label(measure: PreventionMeasure | None, code: str, lang: str) -> str:
    if measure is None:
        return code
    return measure.label.en if lang == "en" else measure.label.zh


def _round_line(ctx: AppContext, view: RoundView, labels: dict[MeasureKey, PreventionMeasure], lang: str) -> RoundLine:
    t = translator(lang)
    row = view.round
    measure = labels.get((row.playbook_type, row.measure_code))
    status = "late" if view.bucket is Bucket.DONE and row.late else view.bucket.value
    done = None
    if row.done_at is not None:
        at = shown_at(ctx, row.done_at, lang)
        done = t("prevention.done_by", name=view.done_by_name, at=at) if view.done_by_name else t("prevention.done_at", at=at)
    people = None
    if row.covered is not None and row.population:
        people = t(
            "prevention.people", covered=row.covered, population=row.population, percent=row.covered * 100 // row.population
        )
    evidence_label = None
    if measure is not None and measure.evidence is not None:
        evidence_label = measure.evidence.en if lang == "en" else measure.evidence.zh
    return RoundLine(
        id=row.id,
        label=_label(measure, row.measure_code, lang),
        every=t(f"prevention.every.{measure.every.value}") if measure else "",
        owner=t(f"role.{row.owner_role}"),
        status=status,
        status_label=t(f"prevention.status.{status}"),
        due=t("prevention.due_by", due=shown_at(ctx, row.due_at, lang)),
        done=done,
        evidence=row.evidence,
        evidence_label=evidence_label,
        people=people,
        may_complete=view.may_complete,
        counts_people=view.unit.kind in COUNTS_PEOPLE,
    )


def period_name(every: Recurrence, code: str, lang: str) -> str:
    """A period code in words: 2026-W48 → 2026年第48周, 2026-autumn → 2026年秋季学期."""
    t = translator(lang)
    year, rest = code.split("-", 1)
    match every:
        case Recurrence.WEEKLY:
            return t("prevention.week", year=year, week=int(rest.lstrip("W")))
        case Recurrence.MONTHLY:
            return t("prevention.month", year=year, month=int(rest))
        case Recurrence.TERMLY:
            return t(f"prevention.term.{rest}", year=year)
        case Recurrence.YEARLY:
            return t("prevention.academic_year", first=year, second=rest)


def _class_size(db: Session, unit: OrgUnit | None) -> int | None:
    if unit is None or unit.kind != UnitKind.CLASS:
        return None
    return int(db.execute(select(func.count()).select_from(Student).where(Student.class_id == unit.id)).scalar_one())


def _page(
    request: Request,
    db: Session,
    ctx: AppContext,
    principal: Principal,
    lang: str,
    unit_id: int | None,
    *,
    status_code: int = 200,
    error: str | None = None,
    flash: str | None = None,
) -> Response:
    t = translator(lang)
    cfg = config(ctx)
    library = cfg.library()
    if unit_id is None and len(principal.scope_paths) == 1:
        top = db.execute(select(OrgUnit.id).where(OrgUnit.path == principal.scope_paths[0])).scalar_one_or_none()
        unit_id = top
    try:
        found = prevention.coverage(db, ctx.clock, cfg.calendar, library, principal, unit_id)
    except DomainError as exc:
        if exc.denial:
            db.rollback()  # the denial is written apart; on SQLite this session must not hold the lock meanwhile
            record_denial(ctx, principal, f"GET {PAGE}", str(exc), exc.status_code)
        return render(request, "error.html", lang=lang, status_code=exc.status_code, message=t("prevention.error.unit"))
    labels = prevention.measures(library)
    units = [
        UnitLine(
            id=line.unit.id,
            name=unit_name(line.unit, lang),
            kind=t(f"unit_kind.{line.unit.kind}"),
            has_children=line.has_children,
            bar=_bar(line.total, lang),
            measures=[
                MeasureLine(
                    label=_label(labels.get(key), key[1], lang),
                    every=t(f"prevention.every.{labels[key].every.value}") if key in labels else "",
                    bar=_bar(tally, lang),
                )
                for key, tally in line.measures
            ],
        )
        for line in found.units
    ]
    rounds: list[RoundLine] = []
    if found.unit is not None:
        views = prevention.list_rounds(db, ctx.clock, cfg.calendar, principal, unit_id=found.unit.id, own_only=True)
        rounds = [_round_line(ctx, view, labels, lang) for view in views]
    token = request_token(request) or ""
    return render(
        request,
        "prevention.html",
        lang=lang,
        status_code=status_code,
        switch_path=request.url.path + (f"?unit_id={found.unit.id}" if found.unit is not None else ""),
        unit=found.unit,
        unit_title=unit_name(found.unit, lang) if found.unit is not None else t("prevention.top_units"),
        unit_kind=t(f"unit_kind.{found.unit.kind}") if found.unit is not None else "",
        trail=[(u.id, unit_name(u, lang)) for u in found.trail],
        periods=[
            (t(f"prevention.period.{every.value}"), period_name(every, found.periods[every.value], lang)) for every in Recurrence
        ],
        whole=_bar(found.whole, lang),
        units=units,
        rounds=rounds,
        class_size=_class_size(db, found.unit),
        csrf=csrf_token(ctx.secret, token),
        error=error,
        flash=flash,
    )


@router.get(PAGE)
def prevention_page(
    request: Request, db: Db, ctx: Ctx, principal: OptionalPrincipal, unit_id: QueryId = None, done: QueryId = None
) -> Response:
    """Prevention coverage of a unit (or of one's top units): each unit below with its done, due and overdue
    share, and the unit's own rounds with a form to mark one done."""
    lang = page_language(request, ctx.settings.default_language)
    if principal is None or request_token(request) is None:
        return sign_in_first(request, ctx, lang)
    flash = None
    if done is not None:
        row = db.get(MeasureRound, done)
        if row is not None and row.done_at is not None and principal.covers(row.unit_path):
            measure = prevention.measures(config(ctx).library()).get((row.playbook_type, row.measure_code))
            flash = translator(lang)("prevention.flash_done", label=_label(measure, row.measure_code, lang))
    return _page(request, db, ctx, principal, lang, unit_id, flash=flash)


def _whole_number(text: str, field: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 6:
        refusal = phrase("refusal.input.field", field=refusals.field_label(field), reason=phrase("refusal.input.whole_number"))
        raise InvalidInput(refusal, field=field, code=NOT_A_NUMBER)
    return int(text)


def _error_text(lang: str, exc: DomainError) -> str:
    t = translator(lang)
    if exc.field == "round_id":
        return t(_ROUND_ERRORS.get(exc.status_code, "prevention.error.missing"))
    if exc.code == NOT_A_NUMBER:
        return t("prevention.error.number")
    if exc.field in ("evidence", "covered", "population"):
        return t(f"prevention.error.{exc.field}")
    return exc.worded(lang)


@router.post(PAGE + "/rounds/{round_id}/complete")
def complete_submit(
    request: Request,
    round_id: PathId,
    db: Db,
    ctx: Ctx,
    principal: OptionalPrincipal,
    csrf: Annotated[str, Form(max_length=256, pattern=NO_NUL)] = "",
    evidence: Annotated[str, Form(max_length=4000, pattern=NO_NUL)] = "",
    covered: Annotated[str, Form(max_length=20, pattern=NO_NUL)] = "",
    population: Annotated[str, Form(max_length=20, pattern=NO_NUL)] = "",
    back: Annotated[int | None, Form(ge=1)] = None,
) -> Response:
    """Mark a round done from the page; back to the unit's page with a word of confirmation, or the page
    again with what was wrong."""
    lang = page_language(request, ctx.settings.default_language)
    token = request_token(request)
    if principal is None or token is None:
        return sign_in_first(request, ctx, lang)
    what = f"POST {PAGE}/rounds/{{round_id}}/complete"
    if (refused := csrf_refused(request, ctx, principal, token, csrf, lang, what=what, back=PAGE)) is not None:
        return refused
    try:
        counts = _whole_number(covered, "covered"), _whole_number(population, "population")
        prevention.complete_round(db, ctx.clock, principal, round_id, evidence or None, *counts, library=config(ctx).library())
        db.commit()
    except DomainError as exc:
        db.rollback()
        return _page(request, db, ctx, principal, lang, back, status_code=exc.status_code, error=_error_text(lang, exc))
    target = f"{PAGE}?unit_id={back}&done={round_id}" if back is not None else f"{PAGE}?done={round_id}"
    return redirect(request, target, lang=lang)
