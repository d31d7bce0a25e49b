"""A student's export as a document to read: one heading per kind of record, in Chinese or English."""

from __future__ import annotations

import json
from datetime import datetime, tzinfo
from typing import Any, Final

from riskcontrol.core.clock import local_text
from riskcontrol.core.i18n import catalog, translate
from riskcontrol.reviews import report

TEMPLATE: Final = "subject_export.html"
PREFIX: Final = "subject_export."
_HEADINGS: Final = ("title", "name", "student_no", "generated", "generated_by", "basis", "student", "staff", "staff_id", "none")


def _catalog_lang(lang: str) -> str:
    return "en" if lang == "en" else "zh-CN"


def _label(lang: str, name: str) -> str:
    """A column's label: its own message when the catalogue has one, else the column's name."""
    key = f"{PREFIX}field.{name}"
    return catalog(lang).get(key) or catalog("zh-CN").get(key) or name


def _value(lang: str, name: str, value: Any, tz: tzinfo) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return translate(lang, f"{PREFIX}{'yes' if value else 'no'}")
    # Timestamps are named `…_at` and held in UTC: shown on the school's clock.
    if name.endswith("_at") and isinstance(value, str):
        return local_text(datetime.fromisoformat(value), lang, tz)
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, indent=1)
    return str(value)


def _fields(lang: str, row: dict[str, Any], tz: tzinfo) -> list[tuple[str, str]]:
    # Every row is about the one student the document is about: the reader need not be told again.
    return [(_label(lang, name), _value(lang, name, value, tz)) for name, value in row.items() if name != "student_id"]


def render_html(data: dict[str, Any], *, tz: tzinfo, lang: str = "zh") -> str:
    """The export as one self-contained page (its CSS inlined)."""
    cl = _catalog_lang(lang)
    student = dict(data["student"])
    for unit in ("class", "dorm"):
        if student.get(unit):
            student[unit] = student[unit]["en" if cl == "en" else "zh"]
    return report.render_document(
        TEMPLATE,
        lang=lang,
        h={key: translate(cl, f"{PREFIX}{key}") for key in _HEADINGS},
        student=data["student"],
        student_fields=_fields(cl, student, tz),
        generated=local_text(datetime.fromisoformat(data["generated_at"]), cl, tz),
        generated_by=data["generated_by"],
        sections=[
            {
                "key": key,
                "heading": translate(cl, f"{PREFIX}section.{key}"),
                "rows": [_fields(cl, row, tz) for row in rows],
            }
            for key, rows in data["sections"].items()
        ],
        staff=data["staff"],
    )


def render_pdf(data: dict[str, Any], *, tz: tzinfo, lang: str = "zh") -> bytes:
    """The export as a PDF, CJK font embedded."""
    return report.render_pdf(render_html(data, tz=tz, lang=lang))
