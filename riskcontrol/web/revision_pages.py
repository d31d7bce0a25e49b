"""HTML routes of playbook revisions: the list in scope, one revision with its changes in words (and the file's diff
to download), and for a school leader other than the proposer the forms to adopt or reject it (each carrying the
session's CSRF token).

Server-rendered, no script: a leader reads what would change and why, and decides, from any browser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy import select

from riskcontrol.core.errors import DomainError
from riskcontrol.core.http import NO_NUL, AppContext, Ctx, Db, PathId, request_token
from riskcontrol.core.security import Principal, csrf_token
from riskcontrol.people.models import User
from riskcontrol.people.rules import STUDENT_ROLES
from riskcontrol.reviews import revisions
from riskcontrol.reviews.models import PlaybookRevision
from riskcontrol.reviews.revisions import DECIDERS, PROPOSED
from riskcontrol.reviews.schemas import DecisionIn, RejectIn
from riskcontrol.reviews.service import ReviewConfig
from riskcontrol.web.pages import OptionalPrincipal, csrf_refused, shown_at, sign_in_first
from riskcontrol.web.templating import page_language, redirect, render, translator

router = APIRouter(include_in_schema=False)

PAGE = "/playbook-revisions"


@dataclass(frozen=True)
class RevisionRow:
    id: int
    playbook: str
    base_version: int
    version: int
    status: str
    proposed: str
    proposer: str
    reason: str


def _cfg(ctx: AppContext) -> ReviewConfig:
    cfg: ReviewConfig = ctx.extras["reviews"]
    return cfg


def _label(cfg: ReviewConfig, playbook_type: str, lang: str) -> str:
    playbook = cfg.incidents.library().get(playbook_type)
    if playbook is None:
        return playbook_type
    return playbook.label.zh if lang == "zh-CN" else playbook.label.en


def _names(db: Db, ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    return {u.id: u.name for u in db.execute(select(User).where(User.id.in_(wanted))).scalars()} if wanted else {}


def _row(revision: PlaybookRevision, names: dict[int, str], cfg: ReviewConfig, lang: str, ctx: AppContext) -> RevisionRow:
    return RevisionRow(
        id=revision.id,
        playbook=_label(cfg, revision.playbook_type, lang),
        base_version=revision.base_version,
        version=revision.version,
        status=revision.status,
        proposed=shown_at(ctx, revision.proposed_at, lang, empty="—"),
        proposer=names.get(revision.proposed_by or 0, "—"),
        reason=revision.reason,
    )


def may_decide(principal: Principal, revision: PlaybookRevision) -> bool:
    return revision.status == PROPOSED and principal.has_role(*DECIDERS) and revision.proposed_by != principal.user_id


@router.get(PAGE)
def revisions_page(request: Request, ctx: Ctx, db: Db, principal: OptionalPrincipal) -> Response:
    """Playbook revisions in scope, those awaiting a decision first."""
    lang = page_language(request, ctx.settings.default_language)
    if principal is None:
        return sign_in_first(request, ctx, lang)
    found = [] if principal.roles <= STUDENT_ROLES else revisions.list_revisions(db, principal)
    found.sort(key=lambda r: r.status != PROPOSED)  # stable: newest first within each group
    names = _names(db, {r.proposed_by for r in found})
    cfg = _cfg(ctx)
    return render(request, "playbook_revisions.html", lang=lang, rows=[_row(r, names, cfg, lang, ctx) for r in found])


def _detail(
    request: Request,
    ctx: AppContext,
    db: Db,
    principal: Principal,
    lang: str,
    revision_id: int,
    *,
    status_code: int = 200,
    error: str | None = None,
    flash: str | None = None,
) -> Response:
    if principal.roles <= STUDENT_ROLES:
        return render(request, "error.html", lang=lang, status_code=404, message=translator(lang)("revisions.missing"))
    try:
        revision = revisions.get(db, principal, revision_id)
    except DomainError:
        return render(request, "error.html", lang=lang, status_code=404, message=translator(lang)("revisions.missing"))
    names = _names(db, {revision.proposed_by, revision.decided_by})
    cfg = _cfg(ctx)
    token = request_token(request) or ""
    return render(
        request,
        "playbook_revision.html",
        lang=lang,
        status_code=status_code,
        switch_path=f"{PAGE}/{revision.id}",
        row=_row(revision, names, cfg, lang, ctx),
        incident_id=revision.incident_id,
        changes=revisions.change_lines(revision, lang),
        decided=shown_at(ctx, revision.decided_at, lang, empty="—"),
        decider=names.get(revision.decided_by or 0, "—"),
        note=revision.decision_note,
        can_decide=may_decide(principal, revision),
        csrf=csrf_token(ctx.secret, token),
        error=error,
        flash=flash,
    )


@router.get(PAGE + "/{revision_id}")
def revision_page(
    request: Request, revision_id: PathId, ctx: Ctx, db: Db, principal: OptionalPrincipal, done: bool = False
) -> Response:
    """One revision: why, what changes, the diff; the decision, or the forms to make it."""
    lang = page_language(request, ctx.settings.default_language)
    if principal is None or request_token(request) is None:
        return sign_in_first(request, ctx, lang)
    flash = translator(lang)("revisions.flash_decided") if done else None
    return _detail(request, ctx, db, principal, lang, revision_id, flash=flash)


@router.post(PAGE + "/{revision_id}/decide")
def decide_submit(
    request: Request,
    revision_id: PathId,
    ctx: Ctx,
    db: Db,
    principal: OptionalPrincipal,
    decision: Annotated[Literal["adopt", "reject"], Form()],
    csrf: Annotated[str, Form(max_length=256, pattern=NO_NUL)] = "",
    note: Annotated[str, Form(max_length=4000, pattern=NO_NUL)] = "",
) -> Response:
    """Adopt or reject from the page; back to the revision with a word of confirmation, or with what was wrong."""
    lang = page_language(request, ctx.settings.default_language)
    token = request_token(request)
    if principal is None or token is None:
        return sign_in_first(request, ctx, lang)
    t = translator(lang)
    what = f"POST {PAGE}/{{revision_id}}/decide"
    if (refused := csrf_refused(request, ctx, principal, token, csrf, lang, what=what, back=PAGE)) is not None:
        return refused
    note = note.strip()
    if decision == "reject" and not note:
        return _detail(request, ctx, db, principal, lang, revision_id, status_code=422, error=t("revisions.error.note"))
    try:
        if decision == "adopt":
            revisions.adopt(db, ctx.clock, _cfg(ctx), principal, revision_id, DecisionIn(note=note))
        else:
            revisions.reject(db, ctx.clock, _cfg(ctx), principal, revision_id, RejectIn(note=note))
        db.commit()
    except DomainError as exc:
        db.rollback()
        return _detail(request, ctx, db, principal, lang, revision_id, status_code=exc.status_code, error=exc.worded(lang))
    return redirect(request, f"{PAGE}/{revision_id}?done=1", lang=lang)
