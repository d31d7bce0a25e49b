"""Refusals come from the catalogue: every `refusal.*` key the code names is there in both languages with
the same placeholders, no domain error is raised with a sentence written in code, and a request that
fails validation is refused in words (the field's name, what to do) rather than pydantic's English."""

from __future__ import annotations

import ast
import re
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal, Self

import pytest
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from riskcontrol.core import i18n, refusals
from riskcontrol.core.errors import DomainError, InvalidInput, NotAuthenticated
from riskcontrol.core.i18n import phrase, word
from riskcontrol.core.instants import Day, Instant
from riskcontrol.grid.rules import UnitKind
from riskcontrol.hazards.rules import Action as HazardAction
from riskcontrol.hazards.rules import State as HazardState
from riskcontrol.incidents.members import INVOLVEMENTS
from riskcontrol.incidents.opening import SOURCES
from riskcontrol.incidents.playbook_rules import IcsRole
from riskcontrol.incidents.roster_rules import Position
from riskcontrol.observations.rules import LevelCode
from riskcontrol.people.rules import Role

SOURCE = Path(__file__).resolve().parents[2] / "riskcontrol"
# `phrase("refusal.x.y"` and `refused("refusal.x.y"`; an f-string key (`f"refusal.field.{name}"`) by its fixed start.
NAMED = re.compile(r"""\b(?:phrase|refused)\(\s*(f?)"(refusal\.[A-Za-z0-9_.{}]+)""")


def _sources() -> Iterator[Path]:
    yield from sorted(SOURCE.rglob("*.py"))


def _named_keys() -> set[tuple[str, bool]]:
    """(key or fixed start of an f-string key, whether it is a start) for every refusal the code names."""
    found = set()
    for path in _sources():
        for f, key in NAMED.findall(path.read_text(encoding="utf-8")):
            if f and "{" in key:
                found.add((key.split("{", 1)[0], True))
            else:
                found.add((key, False))
    return found


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_the_code_names_refusals_and_every_one_is_in_both_catalogues() -> None:
    named = _named_keys()
    assert len(named) > 150, "the scan found too few refusal keys: has the way they are named changed?"
    for lang in i18n.LANGUAGES:
        keys = i18n.catalog(lang).keys()
        missing = sorted(key for key, start in named if not (any(k.startswith(key) for k in keys) if start else key in keys))
        assert missing == [], f"{lang} lacks {missing}"


def test_every_refusal_has_the_same_placeholders_in_both_languages() -> None:
    zh, en = i18n.catalog("zh-CN"), i18n.catalog("en")
    refusal_keys = {key for key in zh if key.startswith("refusal.")} | {key for key in en if key.startswith("refusal.")}
    assert refusal_keys
    for key in sorted(refusal_keys):
        assert key in zh, key
        assert key in en, key
        assert _placeholders(zh[key]) == _placeholders(en[key]), key


@pytest.mark.parametrize(
    ("prefix", "codes"),
    [
        ("role.", [role.value for role in Role]),
        ("unit_kind.", [kind.value for kind in UnitKind]),
        ("level.", [level.value for level in LevelCode]),
        ("hazard.action.", [action.value for action in HazardAction]),
        ("hazard_report.state.", [state.value for state in HazardState]),
        ("escalation.status.", ["open", "acknowledged", "resolved", "closed"]),
        ("incident.role.", [role.value for role in IcsRole]),
        ("incident.involvement.", list(INVOLVEMENTS)),
        ("refusal.incident.source.", list(SOURCES)),
        ("roster.position.", [position.value for position in Position]),
        ("refusal.task.already_", ["done", "cancelled"]),
        ("refusal.proposal.", ["opened", "declined"]),
        ("refusal.correction.", ["accepted", "refused"]),
        ("revisions.status.", ["adopted", "rejected", "superseded"]),
        ("reviews.status.", ["held", "cancelled"]),
    ],
)
def test_every_code_a_refusal_names_in_words_has_its_words(prefix: str, codes: list[str]) -> None:
    """Refusals name roles, kinds, states and statuses by catalogue keys made from their codes."""
    for lang in i18n.LANGUAGES:
        assert [code for code in codes if prefix + code not in i18n.catalog(lang)] == [], (lang, prefix)


def test_every_validation_reason_the_wording_uses_is_catalogued() -> None:
    for lang in i18n.LANGUAGES:
        known = i18n.catalog(lang)
        for key in ("refusal.input.field", "refusal.input.invalid", *refusals._REASONS.values()):
            assert key in known, (lang, key)


def _domain_errors() -> set[str]:
    """The names of DomainError and of every class derived from it anywhere in the package."""
    bases: dict[str, set[str]] = {}
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                names = {
                    b.id if isinstance(b, ast.Name) else b.attr for b in node.bases if isinstance(b, ast.Name | ast.Attribute)
                }
                bases.setdefault(node.name, set()).update(names)
    found = {"DomainError"}
    while grown := {name for name, parents in bases.items() if parents & found} - found:
        found |= grown
    return found


def test_no_domain_error_is_made_from_a_sentence_written_in_code() -> None:
    errors = _domain_errors()
    assert {"InvalidInput", "Conflict", "NotFound", "Forbidden", "HiddenOutOfScope", "RateLimited"} <= errors
    written = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            first = node.args[0] if node.args else None
            if name in errors and isinstance(first, ast.Constant | ast.JoinedStr):
                written.append(f"{path.relative_to(SOURCE.parent)}:{node.lineno}: {name}(…)")
    assert written == [], "word these refusals from the catalogue: " + "; ".join(written)


def test_a_refusal_is_worded_in_the_readers_language_and_reads_in_english_in_the_logs() -> None:
    refused = NotAuthenticated(phrase("refusal.session.wrong_password"), field="password")
    assert refused.worded("zh-CN") == "用户名或密码不对，请重新输入。"
    assert refused.worded("en") == str(refused) == "Wrong username or password."
    assert refused.as_dict("zh-CN") == {
        "error": "not_authenticated",
        "message": "用户名或密码不对，请重新输入。",
        "field": "password",
    }


class _Form(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    title: str = Field(min_length=1, max_length=5)
    population: int = 0
    level: Literal["blue", "yellow", "red"] = "blue"
    review_on: Day | None = None
    held_at: Instant | None = None
    note: Annotated[str, StringConstraints(min_length=3)] = "..."


def _first(data: dict[str, object]) -> tuple[str, str, str, DomainError]:
    with pytest.raises(ValidationError) as invalid:
        _Form.model_validate(data)
    first = invalid.value.errors()[0]
    refusal = refusals.invalid(invalid.value)
    return refusals.field_path(first), word("zh-CN", refusals.reason(first)), word("en", refusals.reason(first)), refusal


@pytest.mark.parametrize(
    ("data", "field", "zh", "en"),
    [
        ({}, "title", "不能为空，请填写。", "is required"),
        ({"title": ""}, "title", "不能为空，请填写。", "is required"),
        ({"title": "太长的一个标题"}, "title", "最多 5 个字，请删减后再提交。", "must be at most 5 characters long"),
        ({"title": "t", "note": "ab"}, "note", "至少要写 3 个字。", "must be at least 3 characters long"),
        ({"title": "t", "population": "many"}, "population", "应填写整数。", "must be a whole number"),
        (
            {"title": "t", "level": "green"},
            "level",
            "只能是 blue、yellow或red 中的一个，请从列表中选择。",
            "must be one of blue, yellow, or red",
        ),
        (
            {"title": "t", "review_on": "12/07"},
            "review_on",
            "不是有效的日期，请按 2026-12-07 这样的格式填写。",
            "is not a valid date; write it like 2026-12-07",
        ),
        (
            {"title": "t", "held_at": "2026-12-07T09:30"},
            "held_at",
            "缺少时区，请按 2026-12-07T09:30+08:00 这样的格式写明。",
            "needs a time zone; write it like 2026-12-07T09:30+08:00",
        ),
        (
            {"title": "t", "held_at": "yesterday"},
            "held_at",
            "不是有效的日期和时间，请按 2026-12-07T09:30+08:00 这样的格式填写。",
            "is not a valid date and time; write it like 2026-12-07T09:30+08:00",
        ),
        (
            {"title": "t", "review_on": "0900-01-01"},
            "review_on",
            "超出系统能保存的日期范围（1970-01-01 至 2999-12-31）。",
            "must lie between 1970-01-01 and 2999-12-31 (UTC)",
        ),
        (
            {"title": "t", "colour": "red"},
            "colour",
            "不是这里可以填写的项目，请去掉。",
            "is not a field this request takes; leave it out",
        ),
    ],
)
def test_a_field_that_fails_validation_is_refused_in_words(data: dict[str, object], field: str, zh: str, en: str) -> None:
    path, said_zh, said_en, refusal = _first(data)
    assert (path, said_zh, said_en) == (field, zh, en)
    assert isinstance(refusal, InvalidInput)
    assert refusal.field == field


def test_the_refusal_names_the_field_by_its_label_where_it_has_one() -> None:
    *_, labelled = _first({"title": "t", "population": "many"})
    assert labelled.worded("zh-CN") == "“应覆盖人数”应填写整数。"
    assert labelled.worded("en") == "population: must be a whole number"
    *_, unlabelled = _first({"title": "t", "colour": "red"})
    assert unlabelled.worded("zh-CN") == "“colour”不是这里可以填写的项目，请去掉。"


def test_a_validators_own_refusal_is_its_catalogue_sentence() -> None:
    class Change(BaseModel):
        level: str | None = None

        @model_validator(mode="after")
        def _changes_something(self) -> Self:
            if self.level is None:
                raise refusals.refused("refusal.concern.change_nothing")
            return self

    with pytest.raises(ValidationError) as invalid:
        Change()
    refusal = refusals.invalid(invalid.value)
    assert refusal.worded("zh-CN") == "请至少修改关注等级、负责辅导员或复核日期中的一项。"
    assert str(refusal) == "Change at least one of the level, the counsellor or the review date."
