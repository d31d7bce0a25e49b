"""Playbook revisions (预案修订) proposed from improvement actions: the loop from a review back into the plans.

Whoever owns an improvement action (or records reviews) proposes the next version of a playbook as its
whole YAML text, with `version` raised by one, and says why. The text is checked exactly as the playbook
file would be (every error by line and field) and compared with the version in force: the proposal keeps
what it changes, change by change (worded when read, in the reader's language), and the file's diff. A
school leader other than the proposer adopts it or rejects it. Adopting appends the revision record (version,
date, why, what changed in both languages, where it came from) to the text and replaces the playbook file;
incidents opened from then on follow the new version, while every incident already open keeps the version it
started with. A proposal made against a version that is no longer in force cannot be adopted: it is superseded
when another revision of that version is adopted. An action is not closed while a revision it proposed waits
for the decision.
"""

from __future__ import annotations

import difflib
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from riskcontrol.core import audit, i18n
from riskcontrol.core.clock import Clock
from riskcontrol.core.db import missing_or_private
from riskcontrol.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from riskcontrol.core.i18n import phrase
from riskcontrol.core.security import Principal
from riskcontrol.core.shapes import Label
from riskcontrol.grid.service import scope_clause
from riskcontrol.incidents import board
from riskcontrol.incidents.models import Incident
from riskcontrol.incidents.playbook_diff import Change, changes, stored
from riskcontrol.incidents.playbook_rules import Playbook, Revision
from riskcontrol.incidents.playbooks import (
    check_text,
    diff_names,
    playbook_path,
    revisions_last_problem,
    with_revision,
    write_playbook,
)
from riskcontrol.observations.catalog import load_checklist
from riskcontrol.people import service as people_service
from riskcontrol.people.models import User
from riskcontrol.people.rules import STUDENT_ROLES, Role
from riskcontrol.reviews import actions
from riskcontrol.reviews.models import ImprovementAction, PlaybookRevision
from riskcontrol.reviews.schemas import DecisionIn, RejectIn, RevisionIn
from riskcontrol.reviews.service import RECORDERS, ReviewConfig, tell

SUBJECT: Final = "playbook_revision"
PROPOSED, ADOPTED, REJECTED, SUPERSEDED = "proposed", "adopted", "rejected", "superseded"
# Emergency plans are the school's: its leaders adopt a new version.
DECIDERS: Final = (Role.LEADER,)
SHOWN_ERRORS: Final = 5


def _tell(
    db: Session, clock: Clock, cfg: ReviewConfig, revision: PlaybookRevision, users: list[User], kind: str, body: i18n.Phrase
) -> list[int]:
    playbook = cfg.incidents.library().get(revision.playbook_type)
    named = playbook.label if playbook is not None else revision.playbook_type
    name = i18n.phrase("notice.revision.name", playbook=named, version=revision.version)
    return tell(
        db,
        clock,
        cfg,
        users,
        kind=kind,
        title=i18n.phrase("notice.revision.title", name=name),
        body=body,
        sms=i18n.phrase("notice.revision.sms", name=name, body=body),
        data={"revision_id": revision.id, "action_id": revision.action_id, "incident_id": revision.incident_id},
        subject=(SUBJECT, revision.id),
    )


def current_text(cfg: ReviewConfig, playbook_type: str) -> tuple[Playbook, str]:
    """The playbook of `playbook_type` in force and its file's text."""
    playbook = cfg.incidents.library().get(playbook_type)
    if playbook is None:
        raise NotFound(phrase("refusal.revision.no_playbook", type=playbook_type), field="playbook_type")
    return playbook, playbook_path(cfg.incidents.playbook_dir, playbook_type).read_text(encoding="utf-8")


def source(cfg: ReviewConfig, principal: Principal, playbook_type: str) -> str:
    """The YAML text of a playbook in force (staff only), to edit into a proposal."""
    if not principal.roles or principal.roles <= STUDENT_ROLES:
        raise Forbidden(phrase("refusal.revision.staff_only"))
    return current_text(cfg, playbook_type)[1]


def _items(cfg: ReviewConfig) -> list[str]:
    return [item.code for item in load_checklist(cfg.sop_dir).items]


def _check(cfg: ReviewConfig, playbook_type: str, text: str, current: Playbook) -> Playbook:
    """The proposed playbook, or a 422 on `text` naming every problem by line and field."""
    proposed, errors = check_text(playbook_type, text, cfg.incidents.sop(), checklist_items=_items(cfg))
    if proposed is None:
        # The checker's findings name the YAML's lines and keys, as `riskcontrol playbooks check` prints them.
        shown = "; ".join(f"line {e.line or '?'}: {e.field}: {e.reason}" for e in errors[:SHOWN_ERRORS])
        if len(errors) > SHOWN_ERRORS:
            refusal = phrase("refusal.revision.problems_more", count=len(errors), shown=shown, more=len(errors) - SHOWN_ERRORS)
        else:
            refusal = phrase("refusal.revision.problems", count=len(errors), shown=shown)
        raise InvalidInput(refusal, field="text")
    if (problem := revisions_last_problem(text)) is not None:
        raise InvalidInput(problem, field="text")
    if proposed.version != current.version + 1:
        raise InvalidInput(phrase("refusal.revision.version", next=current.version + 1, current=current.version), field="text")
    if proposed.revisions != current.revisions:
        raise InvalidInput(phrase("refusal.revision.revisions_edited"), field="text")
    return proposed


def propose(
    db: Session, clock: Clock, cfg: ReviewConfig, principal: Principal, action_id: int, data: RevisionIn
) -> PlaybookRevision:
    """Put a new version of a playbook forward from an improvement action, for a leader to adopt."""
    action = actions.get(db, principal, action_id)
    if action.owner_user_id != principal.user_id and not principal.has_role(*RECORDERS):
        raise Forbidden(phrase("refusal.revision.propose_forbidden"))
    if action.status == actions.DONE:
        raise Conflict(phrase("refusal.action.closed"), field="action_id")
    incident = db.get(Incident, action.incident_id)
    assert incident is not None
    playbook_type = data.playbook_type or incident.type
    current, old_text = current_text(cfg, playbook_type)
    pending = db.execute(
        select(PlaybookRevision.id).where(
            PlaybookRevision.action_id == action.id,
            PlaybookRevision.playbook_type == playbook_type,
            PlaybookRevision.status == PROPOSED,
        )
    ).scalar_one_or_none()
    if pending is not None:
        raise Conflict(phrase("refusal.revision.pending", id=pending), field="action_id")
    proposed = _check(cfg, playbook_type, data.text, current)
    found = changes(current, proposed, diff_names(cfg.sop_dir))
    if not found:
        raise InvalidInput(phrase("refusal.revision.no_change", playbook=current.label, version=current.version), field="text")
    diff = "".join(
        difflib.unified_diff(
            old_text.splitlines(keepends=True),
            data.text.splitlines(keepends=True),
            fromfile=f"{playbook_type}.yaml v{current.version}",
            tofile=f"{playbook_type}.yaml v{proposed.version}",
        )
    )
    revision = PlaybookRevision(
        action_id=action.id,
        incident_id=incident.id,
        unit_path=action.unit_path,
        playbook_type=playbook_type,
        base_version=current.version,
        version=proposed.version,
        text=data.text,
        reason=data.reason,
        changes=[change.model_dump(mode="json") for change in found],
        diff=diff,
        status=PROPOSED,
        proposed_by=principal.user_id,
        proposed_at=clock.now(),
        decision_note="",
        adopted_text="",
    )
    db.add(revision)
    db.flush()
    board.record(
        db,
        clock,
        cfg.incidents,
        incident,
        "revision_proposed",
        principal.user_id,
        revision_id=revision.id,
        action_id=action.id,
        playbook=playbook_type,
        version=proposed.version,
    )
    _tell(
        db,
        clock,
        cfg,
        revision,
        people_service.holders_at_root(db, action.unit_path, DECIDERS),
        "playbook.revision_proposed",
        i18n.phrase("notice.revision.proposed.body", action=action.title, changes=len(found)),
    )
    audit.record(
        db,
        clock,
        actor_user_id=principal.user_id,
        actor=principal.username,
        action="playbook_revision.propose",
        subject_type=SUBJECT,
        subject_id=revision.id,
    )
    return revision


def change_lines(revision: PlaybookRevision, lang: str) -> list[str]:
    """What the revision changes, one line each, in `lang`."""
    return [change if isinstance(change, str) else i18n.word(lang, change.phrase()) for change in stored(revision.changes)]


def _both(change: Change | str) -> Label | str:
    """A change as the playbook file's revision record keeps it: worded in both languages."""
    if isinstance(change, str):
        return change
    return Label(zh=i18n.word(i18n.DEFAULT_LANGUAGE, change.phrase()), en=i18n.word("en", change.phrase()))


def get(db: Session, principal: Principal, revision_id: int) -> PlaybookRevision:
    revision = db.get(PlaybookRevision, revision_id)
    if revision is None or not (principal.covers(revision.unit_path) or revision.proposed_by == principal.user_id):
        refusal = phrase("refusal.revision.not_found", id=revision_id)
        raise missing_or_private(db, PlaybookRevision, revision_id, message=refusal, field="revision_id")
    return revision


def list_revisions(
    db: Session, principal: Principal, *, status: str | None = None, playbook_type: str | None = None
) -> list[PlaybookRevision]:
    """Revisions in scope (or proposed by the caller), newest first."""
    stmt = select(PlaybookRevision).where(
        scope_clause(principal, PlaybookRevision.unit_path) | (PlaybookRevision.proposed_by == principal.user_id)
    )
    if status is not None:
        stmt = stmt.where(PlaybookRevision.status == status)
    if playbook_type is not None:
        stmt = stmt.where(PlaybookRevision.playbook_type == playbook_type)
    return list(db.execute(stmt.order_by(PlaybookRevision.proposed_at.desc(), PlaybookRevision.id.desc())).scalars())


def of_action(db: Session, action_id: int) -> list[PlaybookRevision]:
    stmt = select(PlaybookRevision).where(PlaybookRevision.action_id == action_id).order_by(PlaybookRevision.id)
    return list(db.execute(stmt).scalars())


def _decider(principal: Principal, revision: PlaybookRevision) -> None:
    if not principal.has_role(*DECIDERS):
        raise Forbidden(phrase("refusal.revision.leader_only"))
    if revision.proposed_by == principal.user_id:
        raise Forbidden(phrase("refusal.revision.own_proposal"))
    if revision.status != PROPOSED:
        refusal = phrase("refusal.revision.decided", status=phrase(f"revisions.status.{revision.status}"))
        raise Conflict(refusal, field="revision_id")


def _claim(db: Session, revision: PlaybookRevision, status: str, principal: Principal, clock: Clock, note: str) -> None:
    """Move the revision out of `proposed` once, even when two deciders press at the same moment."""
    done = db.execute(
        update(PlaybookRevision)
        .where(PlaybookRevision.id == revision.id, PlaybookRevision.status == PROPOSED)
        .values(status=status, decided_by=principal.user_id, decided_at=clock.now(), decision_note=note)
        .execution_options(synchronize_session=False)
    )
    if getattr(done, "rowcount", 0) != 1:
        raise Conflict(phrase("refusal.revision.decided_meanwhile"), field="revision_id")
    db.refresh(revision)


def adopt(
    db: Session, clock: Clock, cfg: ReviewConfig, principal: Principal, revision_id: int, data: DecisionIn
) -> PlaybookRevision:
    """Adopt a proposed revision: the playbook file becomes the proposed text with its revision record."""
    revision = get(db, principal, revision_id)
    _decider(principal, revision)
    current, _ = current_text(cfg, revision.playbook_type)
    if current.version != revision.base_version:
        refusal = phrase("refusal.revision.outdated", playbook=current.label, current=current.version, base=revision.base_version)
        raise Conflict(refusal, field="revision_id")
    record = Revision(
        version=revision.version,
        adopted=clock.now().astimezone(cfg.tz).date(),
        why=revision.reason,
        changes=tuple(_both(change) for change in stored(revision.changes)),
        # Numbers only: a plan is read across the school, an incident's title may name a student.
        source=f"incident {revision.incident_id}, improvement action {revision.action_id}, revision {revision.id}",
    )
    text = with_revision(revision.text, record)
    adopted, errors = check_text(revision.playbook_type, text, cfg.incidents.sop(), checklist_items=_items(cfg))
    if adopted is None or adopted.revisions[-1] != record:
        # The SOP or the checklist changed since the proposal, so the text no longer fits.
        reason = str(errors[0]) if errors else "the revision record did not read back"
        raise Conflict(phrase("refusal.revision.no_longer_valid", reason=reason), field="revision_id")
    _claim(db, revision, ADOPTED, principal, clock, data.note)
    revision.adopted_text = text
    superseded = list(
        db.execute(
            select(PlaybookRevision).where(
                PlaybookRevision.playbook_type == revision.playbook_type,
                PlaybookRevision.base_version == revision.base_version,
                PlaybookRevision.status == PROPOSED,
                PlaybookRevision.id != revision.id,
            )
        ).scalars()
    )
    for other in superseded:
        other.status, other.decided_at = SUPERSEDED, clock.now()
    write_playbook(cfg.incidents.playbook_dir, revision.playbook_type, text)
    _decided(db, clock, cfg, principal, revision, "playbook_revised", i18n.phrase("notice.revision.adopted.body"))
    for other in superseded:
        _decided(
            db,
            clock,
            cfg,
            principal,
            other,
            "revision_superseded",
            i18n.phrase("notice.revision.superseded.body"),
        )
    return revision


def reject(
    db: Session, clock: Clock, cfg: ReviewConfig, principal: Principal, revision_id: int, data: RejectIn
) -> PlaybookRevision:
    """Reject a proposed revision, saying why; the playbook stays as it is."""
    revision = get(db, principal, revision_id)
    _decider(principal, revision)
    _claim(db, revision, REJECTED, principal, clock, data.note)
    _decided(
        db, clock, cfg, principal, revision, "revision_rejected", i18n.phrase("notice.revision.rejected.body", note=data.note)
    )
    return revision


def _decided(
    db: Session, clock: Clock, cfg: ReviewConfig, principal: Principal, revision: PlaybookRevision, kind: str, body: i18n.Phrase
) -> None:
    incident = db.get(Incident, revision.incident_id)
    action = db.get(ImprovementAction, revision.action_id)
    assert incident is not None
    assert action is not None
    board.record(
        db,
        clock,
        cfg.incidents,
        incident,
        kind,
        principal.user_id,
        revision_id=revision.id,
        action_id=action.id,
        playbook=revision.playbook_type,
        version=revision.version,
    )
    people = [u for u in (db.get(User, revision.proposed_by or 0), db.get(User, action.owner_user_id)) if u is not None]
    _tell(db, clock, cfg, revision, people, f"playbook.{revision.status}", body)
    audit.record(
        db,
        clock,
        actor_user_id=principal.user_id,
        actor=principal.username,
        action=f"playbook_revision.{revision.status}",
        subject_type=SUBJECT,
        subject_id=revision.id,
    )
