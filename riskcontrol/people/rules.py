"""Pure rules about people: the roles, where on the grid each may be held, and what each may see."""

from __future__ import annotations

from enum import StrEnum

from riskcontrol.grid.rules import UnitKind


class Role(StrEnum):
    DORM_HEAD = "dorm_head"
    CLASS_MONITOR = "class_monitor"
    PSYCH_MEMBER = "psych_member"
    COUNSELOR = "counselor"
    COLLEGE_OFFICER = "college_officer"
    STUDENT_AFFAIRS = "student_affairs"
    OPINION_OFFICER = "opinion_officer"
    SAFETY_OFFICER = "safety_officer"
    RESPONSE_TEAM = "response_team"
    PSYCH_CENTER = "psych_center"
    LEADER = "leader"
    ADMIN = "admin"


_SCHOOL = frozenset({UnitKind.SCHOOL})

# The kind of unit each role is held at; the unit's subtree is the holder's scope.
ROLE_UNIT_KINDS: dict[Role, frozenset[UnitKind]] = {
    Role.DORM_HEAD: frozenset({UnitKind.DORM}),
    Role.CLASS_MONITOR: frozenset({UnitKind.CLASS}),
    Role.PSYCH_MEMBER: frozenset({UnitKind.CLASS}),
    Role.COUNSELOR: frozenset({UnitKind.CLASS, UnitKind.COLLEGE}),
    Role.COLLEGE_OFFICER: frozenset({UnitKind.COLLEGE}),
    Role.STUDENT_AFFAIRS: _SCHOOL,
    Role.OPINION_OFFICER: frozenset({UnitKind.SCHOOL, UnitKind.COLLEGE}),
    Role.SAFETY_OFFICER: frozenset({UnitKind.SCHOOL, UnitKind.BUILDING}),
    Role.RESPONSE_TEAM: _SCHOOL,
    Role.PSYCH_CENTER: _SCHOOL,
    Role.LEADER: _SCHOOL,
    Role.ADMIN: _SCHOOL,
}

# The roles students hold in the grid (the eyes and ears in dorms and classes); everything else is staff.
STUDENT_ROLES: frozenset[Role] = frozenset({Role.DORM_HEAD, Role.CLASS_MONITOR, Role.PSYCH_MEMBER})
STAFF_ROLES: frozenset[Role] = frozenset(Role) - STUDENT_ROLES

# Contact details of students and guardians are personal information: only the roles that
# must reach a family in a crisis see them, and every such read is audited.
SEES_CONTACTS: frozenset[Role] = frozenset(
    {
        Role.COUNSELOR,
        Role.COLLEGE_OFFICER,
        Role.STUDENT_AFFAIRS,
        Role.PSYCH_CENTER,
        Role.RESPONSE_TEAM,
    }
)

# Whether a student is at known risk (on the key-concern register, with a risk factor) shows in what
# these roles read; a student's own grid roles see a report about a classmate graded on its ticks
# alone, so no answer tells them a classmate is on the register.
SEES_RISK: frozenset[Role] = frozenset(
    {
        Role.COUNSELOR,
        Role.COLLEGE_OFFICER,
        Role.STUDENT_AFFAIRS,
        Role.PSYCH_CENTER,
        Role.RESPONSE_TEAM,
        Role.LEADER,
    }
)

# Who may hold an incident-command role (commander, liaison, scribe…): staff whose grid role covers
# the incident's unit. A student's grid role never does, nor the directory's administrator.
HOLDS_INCIDENT_ROLES: frozenset[Role] = SEES_RISK | {Role.SAFETY_OFFICER, Role.OPINION_OFFICER}

MANAGES_DIRECTORY: frozenset[Role] = frozenset({Role.ADMIN})


def role_unit_problem(role: Role, unit_kind: UnitKind) -> str | None:
    """Why `role` cannot be held at a unit of `unit_kind`, or None when it can."""
    allowed = ROLE_UNIT_KINDS[role]
    if unit_kind in allowed:
        return None
    return f"role {role} is held at a {' or '.join(sorted(allowed))}, not at a {unit_kind}"


def parse_roles(text: str) -> tuple[list[Role], list[str]]:
    """Split 'a;b' into known roles and the unknown names."""
    known, unknown = [], []
    for name in (part.strip() for part in text.split(";")):
        if not name:
            continue
        try:
            known.append(Role(name))
        except ValueError:
            unknown.append(name)
    return known, unknown
