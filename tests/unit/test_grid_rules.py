"""The tree rules of the campus grid and the path arithmetic behind scope."""

from __future__ import annotations

import pytest

from riskcontrol.core.i18n import word
from riskcontrol.core.security import Principal, minimal_paths
from riskcontrol.grid.rules import UnitKind, child_path, parent_problem
from riskcontrol.people.rules import Role, parse_roles, role_unit_problem


@pytest.mark.parametrize(
    ("kind", "parent"),
    [
        (UnitKind.SCHOOL, None),
        (UnitKind.COLLEGE, UnitKind.SCHOOL),
        (UnitKind.CLASS, UnitKind.COLLEGE),
        (UnitKind.DORM, UnitKind.CLASS),
        (UnitKind.DORM, UnitKind.BUILDING),
        (UnitKind.BUILDING, UnitKind.SCHOOL),
    ],
)
def test_the_grid_chain_is_allowed(kind: UnitKind, parent: UnitKind | None) -> None:
    assert parent_problem(kind, parent) is None


def _worded(lang: str, kind: UnitKind, parent: UnitKind | None) -> str:
    problem = parent_problem(kind, parent)
    assert problem is not None
    return word(lang, problem)


def test_a_class_cannot_hang_under_a_dorm_and_a_college_needs_a_school() -> None:
    assert _worded("en", UnitKind.CLASS, UnitKind.DORM) == "A Class cannot sit under a Dorm room (allowed: College)."
    assert _worded("en", UnitKind.COLLEGE, None) == "A College needs a parent (School)."
    assert _worded("en", UnitKind.SCHOOL, UnitKind.COLLEGE) == "A School is the root and has no parent."
    assert _worded("zh-CN", UnitKind.CLASS, UnitKind.DORM) == "班级不能挂在寝室下面，上级只能是学院。"
    assert _worded("zh-CN", UnitKind.DORM, None) == "寝室必须挂在上级单位下面（上级应是楼栋或班级）。"


def test_paths_do_not_confuse_unit_1_with_unit_12() -> None:
    one, twelve = child_path("/", 1), child_path("/", 12)
    assert (one, twelve) == ("/1/", "/12/")
    counselor = Principal(user_id=1, username="c", display_name="c", roles=frozenset({"counselor"}), scope_paths=(one,))
    assert counselor.covers("/1/7/")
    assert not counselor.covers(twelve)


def test_minimal_paths_keep_only_the_widest_subtrees() -> None:
    assert minimal_paths(["/1/2/", "/1/", "/3/4/", "/3/4/"]) == ("/1/", "/3/4/")


def test_a_role_narrows_scope_to_where_it_is_held() -> None:
    p = Principal(
        user_id=1,
        username="x",
        display_name="x",
        roles=frozenset({"dorm_head", "counselor"}),
        scope_paths=("/1/2/", "/1/5/9/"),
        grants=(("counselor", "/1/2/"), ("dorm_head", "/1/5/9/")),
    )
    narrowed = p.narrowed_to("counselor")
    assert narrowed.scope_paths == ("/1/2/",)
    assert narrowed.roles == frozenset({"counselor"})


def test_roles_are_held_at_their_own_kind_of_unit() -> None:
    assert role_unit_problem(Role.DORM_HEAD, UnitKind.DORM) is None
    assert role_unit_problem(Role.COUNSELOR, UnitKind.COLLEGE) is None
    assert role_unit_problem(Role.LEADER, UnitKind.CLASS) == "role leader is held at a school, not at a class"


def test_role_lists_split_on_semicolons_and_name_the_unknown() -> None:
    assert parse_roles("counselor; psych_center;;wizard") == ([Role.COUNSELOR, Role.PSYCH_CENTER], ["wizard"])
