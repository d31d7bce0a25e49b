"""The deterministic demo campus: one school's grid, students, guardians and staff for every role."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from rich import box
from rich.table import Table
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from riskcontrol.core import audit, i18n
from riskcontrol.core.clock import Clock, next_local
from riskcontrol.core.i18n import translate
from riskcontrol.core.security import Principal, hash_password
from riskcontrol.grid import rules as grid_rules
from riskcontrol.grid import service as grid_service
from riskcontrol.grid.models import OrgUnit
from riskcontrol.grid.rules import UnitKind
from riskcontrol.hazards import followup as hazard_followup
from riskcontrol.hazards import inspections
from riskcontrol.hazards import service as hazard_service
from riskcontrol.hazards import zones as hazard_zones
from riskcontrol.hazards.inspection_models import InspectionRound
from riskcontrol.hazards.inspection_rules import Status as InspectionStatus
from riskcontrol.hazards.inspections import InspectionConfig
from riskcontrol.hazards.places import load_places
from riskcontrol.hazards.rules import Action as HazardAction
from riskcontrol.hazards.schemas import AcceptIn, AssignIn, HazardIn, PointIn, PolygonIn, SubmitIn, WindowIn, ZoneIn
from riskcontrol.hazards.service import HazardConfig
from riskcontrol.incidents import prevention, roster_rules
from riskcontrol.incidents.config import IncidentConfig
from riskcontrol.incidents.models import DutyShift, MeasureRound
from riskcontrol.incidents.prevention_rules import Calendar
from riskcontrol.incidents.roster import CHECK_AT
from riskcontrol.people import auth
from riskcontrol.people.models import Guardian, RoleAssignment, Student, User
from riskcontrol.people.rules import Role
from riskcontrol.settings import PROJECT_ROOT

DEMO_PASSWORD = "demo1234"  # noqa: S105 - published on purpose: the demo is for trying the system out
DEMO_SCHOOL_CODE = "HDU"
SCHOOL_ZH, SCHOOL_EN = "华东示范大学", "East China Demonstration University"
SEED = 20230901
ROOM_SIZE = 6
DORM_HEAD_CLASSES = 6  # dorm heads get accounts in the rooms of the first college's first classes
DEMO_TZ = ZoneInfo("Asia/Shanghai")
# The rapid-response roster: 12-hour shifts from 08:00 (day team) and 20:00 (night team), as (lead, deputy).
ROSTER_TEAMS = {8: ("response2", "response4"), 20: ("response1", "response3")}
# The deputy's day shift on the 6th day (the seeding day is the 1st) is left empty on purpose,
# so that the daily gap warning has something to show.
ROSTER_GAP_DAY = 6

# code, Chinese name, English name, Chinese class prefix, share of male students, (grade, classes)
_FOUR_YEARS = ((2023, 4), (2024, 3), (2025, 3))
COLLEGES: tuple[tuple[str, str, str, str, float, tuple[tuple[int, int], ...]], ...] = (
    ("CS", "计算机学院", "School of Computer Science", "计科", 0.7, _FOUR_YEARS),
    ("ME", "机械工程学院", "School of Mechanical Engineering", "机械", 0.8, _FOUR_YEARS),
    ("EM", "经济管理学院", "School of Economics and Management", "经管", 0.45, _FOUR_YEARS),
    ("FL", "外国语学院", "School of Foreign Languages", "英语", 0.2, _FOUR_YEARS),
    # Medicine is a five-year programme: it has one cohort more.
    ("MED", "医学院", "School of Medicine", "临床", 0.45, ((2022, 2), (2023, 3), (2024, 3), (2025, 2))),
    ("ART", "艺术学院", "School of Arts", "设计", 0.35, _FOUR_YEARS),
)
# Men live in the east blocks, women in the west; each block has 6 floors of 10 rooms.
BLOCKS = (("E", "东", "East", "M"), ("W", "西", "West", "F"))
BUILDINGS_PER_BLOCK, FLOORS, ROOMS_PER_FLOOR = 4, 6, 10

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
# Disjoint pools, so a father's and a mother's names never collide.
MALE_CHARS = "伟强磊军洋勇杰涛明超辉刚健俊鹏浩宇轩博文斌晨宁昊然泽凯翔天铭哲睿航远鑫毅峰志建国华德彬子豪"
FEMALE_CHARS = "芳娜敏静丽艳娟霞婷雪琳颖慧倩洁晶欣怡萱悦雯佳琪梦瑶彤蕾璐薇菲晗曦妍茜思雨嘉可诗月"
_SURNAME_WEIGHTS = [1 / (rank + 4) for rank in range(len(SURNAMES))]

# Staff at the school itself: username and role.
SCHOOL_STAFF: tuple[tuple[str, Role], ...] = (
    ("admin", Role.ADMIN),
    ("affairs", Role.STUDENT_AFFAIRS),
    ("affairs2", Role.STUDENT_AFFAIRS),
    ("leader", Role.LEADER),
    ("leader2", Role.LEADER),
    ("response1", Role.RESPONSE_TEAM),
    ("response2", Role.RESPONSE_TEAM),
    ("response3", Role.RESPONSE_TEAM),
    ("response4", Role.RESPONSE_TEAM),
    ("safety", Role.SAFETY_OFFICER),
    ("psych", Role.PSYCH_CENTER),
    ("psych2", Role.PSYCH_CENTER),
    ("opinion", Role.OPINION_OFFICER),
)


@dataclass(frozen=True)
class DemoLogin:
    """One well-known demo account: who to sign in as to see the system from a role's seat."""

    username: str
    role: Role
    unit: str


_SCHOOL_DESC = f"{DEMO_SCHOOL_CODE} {SCHOOL_ZH}"
DEMO_LOGINS: tuple[DemoLogin, ...] = (
    DemoLogin("admin", Role.ADMIN, _SCHOOL_DESC),
    DemoLogin("affairs", Role.STUDENT_AFFAIRS, _SCHOOL_DESC),
    DemoLogin("leader", Role.LEADER, _SCHOOL_DESC),
    DemoLogin("response1", Role.RESPONSE_TEAM, _SCHOOL_DESC),
    DemoLogin("safety", Role.SAFETY_OFFICER, _SCHOOL_DESC),
    DemoLogin("safety_e1", Role.SAFETY_OFFICER, "E1 东区1号楼"),
    DemoLogin("psych", Role.PSYCH_CENTER, _SCHOOL_DESC),
    DemoLogin("opinion", Role.OPINION_OFFICER, _SCHOOL_DESC),
    DemoLogin("officer_cs", Role.COLLEGE_OFFICER, "CS 计算机学院"),
    DemoLogin("counselor_cs", Role.COUNSELOR, "CS2301–2302 计科2301–2302班"),
    DemoLogin("monitor_cs2301", Role.CLASS_MONITOR, "CS2301 计科2301班"),
    DemoLogin("psych_cs2301", Role.PSYCH_MEMBER, "CS2301 计科2301班"),
    DemoLogin("dorm_e1_101", Role.DORM_HEAD, "E1-101 东1-101 (CS2301)"),
)


@dataclass(frozen=True)
class DemoSummary:
    """What the demo seeding found or made: whether it created the campus, and the counts now."""

    created: bool
    counts: dict[str, int]
    seconds: float = 0.0

    def describe(self) -> str:
        """A line or two for the console."""
        c = self.counts
        figures = (
            f"{c['college']} colleges, {c['class']} classes, {c['building']} buildings, {c['dorm']} dorm rooms, "
            f"{c['student']} students, {c['guardian']} guardians, {c['user']} users"
        )
        if self.created:
            return f"Seeded the demo campus {SCHOOL_ZH} ({DEMO_SCHOOL_CODE}) in {self.seconds:.1f} s: {figures}."
        return f"The demo campus {DEMO_SCHOOL_CODE} was already there; nothing was added. The database holds {figures}."


def logins_table() -> Table:
    """The demo accounts, their shared password, role and unit, in English and Chinese."""
    table = Table(title="Demo logins 演示账号", box=box.SIMPLE_HEAD)
    for column in ("Username", "Password", "角色", "Role"):
        table.add_column(column, no_wrap=True)
    table.add_column("Unit 单位")
    for login in DEMO_LOGINS:
        key = f"role.{login.role.value}"
        table.add_row(login.username, DEMO_PASSWORD, translate("zh-CN", key), translate("en", key), login.unit)
    return table


def count_campus(db: Session) -> dict[str, int]:
    """Units per kind and the number of students, guardians and users in the database."""
    counts = {kind.value: 0 for kind in UnitKind}
    counts.update({str(k): int(n) for k, n in db.execute(select(OrgUnit.kind, func.count()).group_by(OrgUnit.kind)).all()})
    for key, model in (("student", Student), ("guardian", Guardian), ("user", User), ("role_assignment", RoleAssignment)):
        counts[key] = int(db.execute(select(func.count()).select_from(model)).scalar_one())
    return counts


def seed_demo(db: Session, clock: Clock, tz: tzinfo = DEMO_TZ) -> DemoSummary:
    """Create the demo campus and its week of duty roster unless its school exists; the caller commits."""
    if grid_service.find_by_code(db, DEMO_SCHOOL_CODE) is not None:
        return DemoSummary(created=False, counts=count_campus(db))
    started = time.perf_counter()
    school = _Seeder(db).run()
    _seed_roster(db, clock, tz)
    _seed_prevention(db, clock, tz)
    _seed_hazards(db, clock, tz)
    _seed_inspections(db, clock, tz)
    counts = count_campus(db)
    audit.record(
        db,
        clock,
        actor_user_id=None,
        actor="demo",
        action="demo.seeded",
        subject_type="org_unit",
        subject_id=school.id,
        detail=counts,
    )
    return DemoSummary(created=True, counts=counts, seconds=time.perf_counter() - started)


def _seed_roster(db: Session, clock: Clock, tz: tzinfo) -> None:
    """A lead and a deputy on every 12-hour shift from the one under way until the week the first morning's
    gap check looks at is covered, but for one deputy's shift on the 6th day."""
    now = clock.now()
    names = [name for team in ROSTER_TEAMS.values() for name in team]
    users = {u.username: u for u in db.execute(select(User).where(User.username.in_(names))).scalars()}
    first_day = now.astimezone(tz).date()
    until = next_local(now, tz, CHECK_AT) + timedelta(days=7)
    slot = datetime(first_day.year, first_day.month, first_day.day, 20, tzinfo=tz) - timedelta(days=1)
    while slot < until:
        ends = slot + timedelta(hours=12)
        lead, deputy = ROSTER_TEAMS[slot.hour]
        gap = slot.hour == 8 and (slot.date() - first_day).days + 1 == ROSTER_GAP_DAY
        for position, username in ((roster_rules.Position.LEAD, lead), (roster_rules.Position.DEPUTY, deputy)):
            if ends > now and not (gap and position == roster_rules.Position.DEPUTY):
                db.add(
                    DutyShift(
                        user_id=users[username].id,
                        position=position.value,
                        starts_at=slot,
                        ends_at=ends,
                        handover_note="",
                        created_at=now,
                        created_by=None,
                    )
                )
        slot = ends
    db.flush()


def _seed_prevention(db: Session, clock: Clock, tz: tzinfo) -> None:
    """This period's prevention rounds as if opened on time, each unit keeping to them more or less well,
    so that the coverage page shows done, due and overdue (some signed off late)."""
    library = IncidentConfig(sop_dir=PROJECT_ROOT / "sop", playbook_dir=PROJECT_ROOT / "playbooks", tz=tz).library()
    prevention.open_rounds(db, clock, library, Calendar(tz), on_schedule=True)
    rng, now, diligence = random.Random(SEED), clock.now(), dict[int, float]()
    rounds = select(MeasureRound.id, MeasureRound.unit_id, MeasureRound.opens_at, MeasureRound.due_at)
    done = []
    for round_id, unit_id, opens_at, due_at in db.execute(rounds.order_by(MeasureRound.id)):
        until = min(now, due_at + (due_at - opens_at) / 8)  # a few are signed off after their due time
        done_at = opens_at + (until - opens_at) * rng.random()
        if rng.random() < diligence.setdefault(unit_id, rng.choice((0.95, 0.9, 0.8, 0.6, 0.3))):
            done.append({"id": round_id, "status": prevention.DONE, "done_at": done_at, "late": done_at > due_at})
    if done:
        db.execute(update(MeasureRound), done)


def _add_units(db: Session, units: Sequence[OrgUnit], parents: Sequence[OrgUnit | None]) -> None:
    """Insert one level of the tree in a batch, then derive each materialized path from its parent."""
    for unit, parent in zip(units, parents, strict=True):
        problem = grid_rules.parent_problem(UnitKind(unit.kind), UnitKind(parent.kind) if parent else None)
        if problem:
            raise ValueError(f"{unit.code}: {i18n.word('en', problem)}")
        unit.parent_id, unit.depth = (parent.id, parent.depth + 1) if parent else (None, 0)
    db.add_all(units)
    db.flush()
    for unit, parent in zip(units, parents, strict=True):
        unit.path = grid_rules.child_path(parent.path if parent else None, unit.id)


class _Seeder:
    """One run of the generator: every random draw comes from one seeded stream, in a fixed order."""

    def __init__(self, db: Session) -> None:
        self.db = db
        self.rng = random.Random(SEED)
        self.phones: set[str] = set()
        self.password_hash = hash_password(DEMO_PASSWORD)  # argon2 is slow on purpose: hash once
        self.students: list[Student] = []
        self.users: list[User] = []

    def name(self, gender: str, surname: str | None = None) -> str:
        pool = MALE_CHARS if gender == "M" else FEMALE_CHARS
        given = "".join(self.rng.choice(pool) for _ in range(self.rng.choice((1, 2, 2))))
        return (surname or self.rng.choices(SURNAMES, weights=_SURNAME_WEIGHTS)[0]) + given

    def phone(self) -> str:
        while True:
            number = self.rng.choice(("13", "15", "18", "19")) + "".join(self.rng.choices("0123456789", k=9))
            if number not in self.phones:
                self.phones.add(number)
                return number

    def user(self, username: str, role: Role, *units: OrgUnit, student: Student | None = None) -> None:
        name, phone = (student.name, student.phone) if student else (self.name(self.rng.choice("MF")), self.phone())
        user = User(
            username=username,
            name=name,
            phone=phone,
            password_hash=self.password_hash,
            active=True,
            failed_logins=0,
            student_id=student.id if student else None,
        )
        user.assignments.extend(RoleAssignment(role=role.value, unit_id=unit.id) for unit in units)
        self.users.append(user)

    def run(self) -> OrgUnit:
        school = OrgUnit(code=DEMO_SCHOOL_CODE, kind=UnitKind.SCHOOL, name_zh=SCHOOL_ZH, name_en=SCHOOL_EN)
        _add_units(self.db, [school], [None])
        colleges = [OrgUnit(code=c[0], kind=UnitKind.COLLEGE, name_zh=c[1], name_en=c[2]) for c in COLLEGES]
        _add_units(self.db, colleges, [school] * len(colleges))
        # One entry per class, in tree order: (college index, grade, number within the cohort).
        plan = [(i, grade, n) for i, c in enumerate(COLLEGES) for grade, size in c[5] for n in range(1, size + 1)]
        classes = []
        for i, grade, n in plan:
            label = f"{grade % 100}{n:02d}"
            code, prefix = COLLEGES[i][0], COLLEGES[i][3]
            classes.append(
                OrgUnit(code=code + label, kind=UnitKind.CLASS, name_zh=f"{prefix}{label}班", name_en=f"{code} Class {label}")
            )
        _add_units(self.db, classes, [colleges[i] for i, _, _ in plan])
        buildings = {
            (gender, b): OrgUnit(code=f"{code}{b}", kind=UnitKind.BUILDING, name_zh=f"{zh}区{b}号楼", name_en=f"{en} Block {b}")
            for code, zh, en, gender in BLOCKS
            for b in range(1, BUILDINGS_PER_BLOCK + 1)
        }
        _add_units(self.db, list(buildings.values()), [school] * len(buildings))
        rooms = self.add_rooms(classes, plan, buildings)
        self.add_students(rooms, plan, classes)
        self.add_staff(school, colleges, classes, plan, buildings, rooms)
        self.db.add_all(self.users)
        self.db.flush()
        return school

    def add_rooms(
        self, classes: list[OrgUnit], plan: list[tuple[int, int, int]], buildings: dict[tuple[str, int], OrgUnit]
    ) -> list[tuple[OrgUnit, int, str]]:
        """Rooms as (dorm, class index, gender): 7 for two classes in three, 6 for the third."""
        # The college's gender mix decides how many rooms are men's; each block's buildings take an
        # equal share, filled in class order so that a class lives together.
        wanted: list[tuple[int, str]] = []
        for k, (i, _, _) in enumerate(plan):
            size = 7 if k % 3 != 2 else 6
            men = min(size - 1, max(1, round(size * COLLEGES[i][4])))
            wanted.extend((k, gender) for gender in ["M"] * men + ["F"] * (size - men))
        share = {g: -(-sum(1 for _, w in wanted if w == g) // BUILDINGS_PER_BLOCK) for g in ("M", "F")}
        if max(share.values()) > FLOORS * ROOMS_PER_FLOOR:
            raise ValueError("the dorm blocks are too small for the demo students")
        filled = {"M": 0, "F": 0}
        rooms: list[tuple[OrgUnit, int, str]] = []
        for k, gender in wanted:
            code, zh, _, _ = next(block for block in BLOCKS if block[3] == gender)
            b, slot = divmod(filled[gender], share[gender])
            filled[gender] += 1
            number = f"{b + 1}-{slot // ROOMS_PER_FLOOR + 1}{slot % ROOMS_PER_FLOOR + 1:02d}"
            dorm = OrgUnit(
                code=code + number,
                kind=UnitKind.DORM,
                name_zh=zh + number,
                name_en=code + number,
                building_id=buildings[gender, b + 1].id,
            )
            rooms.append((dorm, k, gender))
        _add_units(self.db, [dorm for dorm, _, _ in rooms], [classes[k] for _, k, _ in rooms])
        return rooms

    def add_students(
        self, rooms: list[tuple[OrgUnit, int, str]], plan: list[tuple[int, int, int]], classes: list[OrgUnit]
    ) -> None:
        """Six students of one gender per room, numbered grade + college + class + seat, with guardians."""
        seats = [0] * len(classes)
        for dorm, k, gender in rooms:
            i, grade, n = plan[k]
            for _ in range(ROOM_SIZE):
                seats[k] += 1
                student = Student(
                    student_no=f"{grade}{i + 1:02d}{n:02d}{seats[k]:02d}",
                    name=self.name(gender),
                    gender=gender,
                    class_id=classes[k].id,
                    dorm_id=dorm.id,
                    phone=self.phone(),
                )
                both = self.rng.random() < 0.75
                for relation in ("父亲", "母亲") if both else (self.rng.choice(("父亲", "母亲")),):
                    father = relation == "父亲"
                    name = self.name("M", student.name[0]) if father else self.name("F")
                    student.guardians.append(Guardian(name=name, relation=relation, phone=self.phone()))
                self.students.append(student)
        self.db.add_all(self.students)
        self.db.flush()

    def add_staff(
        self,
        school: OrgUnit,
        colleges: list[OrgUnit],
        classes: list[OrgUnit],
        plan: list[tuple[int, int, int]],
        buildings: dict[tuple[str, int], OrgUnit],
        rooms: list[tuple[OrgUnit, int, str]],
    ) -> None:
        """Accounts for every role; monitors and dorm heads are students of their class or room."""
        for username, role in SCHOOL_STAFF:
            self.user(username, role, school)
        for building in buildings.values():
            self.user(f"safety_{building.code.lower()}", Role.SAFETY_OFFICER, building)
        in_class: dict[int, list[Student]] = {cls.id: [] for cls in classes}
        for student in self.students:
            in_class[student.class_id].append(student)
        serving: set[int] = set()  # students already holding a class role
        for i, college in enumerate(colleges):
            cc = COLLEGES[i][0].lower()
            self.user(f"officer_{cc}", Role.COLLEGE_OFFICER, college)
            mine = [(cls, grade) for cls, (ci, grade, _) in zip(classes, plan, strict=True) if ci == i]
            for j, group in enumerate(_counselor_groups(mine), start=1):
                self.user(f"counselor_{cc}" + (f"_{j}" if j > 1 else ""), Role.COUNSELOR, *group)
            for cls, _ in mine:
                monitor, psych = self.rng.sample(in_class[cls.id], 2)
                serving.update((monitor.id, psych.id))
                self.user(f"monitor_{cls.code.lower()}", Role.CLASS_MONITOR, cls, student=monitor)
                self.user(f"psych_{cls.code.lower()}", Role.PSYCH_MEMBER, cls, student=psych)
        for r, (dorm, k, _) in enumerate(rooms):
            if k < DORM_HEAD_CLASSES:
                head = next(s for s in self.students[r * ROOM_SIZE : (r + 1) * ROOM_SIZE] if s.id not in serving)
                self.user(f"dorm_{dorm.code.lower().replace('-', '_')}", Role.DORM_HEAD, dorm, student=head)


def _counselor_groups(classes: list[tuple[OrgUnit, int]]) -> list[list[OrgUnit]]:
    """Split each cohort's classes into groups of two or three, one counselor per group."""
    groups: list[list[OrgUnit]] = []
    for grade in dict.fromkeys(g for _, g in classes):
        cohort = [cls for cls, g in classes if g == grade]
        k = -(-len(cohort) // 3)
        groups.extend(cohort[j * len(cohort) // k : (j + 1) * len(cohort) // k] for j in range(k))
    return groups


# The ledger the safety office keeps: (place, category, title, likelihood, impact, what becomes of it).
# "overdue" hazards were due days ago and are still owed, so the demo shows escalation and 挂牌督办.
DEMO_HAZARDS: tuple[tuple[str, str, str, int, int, str], ...] = (
    ("E1", "electrical", "东区1号楼3层宿舍私拉电线给电动车充电", 4, 4, "overdue"),
    ("E2", "fire", "东区2号楼消防通道堆放自行车", 3, 3, "rectifying"),
    ("E3", "fire", "东区3号楼灭火器压力不足", 3, 2, "assigned"),
    ("E4", "building", "东区4号楼楼顶天台门锁损坏", 3, 5, "rectifying"),
    ("W1", "electrical", "西区1号楼宿舍使用大功率电器", 3, 3, "awaiting_acceptance"),
    ("W2", "public_order", "西区2号楼门禁常开", 3, 4, "assigned"),
    ("W3", "fire", "西区3号楼安全出口指示灯不亮", 2, 3, "closed"),
    ("W4", "psych_environment", "西区4号楼楼顶可自由进出，窗户无限位器", 3, 5, "overdue"),
    ("LAB_CIEE", "lab", "实验楼气瓶未固定、无防倒链", 4, 4, "rectifying"),
    ("LAB_ENG", "lab", "危化品柜台账与实物不符", 3, 4, "assessed"),
    ("LAB_CC", "electrical", "机房空调漏水靠近配电柜", 2, 4, "assigned"),
    ("C1", "food", "第一食堂燃气报警器失灵", 4, 5, "rectifying"),
    ("C2", "food", "第二食堂留样记录缺失", 2, 3, "reported"),
    ("GYM", "crowd", "体育馆看台栏杆松动", 3, 4, "overdue"),
    ("LIB_N", "crowd", "新图书馆考试周占座拥挤，安全出口被桌椅堵塞", 3, 3, "assessed"),
    ("T1", "building", "第一教学楼外墙瓷砖脱落", 2, 5, "awaiting_acceptance"),
    ("GATE_S", "traffic", "南门外电动车逆行、快递车辆占道", 4, 3, "rectifying"),
    ("MAIN", "cyber", "主楼公共区域开放网络端口未做认证", 2, 2, "reported"),
)
# High-risk zones: (name, level, reason, time windows, public, tip, corner offsets around a place).
DEMO_ZONES: tuple[tuple[str, str, str, str, tuple[tuple[str, str, str], ...], bool, str], ...] = (
    (
        "西区湖边小路（夜间）",
        "red",
        "照明不足、临水无护栏，夜间曾发生落水险情",
        "W2",
        (("1,2,3,4,5,6,7", "22:00", "06:00"),),
        True,
        "夜间请绕行主路，结伴而行。",
    ),
    (
        "南门外黑车聚集点",
        "orange",
        "无证营运车辆招揽学生，存在人身与财产安全风险",
        "GATE_S",
        (),
        True,
        "请勿乘坐无证车辆，打车请使用正规平台。",
    ),
    (
        "东区施工工地",
        "orange",
        "新宿舍楼施工，塔吊作业、车辆进出频繁",
        "E2",
        (("1,2,3,4,5,6", "07:00", "19:00"),),
        True,
        "请勿进入围挡区域，注意避让工程车辆。",
    ),
    ("体育馆看台（大型活动期间）", "yellow", "人员密集，易发生拥挤踩踏", "GYM", (), True, "听从现场引导，有序进出。"),
    ("实验楼危化品库", "red", "危险化学品集中存放，仅限授权人员进入", "LAB_ENG", (), False, ""),
    (
        "西区宿舍后墙围栏缺口",
        "yellow",
        "围栏破损，校外人员可翻入，夜间巡查重点",
        "W4",
        (("1,2,3,4,5,6,7", "20:00", "06:00"),),
        False,
        "",
    ),
)


def _demo_principal(db: Session, username: str) -> Principal:
    return auth.principal_of(db, username)


def _square(lon: float, lat: float, half: float) -> list[list[float]]:
    return [
        [lon - half, lat - half * 0.8],
        [lon + half, lat - half * 0.8],
        [lon + half, lat + half * 0.8],
        [lon - half, lat + half * 0.8],
    ]


def _seed_hazards(db: Session, clock: Clock, tz: tzinfo) -> None:
    """The ledger in every state of its loop, placed on the campus map, and the high-risk zones."""
    places = load_places(PROJECT_ROOT / "risk_map" / "places.yaml")
    cfg = HazardConfig(sop_dir=PROJECT_ROOT / "sop", photo_dir=PROJECT_ROOT / "var" / "hazard_photos", tz=tz)
    safety, school = _demo_principal(db, "safety"), grid_service.find_by_code(db, DEMO_SCHOOL_CODE)
    assert school is not None
    owners = {
        u.username: u for u in db.execute(select(User).where(User.username.in_(("safety", "officer_cs", "officer_me")))).scalars()
    }
    rng, now = random.Random(SEED + 5), clock.now()
    for i, (code, category, title, likelihood, impact, fate) in enumerate(DEMO_HAZARDS):
        place = places.by_code[code]
        unit = grid_service.find_by_code(db, code) or school
        lon, lat = place.lon + rng.uniform(-0.0002, 0.0002), place.lat + rng.uniform(-0.0002, 0.0002)
        data = HazardIn(
            title=title,
            category=category,
            unit_id=unit.id,
            location=PointIn(type="Point", coordinates=(lon, lat)),
            place=code,
            building=place.zh,
            found_at=now - timedelta(days=20 - i),
            likelihood=None if fate == "reported" else likelihood,
            impact=None if fate == "reported" else impact,
        )
        hazard = hazard_service.create_hazard(db, clock, cfg, safety, data, origin="inspection" if i % 3 else "report")
        if fate in ("reported", "assessed"):
            continue
        # Deadlines to come are weeks away; the overdue ones passed days ago and were escalated then.
        deadline = now - timedelta(days=2 + i % 3) if fate == "overdue" else now + timedelta(days=15 + 2 * i)
        owner = owners["officer_cs"] if code.startswith("LAB") else owners["safety"]
        fixes = AssignIn(
            owner_unit_id=unit.id,
            owner_user_id=owner.id,
            owner_department="后勤保障处" if unit is school or code[0] in "EW" else "实验室与设备管理处",
            measures="限期整改，整改前落实临时管控措施并张贴警示",
            deadline=deadline,
            funds="学校安全专项经费",
            contingency_plan="按《校园突发事件总体应急预案》及专项预案处置",
        )
        hazard_service.assign_fixes(db, clock, cfg, safety, hazard, fixes, allow_past=True, tell=False)
        if fate == "overdue":
            hazard_followup.turn_overdue(db, clock, cfg, hazard, tell=False)
        if fate in ("rectifying", "awaiting_acceptance", "closed"):
            hazard_service.act(db, clock, cfg, safety, hazard.id, HazardAction.START, None)
        if fate in ("awaiting_acceptance", "closed"):
            hazard_service.act(
                db, clock, cfg, safety, hazard.id, HazardAction.SUBMIT, SubmitIn(rectification="已按措施整改完毕，附照片")
            )
        if fate == "closed":
            affairs = _demo_principal(db, "admin")
            hazard_service.act(db, clock, cfg, affairs, hazard.id, HazardAction.ACCEPT, AcceptIn(note="现场验收合格，同意销号"))
    for name, level, reason, code, windows, public, tip in DEMO_ZONES:
        place = places.by_code[code]
        ring = _square(place.lon + 0.0006, place.lat - 0.0004, 0.0005)
        hazard_zones.create_zone(
            db,
            clock,
            safety,
            ZoneIn(
                name=name,
                level=level,
                reason=reason,
                public=public,
                tip=tip,
                unit_id=school.id,
                windows=[WindowIn(days=[int(d) for d in days.split(",")], start=start, end=end) for days, start, end in windows],
                location=PolygonIn(type="Polygon", coordinates=[ring]),
            ),
        )
    db.flush()


def _seed_inspections(db: Session, clock: Clock, tz: tzinfo) -> None:
    """This period's inspection rounds as if opened on time: most walked on time with every item in order
    (the ledger's demo hazards stand for what earlier rounds found), a few missed and on record as such."""
    hazards = HazardConfig(sop_dir=PROJECT_ROOT / "sop", photo_dir=PROJECT_ROOT / "var" / "hazard_photos", tz=tz)
    cfg = InspectionConfig.of(hazards, PROJECT_ROOT / "risk_map")
    inspections.open_rounds(db, clock, cfg, on_schedule=True)
    plan, rng, now = cfg.plan(), random.Random(SEED + 7), clock.now()
    walkers = {u.username: u for u in db.execute(select(User).where(User.username.like("safety%"))).scalars()}
    rounds = select(InspectionRound).where(InspectionRound.status == InspectionStatus.MISSED).order_by(InspectionRound.id)
    for row in db.execute(rounds).scalars():
        kind = plan.kind(row.place_kind)
        if kind is None or rng.random() >= 0.8:
            continue  # left missed: the overdue list has something to show
        done_at = min(row.opens_at + (row.due_at - row.opens_at) * rng.uniform(0.2, 0.9), now)
        walker = walkers.get(f"safety_{row.place_code.lower()}") or walkers["safety"]
        row.status, row.late, row.inspector_id = InspectionStatus.DONE, False, walker.id
        row.started_at, row.done_at = done_at - timedelta(minutes=rng.randint(20, 60)), done_at
        row.results = [{"code": item.code, "ok": True, "note": "", "floor": "", "hazard_id": None} for item in kind.items]
    db.flush()
