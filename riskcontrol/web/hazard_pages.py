"""HTML routes of 随手拍 · 隐患上报: a phone form to report a hazard with photos, and the reporter's own reports.

Server-rendered, no script: a dorm head, a class monitor, a counsellor or any member of staff (not the
administrator) who sees a broken fire door or a blocked exit says what it is and where, takes one to three
photos and sends one multipart form carrying the session's CSRF token. The hazard (origin `report`, state
reported) and its photos are saved in one transaction and the nearest safety officers are told in the app;
a refused form comes back with every typed value kept, the field at fault named, and nothing saved.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.types import Message, Receive

from riskcontrol.core.errors import DomainError, InvalidInput, TooLarge
from riskcontrol.core.http import NO_NUL, AppContext, Ctx, Db, QueryId, record_denial, request_token
from riskcontrol.core.i18n import phrase
from riskcontrol.core.images import MAX_PHOTO_BYTES
from riskcontrol.core.instants import in_range
from riskcontrol.core.security import Principal, csrf_token
from riskcontrol.grid.models import OrgUnit
from riskcontrol.hazards import photos, service
from riskcontrol.hazards.inspections import config as inspection_config
from riskcontrol.hazards.models import Hazard
from riskcontrol.hazards.places import PlaceKind, Places
from riskcontrol.hazards.schemas import HazardIn, PointIn
from riskcontrol.web.pages import REPORTERS, OptionalPrincipal, csrf_refused, shown_at, sign_in_first, unit_name
from riskcontrol.web.templating import page_language, redirect, render, translator

router = APIRouter(include_in_schema=False)

PAGE: Final = "/hazards/report"
MINE: Final = "/hazards/mine"
MAX_REPORT_PHOTOS: Final = 3
# Three photos of at most 5 MB each, the text fields and the multipart framing: a longer body is cut off.
MAX_REPORT_BYTES: Final = MAX_REPORT_PHOTOS * MAX_PHOTO_BYTES + 256 * 1024
# The form's named fields and its photos, with a little room; a text part holds at most 64 KB.
MAX_FORM_FIELDS: Final = 16
MAX_TEXT_PART_BYTES: Final = 64 * 1024
FIELDS: Final = ("title", "category", "place", "where", "floor", "description", "found_at", "unit_id")
WHEN_FORMAT: Final = "%Y-%m-%dT%H:%M"
MAX_LISTED: Final = 200
# The ledger's fields as the form names them.
_FORM_FIELD: Final = {"building": "where", "location": "place"}
# Refusals of the ledger, in the page's words.
_LEDGER_WORDS: Final = {
    "category": "hazard_report.error.category",
    "found_at": "hazard_report.error.future",
    "unit_id": "hazard_report.error.unit",
}

Translate = Callable[..., str]


class ReportForm(BaseModel):
    """The report form's text as sent (trimmed): each field bounded, none may hold NUL."""

    model_config = ConfigDict(extra="ignore")

    title: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    category: str = Field(min_length=1, max_length=40, pattern=NO_NUL)
    place: str = Field(max_length=32, pattern=NO_NUL)
    where: str = Field(max_length=60, pattern=NO_NUL)
    floor: str = Field(max_length=20, pattern=NO_NUL)
    description: str = Field(max_length=8000, pattern=NO_NUL)
    found_at: str = Field(max_length=40, pattern=NO_NUL)
    unit_id: str = Field(max_length=12, pattern=NO_NUL)


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True)
class PlaceGroup:
    label: str
    places: list[Option]


@dataclass(frozen=True)
class ReportLine:
    """One of the reporter's hazards as their list shows it."""

    id: int
    title: str
    place: str
    found: str
    state: str
    state_label: str


class Refusal(Exception):
    """The form is refused: the field at fault (empty when it is the form as a whole) and the words to show."""

    def __init__(self, field: str, message: str, status_code: int = 422) -> None:
        super().__init__(message)
        self.field, self.message, self.status_code = field, message, status_code


def _refuse_admin(request: Request, ctx: AppContext, principal: Principal, lang: str, what: str) -> Response | None:
    """None for the grid's roles; the administrator, who reports nothing from the field, gets the 403 page."""
    if principal.has_role(*REPORTERS):
        return None
    record_denial(ctx, principal, what, "hazard reports from the page are for the grid's roles", 403)
    message = translator(lang)("hazard_report.error.forbidden")
    return render(request, "error.html", lang=lang, status_code=403, switch_path=PAGE, message=message)


def own_units(db: Session, principal: Principal) -> list[OrgUnit]:
    """The units the caller holds a reporting role at, narrowest first."""
    paths = {path for role, path in principal.grants if role in REPORTERS}
    if not paths:
        return []
    units = db.execute(select(OrgUnit).where(OrgUnit.path.in_(paths))).scalars()
    return sorted(units, key=lambda unit: (-unit.path.count("/"), unit.path))


def _input_value(ctx: AppContext, at: datetime) -> str:
    """The value of a datetime-local field (a machine format the browser shows in its own words)."""
    return at.astimezone(ctx.settings.tz).strftime(WHEN_FORMAT)


def _form_page(
    request: Request,
    db: Session,
    ctx: AppContext,
    principal: Principal,
    lang: str,
    *,
    values: dict[str, str] | None = None,
    refusal: Refusal | None = None,
) -> Response:
    t = translator(lang)
    cfg = inspection_config(ctx)
    places = cfg.places()
    units = own_units(db, principal)
    shown = dict.fromkeys(FIELDS, "") | (values or {})
    shown["found_at"] = shown["found_at"] or _input_value(ctx, ctx.clock.now())
    shown["unit_id"] = shown["unit_id"] or (str(units[0].id) if units else "")
    error = None
    if refusal is not None:
        label = t(f"hazard_report.field.{refusal.field}") if refusal.field in (*FIELDS, "photos") else ""
        error = t("hazard_report.error.summary", field=label, reason=refusal.message) if label else refusal.message
    return render(
        request,
        "hazard_report.html",
        lang=lang,
        status_code=refusal.status_code if refusal is not None else 200,
        values=shown,
        categories=[Option(c.code, c.en if lang == "en" else c.zh) for c in cfg.hazards.matrix().categories],
        place_groups=[
            PlaceGroup(t(f"hazard_report.place_kind.{kind.value}"), [Option(p.code, p.name(lang)) for p in places.of_kind(kind)])
            for kind in PlaceKind
            if places.of_kind(kind)
        ],
        units=[Option(str(unit.id), f"{unit_name(unit, lang)} · {t(f'unit_kind.{unit.kind}')}") for unit in units],
        errors={refusal.field: refusal.message} if refusal is not None and refusal.field else {},
        error=error,
        max_photos=MAX_REPORT_PHOTOS,
        csrf=csrf_token(ctx.secret, request_token(request) or ""),
    )


@router.get(PAGE)
def report_page(request: Request, db: Db, ctx: Ctx, principal: OptionalPrincipal) -> Response:
    """The report form: what, which kind, where, photos, when; the unit is the reporter's own."""
    lang = page_language(request, ctx.settings.default_language)
    if principal is None or request_token(request) is None:
        return sign_in_first(request, ctx, lang)
    if (refused := _refuse_admin(request, ctx, principal, lang, f"GET {PAGE}")) is not None:
        return refused
    return _form_page(request, db, ctx, principal, lang)


# --- reading the form ----------------------------------------------------------------------------


def _too_large() -> TooLarge:
    return TooLarge(phrase("refusal.hazard.report_too_large", megabytes=MAX_REPORT_BYTES // (1024 * 1024)), field="photos")


def _bounded(receive: Receive, limit: int) -> Receive:
    """`receive` that stops a request body longer than `limit` bytes while it streams in."""
    seen = 0

    async def bounded() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _too_large()
        return message

    return bounded


async def _read_form(request: Request) -> tuple[dict[str, str], list[bytes]]:
    """The form's text fields and the bytes of each photo sent (one past 5 MB is read only to 5 MB and a
    byte: enough to refuse it without holding it whole)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_REPORT_BYTES:
        raise _too_large()
    bounded = Request(request.scope, _bounded(request.receive, MAX_REPORT_BYTES))
    parts = bounded.form(max_files=MAX_REPORT_PHOTOS, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_TEXT_PART_BYTES)
    async with parts as form:
        fields = {key: value for key, value in form.multi_items() if isinstance(value, str)}
        # A file input left empty still sends a part, with no file name.
        uploads = [part for part in form.getlist("photos") if isinstance(part, UploadFile) and part.filename]
        return fields, [await upload.read(MAX_PHOTO_BYTES + 1) for upload in uploads]


# --- checking and saving -------------------------------------------------------------------------


def _invalid(t: Translate, invalid: ValidationError) -> Refusal:
    first = invalid.errors()[0]
    name = str(first["loc"][0]) if first["loc"] else ""
    field = _FORM_FIELD.get(name, name)
    if field == "category":
        return Refusal(field, t(_LEDGER_WORDS[field]))
    if first["type"] in ("missing", "string_too_short"):
        return Refusal(field, t("hazard_report.error.required"))
    if first["type"] == "string_too_long":
        return Refusal(field, t("hazard_report.error.too_long", max=first.get("ctx", {}).get("max_length", "")))
    return Refusal(field, t("hazard_report.error.text"))


def _found_at(ctx: AppContext, t: Translate, text: str) -> datetime | None:
    if not text:
        return None
    try:
        found = datetime.fromisoformat(text)
        return in_range(found if found.tzinfo is not None else found.replace(tzinfo=ctx.settings.tz))
    except ValueError:
        raise Refusal("found_at", t("hazard_report.error.found_at")) from None


def _hazard_in(ctx: AppContext, t: Translate, places: Places, units: list[OrgUnit], values: dict[str, str]) -> HazardIn:
    """The ledger's report from the form's text, or the refusal naming the field at fault."""
    try:
        form = ReportForm.model_validate(values)
    except ValidationError as invalid:
        raise _invalid(t, invalid) from None
    unit = next((unit for unit in units if str(unit.id) == form.unit_id), None)
    if unit is None:
        raise Refusal("unit_id", t("hazard_report.error.unit"))
    place = places.by_code.get(form.place) if form.place else None
    if form.place and place is None:
        raise Refusal("place", t("hazard_report.error.place_unknown"))
    if place is None and not form.where:
        raise Refusal("place", t("hazard_report.error.where"))
    try:
        return HazardIn(
            title=form.title,
            category=form.category,
            description=form.description,
            unit_id=unit.id,
            location=PointIn(type="Point", coordinates=(place.lon, place.lat)) if place is not None else None,
            # A chosen place is drawn on the map at its point; the ledger names it in Chinese, as inspections do.
            place=place.code if place is not None else "",
            building=" · ".join(part for part in (place.zh if place is not None else "", form.where) if part),
            floor=form.floor,
            found_at=_found_at(ctx, t, form.found_at),
        )
    except ValidationError as invalid:
        raise _invalid(t, invalid) from None


def _check_photos(t: Translate, raw_photos: list[bytes]) -> None:
    """Refuse the report, before anything is saved, unless it carries 1–3 photos that are images of at most 5 MB."""
    if not raw_photos:
        raise Refusal("photos", t("hazard_report.error.photos_missing"))
    for n, raw in enumerate(raw_photos, start=1):
        if len(raw) > MAX_PHOTO_BYTES:
            raise Refusal("photos", t("hazard_report.error.photo_size", n=n))
        try:
            photos.check_photo(raw, field="photos")
        except InvalidInput:
            raise Refusal("photos", t("hazard_report.error.photo_type", n=n)) from None


def _save(db: Session, ctx: AppContext, principal: Principal, data: HazardIn, raw_photos: list[bytes]) -> int:
    """The hazard, its photos and the word to the safety office in one transaction; on failure nothing stays,
    not even a photo file."""
    cfg = inspection_config(ctx).hazards
    written: list[Path] = []
    try:
        hazard = service.create_hazard(db, ctx.clock, cfg, principal, data, origin="report")
        for raw in raw_photos:
            photos.attach_photo(db, ctx.clock, cfg, principal, hazard, raw, caption="", field="photos")
            written.append(Path(hazard.photos[-1]["file"]))
        service.tell_safety_office(db, ctx.clock, cfg, hazard, principal)
        hazard_id = hazard.id
        db.commit()
    except BaseException:
        db.rollback()
        for path in written:
            path.unlink(missing_ok=True)
        if written:
            with contextlib.suppress(OSError):
                written[0].parent.rmdir()
        raise
    return hazard_id


def _report(
    request: Request,
    db: Session,
    ctx: AppContext,
    principal: Principal,
    lang: str,
    fields: dict[str, str],
    raw_photos: list[bytes],
) -> Response:
    t = translator(lang)
    values = {name: fields.get(name, "").strip() for name in FIELDS}
    try:
        data = _hazard_in(ctx, t, inspection_config(ctx).places(), own_units(db, principal), values)
        _check_photos(t, raw_photos)
        hazard_id = _save(db, ctx, principal, data, raw_photos)
    except Refusal as refusal:
        return _form_page(request, db, ctx, principal, lang, values=values, refusal=refusal)
    except DomainError as exc:
        if exc.denial:
            record_denial(ctx, principal, f"POST {PAGE}", str(exc), exc.status_code)
        field = exc.field or ""
        words = t(_LEDGER_WORDS[field]) if field in _LEDGER_WORDS else exc.worded(lang)
        status = 422 if exc.status_code == 400 else exc.status_code
        return _form_page(request, db, ctx, principal, lang, values=values, refusal=Refusal(field, words, status))
    return redirect(request, f"{MINE}?reported={hazard_id}", lang=lang)


@router.post(PAGE)
async def report_submit(request: Request, db: Db, ctx: Ctx, principal: OptionalPrincipal) -> Response:
    """Put a hazard on the ledger from the form, photos and all; on to one's own list with its number, or the
    form again with every typed value kept and what was wrong."""
    lang = page_language(request, ctx.settings.default_language)
    token = request_token(request)
    if principal is None or token is None:
        return sign_in_first(request, ctx, lang)
    what = f"POST {PAGE}"
    if (refused := await run_in_threadpool(_refuse_admin, request, ctx, principal, lang, what)) is not None:
        return refused
    t = translator(lang)
    try:
        fields, raw_photos = await _read_form(request)
    except TooLarge:
        refusal = Refusal("photos", t("hazard_report.error.too_large", max=MAX_REPORT_PHOTOS), 413)
        return await run_in_threadpool(_form_page, request, db, ctx, principal, lang, refusal=refusal)
    except HTTPException as exc:  # the multipart parser's refusals: too many files or fields, a part too large
        too_many = str(exc.detail).startswith("Too many files")
        refusal = (
            Refusal("photos", t("hazard_report.error.too_many", max=MAX_REPORT_PHOTOS))
            if too_many
            else Refusal("", t("hazard_report.error.unreadable"), 400)
        )
        return await run_in_threadpool(_form_page, request, db, ctx, principal, lang, refusal=refusal)
    csrf = fields.get("csrf", "")
    refused = await run_in_threadpool(csrf_refused, request, ctx, principal, token, csrf, lang, what=what, back=PAGE)
    if refused is not None:
        return refused
    return await run_in_threadpool(_report, request, db, ctx, principal, lang, fields, raw_photos)


# --- one's own reports ---------------------------------------------------------------------------


def _where(hazard: Hazard, places: Places, lang: str) -> str:
    """Where a hazard is, in the page language when it is one of the named places."""
    place = places.by_code.get(hazard.place)
    text = hazard.building or (place.name(lang) if place is not None else "")
    if place is not None and lang == "en" and text.startswith(place.zh):
        text = place.en + text[len(place.zh) :]
    return " · ".join(part for part in (text, hazard.floor) if part) or "—"


@router.get(MINE)
def mine_page(request: Request, db: Db, ctx: Ctx, principal: OptionalPrincipal, reported: QueryId = None) -> Response:
    """The hazards one has reported oneself (and no one else's), newest first, each with its state in words."""
    lang = page_language(request, ctx.settings.default_language)
    if principal is None or request_token(request) is None:
        return sign_in_first(request, ctx, lang)
    if (refused := _refuse_admin(request, ctx, principal, lang, f"GET {MINE}")) is not None:
        return refused
    t = translator(lang)
    places = inspection_config(ctx).places()
    stmt = select(Hazard).where(Hazard.found_by == principal.user_id).order_by(Hazard.id.desc()).limit(MAX_LISTED)
    lines = [
        ReportLine(
            id=hazard.id,
            title=hazard.title,
            place=_where(hazard, places, lang),
            found=shown_at(ctx, hazard.found_at, lang),
            state=hazard.state,
            state_label=t(f"hazard_report.state.{hazard.state}"),
        )
        for hazard in db.execute(stmt).scalars()
    ]
    flash = t("hazard_report.flash", id=reported) if any(line.id == reported for line in lines) else None
    return render(request, "hazard_mine.html", lang=lang, lines=lines, flash=flash, switch_path=MINE)
