"""Who holds a role nearest up the grid from a unit: the one resolver every domain asks."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from riskcontrol.grid.rules import UnitKind
from riskcontrol.people import service as people_service
from riskcontrol.people.models import User
from riskcontrol.people.rules import Role
from tests.factories import Campus, build_campus, statements, user


@pytest.fixture
def campus(db: Session) -> Campus:
    """The test campus with counsellors at class C1K1 and at college C1, and school-wide staff."""
    campus = build_campus(db)
    user(db, "class_counselor", (Role.COUNSELOR, campus["C1K1"]))
    user(db, "college_counselor", (Role.COUNSELOR, campus["C1"]))
    user(db, "officer", (Role.COLLEGE_OFFICER, campus["C1"]))
    user(db, "affairs", (Role.STUDENT_AFFAIRS, campus["S"]))
    user(db, "safety", (Role.SAFETY_OFFICER, campus["S"]))
    user(db, "dorm_head", (Role.DORM_HEAD, campus["C1K1R1"]))
    db.flush()
    return campus


def names(users: list[User]) -> list[str]:
    return [u.username for u in users]


def test_the_class_counselor_answers_for_her_rooms_before_the_college_one(db: Session, campus: Campus) -> None:
    assert names(people_service.holders(db, campus["C1K1R2"].path, [Role.COUNSELOR])) == ["class_counselor"]


def test_a_class_without_a_counselor_is_answered_for_by_the_college(db: Session, campus: Campus) -> None:
    assert names(people_service.holders(db, campus["C1K2R1"].path, [Role.COUNSELOR])) == ["college_counselor"]


def test_a_role_held_at_the_unit_itself_is_nearest(db: Session, campus: Campus) -> None:
    assert names(people_service.holders(db, campus["C1K1R1"].path, [Role.DORM_HEAD])) == ["dorm_head"]
    assert people_service.holders(db, campus["C1K1R2"].path, [Role.DORM_HEAD]) == []


def test_nobody_holding_the_role_anywhere_up_is_nobody(db: Session, campus: Campus) -> None:
    assert people_service.holders(db, campus["C2K1R1"].path, [Role.COUNSELOR]) == []


def test_an_inactive_holder_is_passed_over_for_the_next_level_up(db: Session, campus: Campus) -> None:
    away = people_service.holders(db, campus["C1K1"].path, [Role.COUNSELOR])[0]
    away.active = False
    db.flush()
    assert names(people_service.holders(db, campus["C1K1R1"].path, [Role.COUNSELOR])) == ["college_counselor"]


def test_several_roles_give_everyone_at_the_nearest_level_holding_any_once_in_id_order(db: Session, campus: Campus) -> None:
    both = user(db, "both", (Role.COLLEGE_OFFICER, campus["C1"]), (Role.COUNSELOR, campus["C1"]))
    db.flush()
    found = people_service.holders(db, campus["C1K2R1"].path, [Role.COUNSELOR, Role.COLLEGE_OFFICER, Role.STUDENT_AFFAIRS])
    assert names(found) == ["college_counselor", "officer", "both"]
    assert [u.id for u in found] == sorted(u.id for u in found)
    assert both in found


def test_at_kind_asks_that_level_only_even_when_a_nearer_one_holds_the_role(db: Session, campus: Campus) -> None:
    room = campus["C1K1R1"].path
    assert names(people_service.holders(db, room, [Role.COUNSELOR], at_kind=UnitKind.COLLEGE)) == ["college_counselor"]
    assert names(people_service.holders(db, room, [Role.COUNSELOR], at_kind=UnitKind.CLASS)) == ["class_counselor"]
    assert people_service.holders(db, room, [Role.STUDENT_AFFAIRS], at_kind=UnitKind.COLLEGE) == []
    assert names(people_service.holders_at_root(db, room, [Role.SAFETY_OFFICER])) == ["safety"]


def test_above_starts_from_the_parent_and_at_the_school_is_the_school(db: Session, campus: Campus) -> None:
    roles = [Role.COUNSELOR, Role.COLLEGE_OFFICER, Role.STUDENT_AFFAIRS]
    assert names(people_service.holders(db, campus["C1K1"].path, roles, above=True)) == ["college_counselor", "officer"]
    assert names(people_service.holders(db, campus["C1"].path, roles, above=True)) == ["affairs"]
    assert names(people_service.holders(db, campus["S"].path, roles, above=True)) == ["affairs"]


def test_every_level_nearest_first_when_not_only_the_nearest(db: Session, campus: Campus) -> None:
    user(db, "twice", (Role.COUNSELOR, campus["C1K1"]), (Role.COUNSELOR, campus["C1"]))
    db.flush()
    found = people_service.holders(db, campus["C1K1R1"].path, [Role.COUNSELOR], nearest=False)
    assert names(found) == ["class_counselor", "twice", "college_counselor"]


def test_a_batch_answers_as_single_calls_do(db: Session, campus: Campus) -> None:
    paths = [u.path for u in campus.units.values()]
    roles = [Role.COUNSELOR, Role.COLLEGE_OFFICER, Role.STUDENT_AFFAIRS, Role.DORM_HEAD]
    batch = people_service.Holders(db, paths, roles)
    asks: list[dict[str, Any]] = [{}, {"above": True}, {"nearest": False}, *({"at_kind": kind} for kind in UnitKind)]
    for path in paths:
        for some in ([Role.COUNSELOR], [Role.COLLEGE_OFFICER, Role.STUDENT_AFFAIRS], roles):
            for ask in asks:
                assert batch.of(path, some, **ask) == people_service.holders(db, path, some, **ask), (path, some, ask)


def test_one_query_per_call_and_one_per_batch(db: Session, campus: Campus) -> None:
    paths = [u.path for u in campus.units.values()]
    with statements(db) as sent:
        people_service.holders(db, campus["C1K2R1"].path, [Role.COUNSELOR, Role.STUDENT_AFFAIRS], above=True)
    assert len(sent) == 1
    with statements(db) as sent:
        batch = people_service.Holders(db, paths, [Role.COUNSELOR, Role.DORM_HEAD, Role.SAFETY_OFFICER])
        for path in paths:
            batch.of(path, [Role.COUNSELOR])
            batch.of(path, [Role.DORM_HEAD, Role.SAFETY_OFFICER], nearest=False)
            batch.of(path, [Role.SAFETY_OFFICER], at_kind=UnitKind.SCHOOL)
    assert len(sent) == 1
