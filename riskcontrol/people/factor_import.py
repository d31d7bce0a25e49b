"""Importing student risk factors from the student-affairs systems' exports (学工系统导出), all or nothing.

One layout per source (docs/risk-factors.md): the psychological screening, academic warnings,
sanctions, hardship certification, leave and return, psychological leave. A file is CSV (UTF-8 or
GBK/GB18030) or an .xlsx workbook; every row is checked first and every problem is reported by
line and column, and only a file with none is stored. A row is found again by its natural key
(student, factor, source, date), so importing the same export twice changes nothing. A screening
flag new to the student puts them on the key-concern register with the first talk due within days.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from riskcontrol.core import csvimport
from riskcontrol.core.clock import Clock
from riskcontrol.core.csvimport import ErrorCollector, Row, RowError
from riskcontrol.core.datafiles import load_model
from riskcontrol.core.errors import Forbidden
from riskcontrol.core.i18n import phrase
from riskcontrol.core.security import Principal
from riskcontrol.people import concern_service
from riskcontrol.people.concern_rules import RegisterConfig
from riskcontrol.people.factor_models import StudentFactor
from riskcontrol.people.factor_rules import Factor, FactorCatalogue
from riskcontrol.people.importer import record_import
from riskcontrol.people.models import Student
from riskcontrol.people.rules import Role

FACTORS_FILE: Final = "risk_factors.yaml"
# Who imports factors: the school-level staff who run the screening and keep the student records.
IMPORTS: Final = frozenset({Role.STUDENT_AFFAIRS, Role.PSYCH_CENTER})
STUDENT_NO: Final = "学号"
_DATE = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?")


class FactorSource(StrEnum):
    SCREENING = "screening"
    ACADEMIC = "academic"
    SANCTION = "sanction"
    HARDSHIP = "hardship"
    LEAVE = "leave"
    PSYCH_LEAVE = "psych_leave"
    PSYCH_CARE = "psych_care"


@dataclass(frozen=True)
class Layout:
    """The columns one source's export has, and how a row becomes a factor."""

    factor: str
    date_column: str
    columns: tuple[str, ...]
    optional: tuple[str, ...] = ()
    # A column whose value must be one of these; `flagged` of them make the row a factor (the others,
    # a negative screening result, are read and checked but store nothing).
    choices: dict[str, frozenset[str]] = field(default_factory=dict)
    flagged: frozenset[str] | None = None
    numbers: tuple[str, ...] = ()
    # The factor named by a column's value instead of `factor` (the psych centre's record of care).
    factor_by: tuple[str, dict[str, str]] | None = None

    def factor_of(self, row: Row) -> str:
        if self.factor_by is None:
            return self.factor
        column, codes = self.factor_by
        return codes.get(row.cells.get(column, ""), self.factor)

    @property
    def required(self) -> tuple[str, ...]:
        return (STUDENT_NO, self.date_column, *self.columns)


_LEAVE = frozenset({"休学", "复学"})
LAYOUTS: Final[dict[FactorSource, Layout]] = {
    FactorSource.SCREENING: Layout(
        "screening_flag",
        "测评日期",
        ("量表", "结果"),
        ("得分",),
        choices={"结果": frozenset({"阳性", "需关注", "预警", "阴性", "正常"})},
        flagged=frozenset({"阳性", "需关注", "预警"}),
        numbers=("得分",),
    ),
    FactorSource.ACADEMIC: Layout(
        "academic_warning",
        "预警日期",
        ("预警等级", "不及格学分"),
        choices={"预警等级": frozenset({"一级", "二级", "三级", "黄色", "橙色", "红色"})},
        numbers=("不及格学分",),
    ),
    FactorSource.SANCTION: Layout(
        "sanction",
        "处分日期",
        ("处分类型",),
        choices={"处分类型": frozenset({"警告", "严重警告", "记过", "留校察看", "开除学籍"})},
    ),
    FactorSource.HARDSHIP: Layout(
        "financial_hardship",
        "认定日期",
        ("认定等级",),
        choices={"认定等级": frozenset({"一般困难", "困难", "特别困难"})},
    ),
    FactorSource.LEAVE: Layout("leave_and_return", "日期", ("类型",), ("原因",), choices={"类型": _LEAVE}),
    FactorSource.PSYCH_LEAVE: Layout("psychological_leave", "日期", ("类型",), ("原因",), choices={"类型": _LEAVE}),
    FactorSource.PSYCH_CARE: Layout(
        "psychiatric_care",
        "日期",
        ("类型",),
        choices={"类型": frozenset({"服药", "就诊", "住院", "诊断"})},
        factor_by=("类型", {"服药": "psychiatric_medication"}),
    ),
}


def load_catalogue(sop_dir: Path) -> FactorCatalogue:
    """The factor catalogue of `sop_dir`; DataFileError names file, line and field."""
    return load_model(sop_dir / FACTORS_FILE, FactorCatalogue)


@dataclass
class FactorReport:
    """What an import did, or every problem that stopped it (and then nothing was written)."""

    source: FactorSource
    errors: list[RowError] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    not_flagged: int = 0
    interviews: int = 0
    # Flagged students whose class has no counsellor to interview them (told in the report, stored anyway).
    no_counselor: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "not_flagged": self.not_flagged,
            "interviews": self.interviews,
            "no_counselor": self.no_counselor,
        }


@dataclass(frozen=True)
class _FactorIn:
    row: Row
    student: Student
    code: str
    dated: date
    detail: dict[str, Any]


def _date_cell(row: Row, column: str, today: date, errors: ErrorCollector) -> date | None:
    text = row[column]
    match = _DATE.fullmatch(text) or _DATE.fullmatch(text.split(" ")[0])
    if not text:
        errors.add(row.line, column, "must not be empty")
        return None
    if match is None:
        errors.add(row.line, column, f"{text!r} is not a date; write it like 2026-03-04")
        return None
    try:
        dated = date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        errors.add(row.line, column, f"{text!r} is not a day of the calendar")
        return None
    if dated > today + timedelta(days=1):
        errors.add(row.line, column, f"{dated.isoformat()} is in the future")
        return None
    return dated


def _checked_rows(
    db: Session, layout: Layout, rows: Sequence[Row], today: date, errors: ErrorCollector
) -> tuple[list[_FactorIn], int]:
    """Every row checked (problems to `errors`): the factors to store, and how many rows were not flagged."""
    numbers = [row[STUDENT_NO] for row in rows if row[STUDENT_NO]]
    students: dict[str, Student] = {}
    for start in range(0, len(numbers), 500):
        found = db.execute(select(Student).where(Student.student_no.in_(numbers[start : start + 500]))).scalars()
        students |= {s.student_no: s for s in found}
    wanted, skipped, seen = [], 0, dict[tuple[str, str, date], int]()
    for row in rows:
        student = students.get(row[STUDENT_NO])
        if not row[STUDENT_NO]:
            errors.add(row.line, STUDENT_NO, "must not be empty")
        elif student is None:
            errors.add(row.line, STUDENT_NO, f"no student with number {row[STUDENT_NO]!r}; import the students first")
        dated = _date_cell(row, layout.date_column, today, errors)
        detail: dict[str, Any] = {}
        for column in (*layout.columns, *layout.optional):
            value = row.cells.get(column, "")
            if column in layout.choices and value not in layout.choices[column]:
                allowed = "、".join(sorted(layout.choices[column]))
                errors.add(row.line, column, f"{value!r} is not one of {allowed}" if value else "must not be empty")
            elif column in layout.numbers and value and not re.fullmatch(r"\d+(\.\d+)?", value):
                errors.add(row.line, column, f"{value!r} is not a number")
            elif column in layout.columns and not value:
                errors.add(row.line, column, "must not be empty")
            if value:
                detail[column] = value
        if student is None or dated is None:
            continue
        if layout.flagged is not None and not any(row.cells.get(c) in layout.flagged for c in layout.choices):
            skipped += 1
            continue
        code = layout.factor_of(row)
        key = (student.student_no, code, dated)
        if key in seen:
            errors.add(
                row.line, STUDENT_NO, f"the same student, record and {layout.date_column} already appear on line {seen[key]}"
            )
            continue
        seen[key] = row.line
        wanted.append(_FactorIn(row, student, code, dated, detail))
    return wanted, skipped


def import_factors(
    db: Session,
    clock: Clock,
    catalogue: FactorCatalogue,
    register: RegisterConfig,
    *,
    source: FactorSource,
    data: bytes,
    by: Principal | None,
) -> FactorReport:
    """Check every row of one source's export, then store all of it when no row is bad, else nothing."""
    if by is not None and not by.has_role(*IMPORTS):
        raise Forbidden(phrase("refusal.factors.import_forbidden"), field="file")
    layout = LAYOUTS[source]
    report = FactorReport(source)
    errors = ErrorCollector()
    read = csvimport.read_workbook_rows if csvimport.is_workbook(data) else csvimport.read_rows
    rows = read(data, required=layout.required, optional=layout.optional, errors=errors)
    today = clock.now().astimezone(register.tz).date()
    wanted, report.not_flagged = _checked_rows(db, layout, rows, today, errors) if not errors else ([], 0)
    if errors:
        report.errors = errors.by_line()
        return report
    factors = {w.code: catalogue.get(w.code) for w in wanted}
    if missing := sorted(code for code, factor in factors.items() if factor is None):
        raise LookupError(f"sop/{FACTORS_FILE} has no factor {missing[0]!r}")
    keys = [(w.student.id, w.code, w.dated) for w in wanted]
    existing: dict[tuple[int, str, date], StudentFactor] = {}
    for start in range(0, len(keys), 500):
        stmt = select(StudentFactor).where(
            StudentFactor.source == source.value,
            tuple_(StudentFactor.student_id, StudentFactor.code, StudentFactor.dated).in_(keys[start : start + 500]),
        )
        existing |= {(f.student_id, f.code, f.dated): f for f in db.execute(stmt).scalars()}
    now = clock.now()
    new: list[_FactorIn] = []
    for w in wanted:
        factor = factors[w.code]
        assert factor is not None
        expires_on = factor.expires_on(w.dated)
        found = existing.get((w.student.id, w.code, w.dated))
        if found is None:
            db.add(
                StudentFactor(
                    student_id=w.student.id,
                    code=w.code,
                    source=source.value,
                    dated=w.dated,
                    expires_on=expires_on,
                    detail=w.detail,
                    imported_at=now,
                    imported_by=by.user_id if by else None,
                )
            )
            report.created += 1
            new.append(w)
        elif found.detail != w.detail or found.expires_on != expires_on:
            found.detail, found.expires_on = w.detail, expires_on
            report.updated += 1
        else:
            report.unchanged += 1
    db.flush()
    for w in new:
        factor = factors[w.code]
        assert factor is not None
        if factor.interview_within is None or factor.interview_level is None or factor.expires_on(w.dated) <= today:
            continue  # nothing to talk about, or an old flag already expired
        reasons = f"{factor.zh}（{'，'.join(str(v) for v in w.detail.values())}，{w.dated.isoformat()}）"
        added = concern_service.add_for_interview(
            db,
            clock,
            register,
            student=w.student,
            level=factor.interview_level,
            reason_codes=[factor.item],
            reasons=reasons,
            source=source.value,
            source_id=f"{factor.code}:{w.dated.isoformat()}",
            due_within=factor.interview_within,
            by_user_id=by.user_id if by else None,
        )
        if added is True:
            report.interviews += 1
        elif added is None:
            report.no_counselor.append(w.student.student_no)
    if report.created or report.updated:
        record_import(db, clock, by, f"import.factors.{source.value}", source.value, report.counts(), rows=len(rows), data=data)
    return report


def active_factors(db: Session, student_id: int, today: date) -> list[StudentFactor]:
    """The student's factors that still count on `today`, oldest first."""
    stmt = select(StudentFactor).where(StudentFactor.student_id == student_id, StudentFactor.expires_on > today)
    return list(db.execute(stmt.order_by(StudentFactor.dated, StudentFactor.id)).scalars())


def known_items(db: Session, catalogue: FactorCatalogue, student_id: int, today: date) -> list[tuple[str, Factor]]:
    """The checklist items the student's active factors count as, each with its factor."""
    factors = active_factors(db, student_id, today)
    return [(entry.item, entry) for f in factors if (entry := catalogue.get(f.code)) is not None]
