"""HTTP API of playbook revisions: the text in force, proposing from an improvement action, adopting, rejecting."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from riskcontrol.core.errors import error_responses
from riskcontrol.core.http import AppContext, Ctx, CurrentPrincipal, Db, PathId, ReaderLanguage
from riskcontrol.reviews import revisions
from riskcontrol.reviews.models import PlaybookRevision
from riskcontrol.reviews.schemas import DecisionIn, RejectIn, RevisionFullOut, RevisionIn, RevisionOut
from riskcontrol.reviews.service import ReviewConfig

router = APIRouter(prefix="/api/v1", tags=["playbook revisions"])

TypeCode = Annotated[str, Path(max_length=40, pattern=r"^[a-z][a-z0-9_]*$")]
Status = Literal["proposed", "adopted", "rejected", "superseded"]


def _cfg(ctx: AppContext) -> ReviewConfig:
    cfg: ReviewConfig = ctx.extras["reviews"]
    return cfg


def _fields(revision: PlaybookRevision, lang: str, shape: type[RevisionOut]) -> dict[str, object]:
    out = {name: getattr(revision, name) for name in shape.model_fields}
    return out | {"changes": revisions.change_lines(revision, lang)}


def revision_out(revision: PlaybookRevision, lang: str) -> RevisionOut:
    """The revision, its changes worded in `lang`."""
    return RevisionOut.model_validate(_fields(revision, lang, RevisionOut))


def revision_full(revision: PlaybookRevision, lang: str) -> RevisionFullOut:
    """The revision with its text and diff, its changes worded in `lang`."""
    return RevisionFullOut.model_validate(_fields(revision, lang, RevisionFullOut))


@router.get(
    "/playbooks/{playbook_type}/source",
    responses={200: {"content": {"text/yaml": {}}}, **error_responses(403, 404)},
)
def playbook_source(playbook_type: TypeCode, ctx: Ctx, principal: CurrentPrincipal) -> Response:
    """The YAML text of the playbook in force, to edit into a revision."""
    text = revisions.source(_cfg(ctx), principal, playbook_type)
    return Response(text, media_type="text/yaml; charset=utf-8")


@router.post("/actions/{action_id}/playbook-revisions", status_code=201, responses=error_responses(403, 404, 409, 422))
def propose_revision(
    action_id: PathId, body: RevisionIn, db: Db, ctx: Ctx, principal: CurrentPrincipal, lang: ReaderLanguage
) -> RevisionFullOut:
    """Propose the next version of a playbook (its whole text, `version` raised by one) and say why."""
    revision = revisions.propose(db, ctx.clock, _cfg(ctx), principal, action_id, body)
    out = revision_full(revision, lang)
    db.commit()
    return out


@router.get("/playbook-revisions")
def list_revisions(
    db: Db,
    principal: CurrentPrincipal,
    lang: ReaderLanguage,
    status: Status | None = None,
    playbook_type: Annotated[str | None, Query(alias="type", max_length=40, pattern=r"^[a-z][a-z0-9_]*$")] = None,
) -> list[RevisionOut]:
    """Revisions in your scope, newest first; their changes in the reader's language."""
    return [revision_out(r, lang) for r in revisions.list_revisions(db, principal, status=status, playbook_type=playbook_type)]


@router.get("/playbook-revisions/{revision_id}", responses=error_responses(404))
def get_revision(revision_id: PathId, db: Db, principal: CurrentPrincipal, lang: ReaderLanguage) -> RevisionFullOut:
    """One revision with its text, its changes (in the reader's language) and the diff against the version it was made from."""
    return revision_full(revisions.get(db, principal, revision_id), lang)


@router.get("/playbook-revisions/{revision_id}/diff", responses={200: {"content": {"text/x-diff": {}}}, **error_responses(404)})
def revision_diff(revision_id: PathId, db: Db, principal: CurrentPrincipal) -> Response:
    """The unified diff of the playbook file, to download and read line by line (comments included)."""
    revision = revisions.get(db, principal, revision_id)
    name = f"{revision.playbook_type}-v{revision.base_version}-v{revision.version}.diff"
    return Response(
        revision.diff,
        media_type="text/x-diff; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post("/playbook-revisions/{revision_id}/adopt", responses=error_responses(403, 404, 409, 422))
def adopt_revision(
    revision_id: PathId, body: DecisionIn, db: Db, ctx: Ctx, principal: CurrentPrincipal, lang: ReaderLanguage
) -> RevisionFullOut:
    """Adopt the revision (a school leader, not its proposer): the playbook file is replaced, with the record."""
    revision = revisions.adopt(db, ctx.clock, _cfg(ctx), principal, revision_id, body)
    out = revision_full(revision, lang)
    db.commit()
    return out


@router.post("/playbook-revisions/{revision_id}/reject", responses=error_responses(403, 404, 409, 422))
def reject_revision(
    revision_id: PathId, body: RejectIn, db: Db, ctx: Ctx, principal: CurrentPrincipal, lang: ReaderLanguage
) -> RevisionOut:
    """Reject the revision, saying why."""
    revision = revisions.reject(db, ctx.clock, _cfg(ctx), principal, revision_id, body)
    out = revision_out(revision, lang)
    db.commit()
    return out
