"""The demo's history: one past missing-student incident walked through its whole life with the real services.

Eighteen days before "now", at 22:10, a level Ⅱ 学生失联 of class CS2301 is opened; the response team walks the
crisis SOP, mostly on time (the written initial report and the call to the family run a few minutes late), and
the student is found safe two hours later. Recovery, review and closing follow; the recovery plan is partly done,
the review meeting was held ten days ago, two improvement actions came of it (a process one done, a facility one
due in two weeks) and the anonymised case is in the training library. No playbook revision is proposed: adopting
one would rewrite the repository's playbook file. Never called by `seed_demo`: the many tests that seed the demo
campus assume it has no incidents; the `demo` command calls it after creating a campus.

Quiet seeding: the walk keeps its own ManualClock, starting in the past and moved from step to step. On each
move the real sweeper fires whatever fell due on the way at its own minute (on a new campus, only the history's
own rows fall due before now) and the real dispatcher sends what that wrote, exactly as the worker would have
then; only the channels are stand-ins that reach nobody, so the history's texts count as delivered on its own
clock and no phone, nor the console's sms-outbox.log, hears of them now. Every step is done before its deadline
but two, so little fires at all. What is still pending at the end (the open follow-ups, the facility action)
lies after the real "now": the demo's first worker round finds nothing of the history to fire or send. The
in-app items are left as read, a few minutes after they came.
"""

from __future__ import annotations

import time as timer
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from riskcontrol.core import audit, deadlines, dispatcher
from riskcontrol.core.clock import Clock, ManualClock
from riskcontrol.core.db import transaction
from riskcontrol.core.deadlines import Deadline
from riskcontrol.core.http import AppContext
from riskcontrol.core.outbox import Channels, OutboxMessage, SendOutcome
from riskcontrol.core.security import Principal
from riskcontrol.demo import DEMO_SCHOOL_CODE, DEMO_TZ, _demo_principal
from riskcontrol.grid import service as grid_service
from riskcontrol.grid.models import OrgUnit
from riskcontrol.incidents import board, members, moves, opening, tasks
from riskcontrol.incidents.models import Incident, IncidentPerson, IncidentTask
from riskcontrol.incidents.schemas import IncidentIn, PersonIn, TransitionIn
from riskcontrol.notify import service as notify
from riskcontrol.notify.models import Notification
from riskcontrol.people.models import Student, User
from riskcontrol.reviews import actions, cases, recovery
from riskcontrol.reviews import service as reviews
from riskcontrol.reviews.models import CaseStudy, ImprovementAction, RecoveryItem, ReviewMeeting
from riskcontrol.reviews.schemas import ActionDoneIn, ActionIn, HeldIn, ScheduleIn

TITLE: Final = "计科2301班一名学生夜不归宿、电话无法接通"
DAYS_AGO: Final = 18  # the night of the incident; every other step is a day of the history counted from it
ROOM: Final = "E1-101"  # the student's room; its dorm head is the roommate who raised the alarm
ROLES: Final = {
    "operations": "counselor_cs",
    "safety": "safety",
    "liaison": "officer_cs",
    "scribe": "affairs",
    "information_officer": "opinion",
}
# The night and the days after: (day, local time, who, what, which, text). `trigger` fires an SOP trigger,
# `task` completes a task with its evidence, `note` writes on the timeline, `person` adds the roommate,
# `schedule` puts the review meeting in the diary, and `recovery` has its owner mark a recovery-plan task done
# (the psych centre's notes are clinical, so they say no more than that a session took place).
STEPS: Final[tuple[tuple[int, str, str, str, str, str], ...]] = (
    (0, "22:11", "response1", "task", "dispatch", "保卫处值班人员和辅导员已出发赶往东区1号楼，预计22:15前到达。"),
    (0, "22:12", "response1", "trigger", "take_control", ""),
    (0, "22:14", "response1", "person", "witness", "寝室长，当晚最后见到该生并报告"),
    (0, "22:18", "counselor_cs", "task", "start_search", "已电话、微信联系本人及室友、好友，查看宿舍、教室和图书馆，均未找到。"),
    (0, "22:19", "response1", "trigger", "verify", ""),
    (0, "22:21", "response1", "trigger", "report_to_leaders", ""),
    (0, "22:23", "counselor_cs", "task", "report_by_phone", "22:22 已电话报告分管校领导。"),
    (0, "22:26", "response1", "note", "", "门禁记录显示该生20:47离开东区1号楼，此后校内无一卡通消费和校园网登录记录。"),
    (0, "22:31", "safety", "task", "secure_records", "门禁、监控和一卡通记录已调取并保全，由保卫处存档。"),
    (0, "22:35", "counselor_cs", "task", "verify_facts", "最后联系为当晚20:30与室友的微信；无请假、离校登记和购票记录。"),
    (0, "22:36", "leader", "trigger", "activate_plan", ""),
    (0, "22:38", "leader", "task", "activate_plan", "已宣布启动学生失联处置预案，各角色负责人到位。"),
    (0, "22:40", "leader", "task", "decide_police_report", "已向属地派出所报警，民警到校了解情况。"),
    (0, "22:47", "affairs", "task", "report_in_writing", "书面初报已报送学校办公室。"),
    (0, "22:48", "leader", "task", "open_command_post", "现场工作组已成立，信息通报群已建立。"),
    (0, "22:50", "response1", "trigger", "coordinate", ""),
    (0, "22:55", "officer_cs", "task", "report_to_authority", "已电话报告上级教育主管部门值班室。"),
    (0, "23:14", "officer_cs", "task", "contact_family", "已联系学生父亲：家中当晚未与学生联系，家长提供了学生可能去的地点。"),
    (0, "23:20", "response1", "note", "", "派出所调取校外周边监控：该生21:05步行出南门。"),
    (0, "23:30", "response1", "trigger", "publish", ""),
    (0, "23:50", "opinion", "task", "monitor_opinion", "班级群、校园论坛和主要社交平台未见相关讨论。"),
    (1, "00:07", "response1", "note", "", "00:05 民警与保卫处在南门外一家24小时自习室找到该生，人身安全，由辅导员陪同返校。"),
    (1, "00:08", "safety", "task", "police_search", "学生已找到，搜寻结束。"),
    (1, "00:09", "counselor_cs", "task", "search_team", "学生已找到，各查找小组撤回。"),
    (1, "00:20", "opinion", "task", "issue_statement", "学生已找到，经批准不对外发布；如有询问按统一口径答复。"),
    (1, "00:40", "leader", "trigger", "stabilise", ""),
    (1, "10:00", "officer_cs", "task", "receive_family", "家长上午到校，已安排接待，由学院老师全程陪同。"),
    (1, "15:00", "counselor_cs", "task", "return_interview", "已与该生谈心，了解失联原因，已转介心理中心。"),
    (2, "09:30", "", "recovery", "individual_session:missing", "已完成个体心理辅导，约定后续随访。"),
    (2, "10:00", "", "recovery", "individual_session:witness", "已完成个体心理辅导。"),
    (2, "11:00", "counselor_cs", "task", "update_key_concern", "经评估列入重点关注学生名单，辅导员每周谈心。"),
    (2, "14:00", "response1", "trigger", "start_review", ""),
    (2, "15:00", "affairs", "task", "final_report", "书面终报已报送，事件材料已归档。"),
    (2, "15:30", "leader", "task", "review_meeting", "复盘会交学生工作部在结案后30日内组织召开，纪要见复盘会记录。"),
    (2, "16:00", "leader", "trigger", "close", ""),
    (2, "16:30", "affairs", "schedule", "8 14:30", "行政楼第三会议室"),
    (3, "10:00", "", "recovery", "family_session:missing", "已与家长沟通，了解家庭支持情况。"),
    (5, "15:00", "", "recovery", "group_session:", "已为班级开展一次团体辅导。"),
    (7, "16:00", "", "recovery", "follow_up_1w:missing", "一周随访：作息规律，按时上课。"),
)
ATTENDEES: Final = (
    ("leader", "分管学生工作校领导"),
    ("affairs", "学生工作部"),
    ("officer_cs", "计算机学院"),
    ("counselor_cs", "辅导员"),
    ("safety", "保卫处"),
    ("psych", "心理健康教育与咨询中心"),
)
MINUTES: Final = (
    "复盘了该起学生失联事件从接报到找回的全过程：寝室长22:05发现室友未归并报告，22:10接报立案，约两小时后"
    "在校外找到学生，人身安全。处置总体及时有序，警校联动顺畅；书面初报和联系家长两项略晚于时限。门禁记录显示"
    "学生20:47即已离开宿舍楼，查寝到22:05才发现，夜间门禁异常未能及时推送给辅导员。"
)
CONCLUSIONS: Final = (
    "查寝发现未归学生，寝室长须在15分钟内报告辅导员，辅导员即时启动多渠道联系。",
    "书面初报使用预填模板，确保30分钟内报送。",
    "宿舍门禁夜间异常（离楼未返）应自动推送所在班级辅导员。",
)


@dataclass(frozen=True)
class HistorySummary:
    """What seeding the history made (or found): the incident and the figures a visitor will see."""

    created: bool
    incident_id: int | None
    counts: dict[str, int]
    seconds: float = 0.0

    def describe(self) -> str:
        """One line for the console."""
        if not self.created:
            return "history: the demo history was already there; nothing was added."
        c = self.counts
        return (
            f"history: 1 incident reviewed ({c['tasks']} SOP tasks, {c['late']} late), "
            f"{c['recovery_done']} of {c['recovery']} recovery tasks done, "
            f"{c['actions']} improvement actions ({c['actions_open']} open), {c['cases']} training case; "
            f"see /reviews, /cases and the incident's review report ({self.seconds:.1f} s)."
        )


def _delivered_then(message: OutboxMessage) -> SendOutcome:
    """A channel that reaches nobody: the history's messages went out when they were written, long ago."""
    status = "published" if message.channel == notify.IN_APP else "delivered"
    return SendOutcome(ok=True, provider_id=f"DEMO-HISTORY-{message.id}", provider_status=status)


class _Walk:
    """The history's own clock and the worker that keeps up with it; each step commits on its own."""

    def __init__(self, ctx: AppContext, now: datetime, tz: tzinfo) -> None:
        self.ctx, self.tz = ctx, tz
        self.day0: date = now.astimezone(tz).date() - timedelta(days=DAYS_AGO)
        self.clock = ManualClock(self.moment(0, "22:10"))
        self.channels = Channels()
        for channel in notify.CHANNELS:
            self.channels.register(channel, _delivered_then)
        self.incident_id = 0

    def moment(self, day: int, hh_mm: str) -> datetime:
        hours, minutes = (int(x) for x in hh_mm.split(":"))
        return datetime.combine(self.day0 + timedelta(days=day), time(hours, minutes), tzinfo=self.tz).astimezone(UTC)

    @contextmanager
    def db(self) -> Iterator[Session]:
        with transaction(self.ctx.sessions) as db:
            yield db

    def at(self, day: int, hh_mm: str) -> None:
        """Move to hh:mm of the day, firing each deadline on the way at its own minute, then sending what it wrote."""
        moment = self.moment(day, hh_mm)
        while True:
            with self.ctx.sessions() as db:
                due = db.execute(
                    select(Deadline.due_at)
                    .where(Deadline.status == deadlines.PENDING, Deadline.due_at <= moment)
                    .order_by(Deadline.due_at)
                    .limit(1)
                ).scalar_one_or_none()
            if due is None:
                break
            self.clock.set(max(due, self.clock.now()))
            self.work()
        self.clock.set(moment)
        self.work()

    def work(self) -> None:
        deadlines.sweep(self.ctx.sessions, self.clock, self.ctx.deadline_handlers, worker="demo-history")
        dispatcher.dispatch(self.ctx.sessions, self.clock, self.channels)

    def step(self, who: dict[str, Principal], username: str, what: str, which: str, text: str) -> None:
        """One line of STEPS, in a transaction of its own."""
        if what == "recovery":
            self.recovery(which, text)
            return
        cfg, by = self.ctx.extras["incidents"], who[username]
        with self.db() as db:
            if what == "trigger":
                moves.transition(db, self.clock, cfg, by, self.incident_id, which, TransitionIn(confirm=True))
            elif what == "task":
                task_id = db.execute(
                    select(IncidentTask.id).where(IncidentTask.incident_id == self.incident_id, IncidentTask.code == which)
                ).scalar_one()
                tasks.complete_task(db, self.clock, cfg, by, self.incident_id, task_id, text)
            elif what == "note":
                board.add_note(db, self.clock, cfg, by, self.incident_id, text)
            elif what == "person":
                _, roommate = _room_students(db)
                person = PersonIn(student_id=roommate.id, involvement=which, note=text)
                members.add_person(db, self.clock, cfg, by, self.incident_id, person)
            elif what == "schedule":
                day, hh_mm = which.split()
                data = ScheduleIn(scheduled_for=self.moment(int(day), hh_mm), place=text)
                reviews.schedule(db, self.clock, self.ctx.extras["reviews"], by, _meeting_id(db, self.incident_id), data)
            else:
                raise ValueError(f"unknown step {what!r}")

    def recovery(self, which: str, note: str) -> None:
        """Its owner marks the plan's task done: `code:involvement` of a person's, `code:` of the incident's."""
        code, involvement = which.split(":")
        with self.db() as db:
            stmt = select(RecoveryItem).where(RecoveryItem.incident_id == self.incident_id, RecoveryItem.code == code)
            if involvement:
                stmt = stmt.join(IncidentPerson, IncidentPerson.id == RecoveryItem.person_id).where(
                    IncidentPerson.involvement == involvement
                )
            item = db.execute(stmt).scalar_one()
            owner = db.get(User, item.owner_user_id) if item.owner_user_id is not None else None
            assert owner is not None, f"the recovery task {code} has no owner on the demo campus"
            recovery.complete(db, self.clock, self.ctx.extras["reviews"], _demo_principal(db, owner.username), item.id, note)


def seed_history(ctx: AppContext, clock: Clock, tz: tzinfo = DEMO_TZ) -> HistorySummary:
    """Walk the demo history on the demo campus, relative to `clock`'s now; a no-op when it is already there.
    It commits step by step, as the people and the worker did; `ctx` is the application's wiring (its configs,
    deadline handlers and the event subscriptions that open the recovery plan and the review meeting)."""
    with ctx.sessions() as db:
        if grid_service.find_by_code(db, DEMO_SCHOOL_CODE) is None:
            raise LookupError("the demo campus is not there: seed it first")
        found = db.execute(select(Incident.id).where(Incident.title == TITLE)).scalar_one_or_none()
        if found is not None:
            return HistorySummary(created=False, incident_id=found, counts=_counts(db, found))
        last_notification = db.execute(select(func.max(Notification.id))).scalar_one() or 0
        who = {name: _demo_principal(db, name) for name in ("response1", "leader", "psych", *ROLES.values())}
    started = timer.perf_counter()
    walk = _Walk(ctx, clock.now(), tz)
    walk.incident_id = _open(walk, who)
    walk.work()  # the paging of the response team goes out at once
    walk.at(0, "22:11")
    with walk.db() as db:
        for role, username in ROLES.items():
            by, holder = who["response1"], who[username].user_id
            members.assign_role(db, walk.clock, ctx.extras["incidents"], by, walk.incident_id, role, holder)
    for day, hh_mm, username, what, which, text in STEPS:
        walk.at(day, hh_mm)
        walk.step(who, username, what, which, text)
    _review(walk, who)
    with walk.db() as db:
        _leave_read(db, last_notification)
        audit.record(
            db,
            walk.clock,
            actor_user_id=None,
            actor="demo",
            action="demo.history_seeded",
            subject_type="incident",
            subject_id=walk.incident_id,
        )
    with ctx.sessions() as db:
        counts = _counts(db, walk.incident_id)
    return HistorySummary(created=True, incident_id=walk.incident_id, counts=counts, seconds=timer.perf_counter() - started)


def _room_students(db: Session) -> tuple[Student, Student]:
    """The student who went missing (the first in the room holding no account) and the dorm head who raised the alarm."""
    room = db.execute(select(OrgUnit).where(OrgUnit.code == ROOM)).scalar_one()
    head = db.execute(select(User).where(User.username == "dorm_" + ROOM.lower().replace("-", "_"))).scalar_one()
    accounts = select(User.student_id).where(User.student_id.is_not(None))
    missing = db.execute(
        select(Student).where(Student.dorm_id == room.id, Student.id.not_in(accounts)).order_by(Student.student_no).limit(1)
    ).scalar_one()
    roommate = db.get(Student, head.student_id)
    assert roommate is not None
    return missing, roommate


def _open(walk: _Walk, who: dict[str, Principal]) -> int:
    """22:10: the response team opens the incident on the dorm head's call; the leader commands it."""
    with walk.db() as db:
        missing, _ = _room_students(db)
        data = IncidentIn.model_validate(
            {
                "type": "missing_student",
                "level": "II",
                "title": TITLE,
                "unit_id": missing.class_id,
                "location": "东区1号楼",
                "summary": "22:05 寝室长报告室友晚归未归，电话关机、微信未回复；该生近期学业压力较大。",
                "commander_id": who["leader"].user_id,
                "people": [{"student_id": missing.id, "involvement": "missing", "note": "近期学业压力较大，情绪低落"}],
            }
        )
        return opening.open_incident(db, walk.clock, walk.ctx.extras["incidents"], who["response1"], data).id


def _meeting_id(db: Session, incident_id: int) -> int:
    return db.execute(select(ReviewMeeting.id).where(ReviewMeeting.incident_id == incident_id)).scalar_one()


def _review(walk: _Walk, who: dict[str, Principal]) -> None:
    """Day 8: the meeting is held and recorded with two actions; day 15 the process one is done; day 16 the case."""
    cfg, affairs = walk.ctx.extras["reviews"], who["affairs"]
    walk.at(8, "17:00")
    with walk.db() as db:
        held = HeldIn.model_validate(
            {
                "held_at": walk.moment(8, "14:30"),
                "attendees": [{"user_id": who[name].user_id, "role": role} for name, role in ATTENDEES]
                + [{"name": "后勤保障处宿管中心", "role": "宿舍管理"}],
                "minutes": MINUTES,
                "conclusions": list(CONCLUSIONS),
            }
        )
        reviews.record_held(db, walk.clock, cfg, affairs, _meeting_id(db, walk.incident_id), held)
    walk.at(8, "17:20")
    process = ActionIn(
        title="查寝发现未归学生15分钟内上报辅导员",
        detail="修订学院宿舍晚间查寝办法，明确寝室长、楼长、辅导员的上报时限和联系顺序，并在全院宣讲。",
        type="process",
        owner_user_id=who["officer_cs"].user_id,
        due_at=walk.moment(22, "17:00"),
    )
    facility = ActionIn(
        title="东区1号楼门禁夜间异常自动推送",
        detail="23:00 后门禁记录显示离楼未返的学生，由系统自动推送所在班级辅导员；先在东区1号楼试点。",
        type="facility",
        owner_user_id=who["safety"].user_id,
        due_at=walk.moment(DAYS_AGO + 14, "17:00"),
    )
    with walk.db() as db:
        made = [
            actions.create(db, walk.clock, cfg, walk.ctx.extras["hazards"], affairs, walk.incident_id, data).id
            for data in (process, facility)
        ]
    walk.at(15, "10:00")
    with walk.db() as db:
        evidence = ActionDoneIn(evidence="学院宿舍晚间查寝与未归报告办法已印发，并在辅导员、寝室长会议上宣讲，签到表存档。")
        actions.complete(db, walk.clock, cfg, who["officer_cs"], made[0], evidence)
    walk.at(16, "10:00")
    with walk.db() as db:
        cases.make(db, walk.clock, affairs, walk.incident_id, tz=walk.ctx.settings.tz)


def _leave_read(db: Session, after_id: int) -> None:
    """The history's inbox items reached their screens at once and were read a few minutes later."""
    for item in db.execute(select(Notification).where(Notification.id > after_id)).scalars():
        item.delivered_at = item.delivered_at or item.created_at
        item.read_at = item.read_at or item.created_at + timedelta(minutes=3)


def _counts(db: Session, incident_id: int) -> dict[str, int]:
    tasks = list(db.execute(select(IncidentTask).where(IncidentTask.incident_id == incident_id)).scalars())
    items = list(db.execute(select(RecoveryItem.status).where(RecoveryItem.incident_id == incident_id)).scalars())
    done = list(db.execute(select(ImprovementAction.status).where(ImprovementAction.incident_id == incident_id)).scalars())
    made = db.execute(select(func.count()).select_from(CaseStudy).where(CaseStudy.incident_id == incident_id)).scalar_one()
    return {
        "tasks": len(tasks),
        "late": sum(1 for t in tasks if t.done_at is not None and t.done_at > t.due_at),
        "recovery": len(items),
        "recovery_done": items.count(recovery.DONE),
        "actions": len(done),
        "actions_open": done.count(actions.OPEN),
        "cases": int(made),
    }
