"""The review report's figures, pure: task verdicts, reporting deadlines, response times, masking, the chart."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

# The SOP state whose tasks are the reports to leaders and the authority (电话报告、书面初报、上报).
REPORTING_STATE: Final = "leaders_informed"
ON_TIME, LATE, UNDONE, NOT_DUE = "on_time", "late", "undone", "not_due"


@dataclass(frozen=True)
class Verdict:
    """How a task went against its due time; `minutes` is how late (or, undone, how far past due at `now`)."""

    code: str
    minutes: int = 0

    def text(self, lang: str) -> str:
        zh = lang != "en"
        if self.code == ON_TIME:
            return "按时" if zh else "On time"
        if self.code == LATE:
            return f"超时 {self.minutes} 分钟" if zh else f"Late by {self.minutes} min"
        if self.code == NOT_DUE:
            return "未到期" if zh else "Not yet due"
        return "未完成" if zh else "Not done"


def minutes_between(start: datetime, end: datetime) -> int:
    """Whole minutes from `start` to `end`, rounded up so that a late second counts as a late minute."""
    return math.ceil((end - start).total_seconds() / 60)


def verdict(due_at: datetime, done_at: datetime | None, now: datetime) -> Verdict:
    """按时 when done by its due time, 超时 N 分钟 when done after it, 未完成 when not done."""
    if done_at is None:
        return Verdict(UNDONE) if now > due_at else Verdict(NOT_DUE)
    if done_at <= due_at:
        return Verdict(ON_TIME)
    return Verdict(LATE, minutes_between(due_at, done_at))


def is_reporting_task(state: str) -> bool:
    """The report-to-leaders tasks: the reporting time limits of the playbooks hang on this state."""
    return state == REPORTING_STATE


@dataclass(frozen=True)
class ResponseFigures:
    """Minutes from the incident's start to each milestone (None when it never happened)."""

    acknowledged: int | None
    on_site: int | None
    stabilised: int | None
    total: int | None


def response_figures(
    started_at: datetime,
    *,
    acknowledged_at: datetime | None,
    on_site_at: datetime | None,
    stabilised_at: datetime | None,
    closed_at: datetime | None,
    warned_at: datetime | None = None,
) -> ResponseFigures:
    """Time to acknowledge (from the warning, when there was one), to on-site, to stabilised, and in all."""

    def since(origin: datetime, at: datetime | None) -> int | None:
        return None if at is None else max(minutes_between(origin, at), 0)

    return ResponseFigures(
        acknowledged=since(warned_at or started_at, acknowledged_at),
        on_site=since(started_at, on_site_at),
        stabilised=since(started_at, stabilised_at),
        total=since(started_at, closed_at),
    )


def duration_text(minutes: int | None, lang: str) -> str:
    """'1 小时 5 分钟' / '1 h 5 min' (days past 24 hours, no zero parts); '—' when it never happened."""
    if minutes is None:
        return "—"
    hours, rest = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    en = lang == "en"
    parts = [
        (days, "d" if en else "天"),
        (hours, "h" if en else "小时"),
        (rest, "min" if en else "分钟"),
    ]
    shown = [f"{n} {unit}" for n, unit in parts if n]
    return " ".join(shown) if shown else ("0 min" if en else "0 分钟")


@dataclass(frozen=True)
class ChartRow:
    """One task on the response chart: where its bar starts and its due and done marks sit (x in px)."""

    label: str
    y: float
    start_x: float
    due_x: float
    done_x: float | None
    due_clipped: bool
    late: bool


@dataclass(frozen=True)
class Chart:
    width: float
    height: float
    left: float
    right: float
    rows: tuple[ChartRow, ...]
    ticks: tuple[tuple[float, str], ...]


@dataclass(frozen=True)
class ChartTask:
    label: str
    created_at: datetime
    due_at: datetime
    done_at: datetime | None


def chart(
    tasks: list[ChartTask],
    started_at: datetime,
    end_at: datetime,
    *,
    width: float = 640,
    left: float = 170,
    row_height: float = 16,
    tick_label: str = "+{m}′",
) -> Chart:
    """Lay the tasks on a time axis from the start to `end_at` (the last thing done); a due time
    past the axis is drawn at its end and marked clipped, so a 30-day review does not squash the night."""
    right = width - 10
    span = max((end_at - started_at).total_seconds(), 60.0)

    def x(at: datetime) -> float:
        share = min(max((at - started_at).total_seconds() / span, 0.0), 1.0)
        return round(left + share * (right - left), 1)

    rows = tuple(
        ChartRow(
            label=t.label,
            y=24 + i * row_height,
            start_x=x(t.created_at),
            due_x=x(t.due_at),
            done_x=None if t.done_at is None else x(t.done_at),
            due_clipped=t.due_at > end_at,
            late=t.done_at is not None and t.done_at > t.due_at,
        )
        for i, t in enumerate(tasks)
    )
    total_minutes = span / 60
    step = next((s for s in (5, 10, 15, 30, 60, 120, 240, 480, 1440) if total_minutes / s <= 8), 2880)
    ticks = tuple((_tick_x(m, span, left, right), tick_label.format(m=m)) for m in range(0, int(total_minutes) + 1, step))
    return Chart(width=width, height=24 + len(rows) * row_height + 10, left=left, right=right, rows=rows, ticks=ticks)


def _tick_x(minutes: int, span: float, left: float, right: float) -> float:
    return round(left + (minutes * 60 / span) * (right - left), 1)


HEADINGS: Final[dict[str, dict[str, str]]] = {
    "zh": {
        "title": "突发事件复盘报告",
        "drill": "【演练】",
        "cover": "封面",
        "summary": "一、事件概况",
        "timeline": "二、处置时间线",
        "sop": "三、SOP 执行情况",
        "reporting": "四、报告时限",
        "warning": "五、预警与通知",
        "figures": "六、响应指标",
        "meeting": "七、复盘会",
        "actions": "八、改进措施",
        "chart": "九、响应时间图",
        "none": "暂无",
        "action_title": "措施",
        "action_type": "类型",
        "action_owner": "责任人",
        "action_status": "状态",
        "action_type_rule": "制度",
        "action_type_process": "流程",
        "action_type_facility": "设施",
        "action_type_training": "培训",
        "action_done": "已完成",
        "action_overdue": "逾期未完成",
        "action_open": "进行中",
        "revision": "预案修订",
        "meeting_due": "应召开时限",
        "meeting_status_due": "待召开",
        "meeting_status_scheduled": "已安排",
        "meeting_status_held": "已召开",
        "meeting_status_overdue": "逾期未召开",
        "meeting_status_cancelled": "已取消",
        "meeting_reminders": "提醒与督办",
        "revision_proposed": "待审定",
        "revision_adopted": "已采纳",
        "revision_rejected": "未通过",
        "revision_superseded": "已被取代",
        "school": "学校",
        "incident": "事件",
        "type": "事件类型",
        "level": "事件等级",
        "state": "当前状态",
        "unit": "所属单位",
        "place": "地点",
        "started": "发生时间",
        "closed": "结束时间",
        "generated": "报告生成时间",
        "people": "相关人员",
        "description": "事件经过",
        "seq": "序号",
        "at": "时间",
        "who": "操作人",
        "what": "内容",
        "step": "步骤",
        "task": "任务",
        "due": "时限",
        "done": "完成时间",
        "by": "完成人",
        "verdict": "结论",
        "limit": "报告时限",
        "to": "接收人",
        "channel": "渠道",
        "status": "发送状态",
        "delivered": "送达",
        "acknowledged": "确认/已读",
        "escalation": "来源预警",
        "ack_time": "确认用时",
        "on_site": "到场控制用时",
        "stabilised": "稳定用时",
        "total": "处置总用时",
        "held": "召开时间",
        "attendees": "参会人员",
        "minutes": "会议纪要",
        "conclusions": "结论",
        "legend_due": "时限",
        "legend_done": "完成",
    },
    "en": {
        "title": "Incident review report",
        "drill": "[DRILL]",
        "cover": "Cover",
        "summary": "1. Summary",
        "timeline": "2. Response timeline",
        "sop": "3. SOP compliance",
        "reporting": "4. Reporting deadlines",
        "warning": "5. Warnings and notifications",
        "figures": "6. Response figures",
        "meeting": "7. Review meeting",
        "actions": "8. Improvement actions",
        "chart": "9. Response time chart",
        "none": "None yet",
        "action_title": "Action",
        "action_type": "Type",
        "action_owner": "Owner",
        "action_status": "Status",
        "action_type_rule": "Rule",
        "action_type_process": "Process",
        "action_type_facility": "Facility",
        "action_type_training": "Training",
        "action_done": "Done",
        "action_overdue": "Overdue",
        "revision": "Playbook revision",
        "meeting_due": "Due by",
        "meeting_status_due": "not yet held",
        "meeting_status_scheduled": "scheduled",
        "meeting_status_held": "held",
        "meeting_status_overdue": "overdue, not held",
        "meeting_status_cancelled": "cancelled",
        "meeting_reminders": "Reminders and escalation",
        "revision_proposed": "awaiting decision",
        "revision_adopted": "adopted",
        "revision_rejected": "rejected",
        "revision_superseded": "superseded",
        "action_open": "Open",
        "school": "School",
        "incident": "Incident",
        "type": "Type",
        "level": "Level",
        "state": "State",
        "unit": "Unit",
        "place": "Place",
        "started": "Started",
        "closed": "Closed",
        "generated": "Report generated",
        "people": "People involved",
        "description": "What happened",
        "seq": "No.",
        "at": "Time",
        "who": "By",
        "what": "What",
        "step": "Step",
        "task": "Task",
        "due": "Due",
        "done": "Done at",
        "by": "Done by",
        "verdict": "Verdict",
        "limit": "Time limit",
        "to": "Recipient",
        "channel": "Channel",
        "status": "Status",
        "delivered": "Delivered",
        "acknowledged": "Acknowledged / read",
        "escalation": "Source escalation",
        "ack_time": "Time to acknowledge",
        "on_site": "Time to on-site control",
        "stabilised": "Time to stabilised",
        "total": "Total time",
        "held": "Held at",
        "attendees": "Attendees",
        "minutes": "Minutes",
        "conclusions": "Conclusions",
        "legend_due": "due",
        "legend_done": "done",
    },
}

INVOLVEMENT: Final[dict[str, dict[str, str]]] = {
    "missing": {"zh": "失联", "en": "missing"},
    "injured": {"zh": "受伤", "en": "injured"},
    "at_risk": {"zh": "高风险", "en": "at risk"},
    "involved": {"zh": "涉事", "en": "involved"},
    "witness": {"zh": "目击", "en": "witness"},
    "deceased": {"zh": "死亡", "en": "deceased"},
}

ICS_ROLES: Final[dict[str, tuple[str, str]]] = {
    "commander": ("指挥者", "commander"),
    "scribe": ("记录员", "scribe"),
    "liaison": ("联络员", "liaison"),
    "information_officer": ("信息发布员", "information officer"),
    "operations": ("行动负责人", "operations"),
    "safety": ("安全负责人", "safety"),
    "logistics": ("后勤保障", "logistics"),
}

_WHOM: Final[dict[str, tuple[str, str]]] = {
    "owner": ("负责人", "owner"),
    "commander": ("指挥者", "commander"),
    "level_above": ("上一级", "level above"),
}


# Timeline entries written after the incident closed: its review's improvement actions and the playbook
# revisions they proposed.
_LATER: Final[dict[str, tuple[str, str]]] = {
    "recovery_plan": ("制定善后计划", "Recovery plan made"),
    "recovery_done": ("完成善后任务：{label}", "Recovery task done: {label}"),
    "recovery_overdue": ("善后任务逾期：{label}", "Recovery task overdue: {label}"),
    "review_due": ("复盘会列入计划", "Review meeting put on record"),
    "review_scheduled": ("安排复盘会", "Review meeting scheduled"),
    "review_held": ("召开复盘会", "Review meeting held"),
    "review_overdue": ("复盘会逾期未召开", "Review meeting overdue, not held"),
    "action_added": ("新增整改措施：{title}", "Improvement action added: {title}"),
    "action_done": ("整改措施 #{action_id} 已完成", "Improvement action #{action_id} done"),
    "action_overdue": ("整改措施 #{action_id} 逾期未完成", "Improvement action #{action_id} overdue"),
    "revision_proposed": ("提出预案修订：{playbook} v{version}", "Playbook revision proposed: {playbook} v{version}"),
    "playbook_revised": ("预案修订已采纳：{playbook} v{version}", "Playbook revision adopted: {playbook} v{version}"),
    "revision_rejected": ("预案修订未通过：{playbook} v{version}", "Playbook revision rejected: {playbook} v{version}"),
    "revision_superseded": (
        "预案修订已被取代：{playbook} v{version}",
        "Playbook revision superseded: {playbook} v{version}",
    ),
}


# The kinds `describe` puts in words (any other reads as its kind and raw data).
DESCRIBED: Final = frozenset(
    {"created", "role", "person", "paged", "tasks_opened", "task_overdue", "task_done", "transition", "note", *_LATER}
)


def describe(
    kind: str,
    data: Mapping[str, Any],
    lang: str,
    *,
    state_label: Callable[[str], str],
    task_label: Mapping[str, str],
) -> str:
    """One line of the timeline in words: what happened at that step."""
    en = lang == "en"

    def task(code: object) -> str:
        return task_label.get(str(code), str(code))

    if kind == "created":
        return "Incident opened" if en else "事件登记"
    if kind == "role":
        code, name = str(data.get("role", "")), data.get("name", "")
        role = ICS_ROLES.get(code, (code, code))[1 if en else 0]
        return f"Role {role}: {name}" if en else f"指定{role}：{name}"
    if kind == "person":
        inv = INVOLVEMENT.get(str(data.get("involvement")), {}).get(lang, str(data.get("involvement")))
        return f"Person added ({inv})" if en else f"登记相关人员（{inv}）"
    if kind == "paged":
        count = len(data.get("users") or [])
        return f"On-duty team paged: {count} people" if en else f"呼叫值班人员 {count} 人"
    if kind == "tasks_opened":
        names = "、".join(task(c) for c in data.get("tasks") or [])
        state = state_label(str(data.get("state", "")))
        return f"{state}: tasks opened: {names}" if en else f"进入「{state}」，生成任务：{names}"
    if kind == "task_overdue":
        whom = _WHOM.get(str(data.get("whom")), (str(data.get("whom")), str(data.get("whom"))))
        name = task(data.get("code", data.get("task_id", "")))
        return f"Overdue: {name}, told the {whom[1]}" if en else f"任务超时：{name}，已提醒{whom[0]}"
    if kind == "task_done":
        late = bool(data.get("late"))
        name = task(data.get("code", ""))
        return f"Done: {name}" + (" (late)" if late else "") if en else f"完成任务：{name}" + ("（超时）" if late else "")
    if kind == "transition":
        source, dest = state_label(str(data.get("source", ""))), state_label(str(data.get("dest", "")))
        reason = f" — {data['reason']}" if data.get("reason") else ""
        return f"{source} → {dest}{reason}"
    if kind == "note":
        return f"Note: {data.get('text', '')}" if en else f"备注：{data.get('text', '')}"
    if kind in _LATER:
        zh, english = _LATER[kind]
        fields = {k: data.get(k, "") for k in ("title", "action_id", "playbook", "version")}
        return (english if en else zh).format(label=task(data.get("code", "")), **fields)
    return f"{kind}: {json.dumps(dict(data), ensure_ascii=False, sort_keys=True, default=str)}"
