"""HTML routes of inspection rounds: the rounds in one's care, and a phone page to walk one's checklist.

Server-rendered so that it works on any phone without a script: a safety officer sees the rounds of
the places in their care (missed first), opens one, ticks every item ok or failed (a failed one says
what was found, and on which floor), and hands it in with a form carrying the session's CSRF token.
The page script only helps: it shows the failure fields of failed items, counts what is ticked, ticks
the rest ok on request, and keeps a walk in progress across a reload.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from riskcontrol.core import refusals
from riskcontrol.core.errors import DomainError
from riskcontrol.core.http import AppContext, Ctx, Db, PathId, QueryId, record_denial, request_token
from riskcontrol.core.periods import Every
from riskcontrol.core.security import Principal, csrf_token
from riskcontrol.hazards import inspections
from riskcontrol.hazards.inspection_models import InspectionRound
from riskcontrol.hazards.inspection_rules import Item, KindPlan, Status
from riskcontrol.hazards.inspection_schemas import CompleteIn
from riskcontrol.hazards.inspections import InspectionConfig, RoundView, config
from riskcontrol.web.pages import OptionalPrincipal, csrf_refused, shown_at, sign_in_first
from riskcontrol.web.templating import page_language, redirect, render, translator
from riskcontrol.web.warning_pages import script_messages

router = APIRouter(include_in_schema=False)

PAGE: Final = "/inspections"
OK, FAILED = "ok", "failed"
_ROUND_ERRORS: Final = {403: "inspection.error.forbidden", 409: "inspection.error.conflict"}
# The prevention page's colours: open rounds are amber, missed red, done green.
TONES: Final = {"open": "due", "missed": "overdue", "done": "done", "late": "late"}
# A checklist has at most 100 items, each with three fields; the rest is the token, note and start time.
MAX_FORM_FIELDS: Final = 320


@dataclass(frozen=True)
class RoundLine:
    """A round as the list shows it."""

    id: int
    place: str
    label: str
    period: str
    status: str
    tone: str
    status_label: str
    due: str
    done: str | None
    found: str | None
    may_complete: bool


@dataclass(frozen=True)
class ItemLine:
    """A checklist item on the walk page, with what was ticked (or handed in) for it."""

    code: str
    label: str
    hint: str | None
    verdict: str
    note: str
    floor: str
    hazard_id: int | None
    error: str | None


def period_name(every: Every | None, code: str, lang: str) -> str:
    """A period code in words: 2026-W48 → 2026年第48周, 2026-12 → 2026年12月, 2026-autumn → 2026年秋季学期."""
    t = translator(lang)
    year, rest = code.split("-", 1)
    match every:
        case Every.WEEK:
            return t("inspection.week", year=year, week=int(rest.lstrip("W")))
        case Every.MONTH:
            return t("inspection.month", year=year, month=int(rest))
        case Every.TERM:
            return t(f"inspection.term.{rest}", year=year)
        case Every.YEAR:
            return t("inspection.academic_year", first=year, second=rest)
        case None:
            return code


def _status(view: RoundView) -> str:
    return "late" if view.status is Status.DONE and view.round.late else view.status.value


def _round_line(ctx: AppContext, cfg: InspectionConfig, view: RoundView, lang: str) -> RoundLine:
    t = translator(lang)
    row = view.round
    kp = cfg.plan().kind(row.place_kind)
    status = _status(view)
    done = found = None
    if row.done_at is not None:
        at = shown_at(ctx, row.done_at, lang)
        done = t("inspection.done_by", name=view.inspector_name, at=at) if view.inspector_name else t("inspection.done_at", at=at)
        found = t("inspection.found", count=len(row.hazard_ids)) if row.hazard_ids else t("inspection.all_ok")
    return RoundLine(
        id=row.id,
        place=inspections.place_name(cfg.places(), row.place_code, lang),
        label=inspections.kind_label(cfg.plan(), row.place_kind, lang),
        period=period_name(kp.every if kp else None, row.period, lang),
        status=status,
        tone=TONES[status],
        status_label=t(f"inspection.status.{status}"),
        due=t("inspection.due_by", due=shown_at(ctx, row.due_at, lang)),
        done=done,
        found=found,
        may_complete=view.may_complete,
    )


@router.get(PAGE)
def inspections_page(request: Request, db: Db, ctx: Ctx, principal: OptionalPrincipal, done: QueryId = None) -> Response:
    """The rounds of this period in one's care: missed and open ones to walk, then those done."""
    lang = page_language(request, ctx.settings.default_language)
    if principal is None or request_token(request) is None:
        return sign_in_first(request, ctx, lang)
    t = translator(lang)
    cfg = config(ctx)
    lines = [_round_line(ctx, cfg, view, lang) for view in inspections.list_rounds(db, ctx.clock, cfg, principal)]
    flash = None
    if done is not None:
        row = db.get(InspectionRound, done)
        if row is not None and row.done_at is not None and principal.covers(row.unit_path):
            place = inspections.place_name(cfg.places(), row.place_code, lang)
            key = "inspection.flash_hazards" if row.hazard_ids else "inspection.flash_done"
            flash = t(key, place=place, count=len(row.hazard_ids))
    return render(
        request,
        "inspections.html",
        lang=lang,
        todo=[line for line in lines if line.status in (Status.MISSED, Status.OPEN)],
        done=[line for line in lines if line.status not in (Status.MISSED, Status.OPEN)],
        flash=flash,
    )


def _items(kp: KindPlan | None, row: InspectionRound, values: dict[str, dict[str, str]], lang: str) -> list[ItemLine]:
    """The checklist with what was handed in (a done round) or ticked so far (a form sent back)."""
    handed_in = {result["code"]: result for result in row.results}
    lines = []
    for item in kp.items if kp is not None else ():
        given = handed_in.get(item.code)
        value = values.get(item.code, {})
        if given is not None:
            verdict, note, floor = (OK if given["ok"] else FAILED), given["note"], given.get("floor", "")
        else:
            verdict, note, floor = value.get("verdict", ""), value.get("note", ""), value.get("floor", "")
        hint = item.hint.en if item.hint and lang == "en" else item.hint.zh if item.hint else None
        lines.append(
            ItemLine(
                code=item.code,
                label=item.label(lang),
                hint=hint,
                verdict=verdict,
                note=note,
                floor=floor,
                hazard_id=given.get("hazard_id") if given else None,
                error=value.get("error"),
            )
        )
    return lines


def _walk_page(
    request: Request,
    db: Session,
    ctx: AppContext,
    principal: Principal,
    lang: str,
    round_id: int,
    *,
    values: dict[str, dict[str, str]] | None = None,
    note: str = "",
    started_at: str | None = None,
    status_code: int = 200,
    error: str | None = None,
) -> Response:
    t = translator(lang)
    cfg = config(ctx)
    try:
        view = inspections.get_round(db, ctx.clock, principal, round_id)
    except DomainError as exc:
        if exc.denial:
            db.rollback()  # the denial is written apart; on SQLite this session must not hold the lock meanwhile
            record_denial(ctx, principal, f"GET {PAGE}/{{round_id}}", str(exc), exc.status_code)
        return render(request, "error.html", lang=lang, status_code=exc.status_code, message=t("inspection.error.missing"))
    row = view.round
    kp = cfg.plan().kind(row.place_kind)
    return render(
        request,
        "inspection_round.html",
        lang=lang,
        status_code=status_code,
        line=_round_line(ctx, cfg, view, lang),
        items=_items(kp, row, values or {}, lang),
        done=row.done_at is not None,
        started=shown_at(ctx, row.started_at, lang) if row.started_at else None,
        round_note=row.note if row.done_at is not None else note,
        started_at=started_at or ctx.clock.now().isoformat(timespec="seconds"),
        csrf=csrf_token(ctx.secret, request_token(request) or ""),
        messages=script_messages(lang, "inspection.js."),
        error=error,
    )


@router.get(PAGE + "/{round_id}")
def round_page(request: Request, round_id: PathId, db: Db, ctx: Ctx, principal: OptionalPrincipal) -> Response:
    """One round: its checklist to walk, item by item (or, once done, every item as handed in)."""
    lang = page_language(request, ctx.settings.default_language)
    if principal is None or request_token(request) is None:
        return sign_in_first(request, ctx, lang)
    return _walk_page(request, db, ctx, principal, lang, round_id)


def _form_values(kp: KindPlan | None, form: dict[str, str]) -> dict[str, dict[str, str]]:
    """What the form says of each checklist item: verdict (ok, failed or nothing), note and floor."""
    return {
        item.code: {
            "verdict": form.get(f"result.{item.code}", ""),
            "note": form.get(f"note.{item.code}", ""),
            "floor": form.get(f"floor.{item.code}", ""),
        }
        for item in (kp.items if kp is not None else ())
    }


def _body(values: dict[str, dict[str, str]], note: str, started_at: str) -> tuple[CompleteIn, list[str]]:
    """The API's body from the form (items not ticked left out), and the item codes in the order sent."""
    ticked = [(code, value) for code, value in values.items() if value["verdict"] in (OK, FAILED)]
    body = CompleteIn.model_validate(
        {
            "results": [
                {"code": code, "ok": value["verdict"] == OK, "note": value["note"], "floor": value["floor"]}
                for code, value in ticked
            ],
            "note": note,
            "started_at": started_at or None,
        }
    )
    return body, [code for code, _ in ticked]


def _explain(lang: str, exc: DomainError, items: tuple[Item, ...], values: dict[str, dict[str, str]], sent: list[str]) -> str:
    """The page's words for a refusal; an item at fault is marked on the form too."""
    t = translator(lang)
    field = exc.field or ""
    if field == "round_id":
        return t(_ROUND_ERRORS.get(exc.status_code, "inspection.error.missing"))
    if field == "results":
        unticked = [item for item in items if values.get(item.code, {}).get("verdict") not in (OK, FAILED)]
        for item in unticked:
            values[item.code]["error"] = t("inspection.error.untick_one")
        names = "、".join(item.label(lang) for item in unticked) if lang != "en" else ", ".join(i.label(lang) for i in unticked)
        return t("inspection.error.unticked", count=len(unticked), items=names)
    parts = field.split(".")
    if len(parts) == 3 and parts[0] == "results" and parts[1].isdigit() and int(parts[1]) < len(sent):
        code = sent[int(parts[1])]
        label = next((item.label(lang) for item in items if item.code == code), code)
        values[code]["error"] = t("inspection.error.note_one")
        return t("inspection.error.note", item=label)
    if field == "started_at":
        return t("inspection.error.started_at")
    return t("inspection.error.invalid", message=exc.worded(lang))


def _complete(
    request: Request, db: Session, ctx: AppContext, principal: Principal, lang: str, round_id: int, form: dict[str, str]
) -> Response:
    cfg = config(ctx)
    row = db.get(InspectionRound, round_id)
    kp = cfg.plan().kind(row.place_kind) if row is not None else None
    values = _form_values(kp, form)
    note, started_at = form.get("note", ""), form.get("started_at", "")
    sent: list[str] = []
    try:
        try:
            body, sent = _body(values, note, started_at)
        except ValidationError as invalid:
            raise refusals.invalid(invalid) from None
        inspections.complete_round(db, ctx.clock, cfg, principal, round_id, body)
        db.commit()
    except DomainError as exc:
        db.rollback()  # the denial is written apart; on SQLite this session must not hold the lock meanwhile
        if exc.denial:
            record_denial(ctx, principal, f"POST {PAGE}/{{round_id}}/complete", str(exc), exc.status_code)
        if exc.status_code == 404:
            missing = translator(lang)("inspection.error.missing")
            return render(request, "error.html", lang=lang, status_code=404, switch_path=PAGE, message=missing)
        message = _explain(lang, exc, kp.items if kp is not None else (), values, sent)
        status = 422 if exc.status_code == 400 else exc.status_code
        return _walk_page(
            request,
            db,
            ctx,
            principal,
            lang,
            round_id,
            values=values,
            note=note,
            started_at=started_at,
            status_code=status,
            error=message,
        )
    return redirect(request, f"{PAGE}?done={round_id}", lang=lang)


@router.post(PAGE + "/{round_id}/complete")
async def complete_submit(request: Request, round_id: PathId, db: Db, ctx: Ctx, principal: OptionalPrincipal) -> Response:
    """Hand in a walked round from the page; on to the list with a word of what was filed, or the page again
    with every tick kept and what was wrong."""
    lang = page_language(request, ctx.settings.default_language)
    token = request_token(request)
    if principal is None or token is None:
        return sign_in_first(request, ctx, lang)
    # The fields are named after the checklist's items, so the form is read as a whole.
    async with request.form(max_files=0, max_fields=MAX_FORM_FIELDS) as raw:
        form = {key: value for key, value in raw.multi_items() if isinstance(value, str)}
    what = f"POST {PAGE}/{{round_id}}/complete"
    csrf = form.get("csrf", "")
    refused = await run_in_threadpool(csrf_refused, request, ctx, principal, token, csrf, lang, what=what, back=PAGE)
    if refused is not None:
        return refused
    return await run_in_threadpool(_complete, request, db, ctx, principal, lang, round_id, form)
