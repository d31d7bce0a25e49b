"""Pure triage: the checklist and rubric as validated models, and the level a set of ticks reaches."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from riskcontrol.core.durations import Duration

Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=60)]
Colour = Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")]


class LevelCode(StrEnum):
    """The four triage colours, least serious first."""

    BLUE = "blue"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"


_ORDER = tuple(LevelCode)


def rank(level: LevelCode) -> int:
    """0 for blue up to 3 for red (StrEnum compares as text, so order by this instead)."""
    return _ORDER.index(level)


def max_level(*levels: LevelCode) -> LevelCode:
    """The most serious of `levels`; blue when there are none."""
    return max(levels, key=rank, default=LevelCode.BLUE)


def _fail(model: type[BaseModel], loc: tuple[str | int, ...], message: str) -> ValidationError:
    # A ValidationError raised inside a validator keeps its `loc`, so the data-file loader can
    # point at the exact line of a cross-check failure instead of at the top of the document.
    error = PydanticCustomError("inconsistent", message)
    return ValidationError.from_exception_data(model.__name__, [InitErrorDetails(type=error, loc=loc, input=None)])


def _check_unique(model: type[BaseModel], codes: Sequence[str], field: str) -> None:
    for index, code in enumerate(codes):
        if code in codes[:index]:
            raise _fail(model, (field, index, "code"), f"duplicate code {code!r}")


class Text(BaseModel):
    """A short text in Chinese and English."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    zh: Label
    en: Label


class Category(Text):
    """A group of checklist items, e.g. mood and self-harm."""

    code: Code


class ChecklistItem(BaseModel):
    """One abnormal behaviour a monitor can tick on the phone form."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    code: Code
    zh: Label
    en: Label
    category: Code
    weight: int = Field(ge=0, le=100)  # never negative: adding a tick must never lower the level
    immediate_danger: bool = False
    min_level: LevelCode | None = None
    # The filer must say it in their own words (the "other" item): a tick with no note is refused.
    needs_note: bool = False
    # False for what only imported data says (a screening flag): not on the phone form, never ticked.
    on_form: bool = True
    # A person grades an observation with this item within this long, whatever its level's chain
    # would wait (the counsellor reads what "other" means).
    grade_within: Duration | None = None
    hint: Text

    @model_validator(mode="after")
    def _positive_window(self) -> Self:
        if self.grade_within is not None and self.grade_within <= timedelta(0):
            raise _fail(type(self), ("grade_within",), "must be longer than 0s")
        return self


class Checklist(BaseModel):
    """The abnormal-behaviour checklist: categories and items."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    version: Label
    categories: tuple[Category, ...] = Field(min_length=1)
    items: tuple[ChecklistItem, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        known = [category.code for category in self.categories]
        _check_unique(type(self), known, "categories")
        _check_unique(type(self), [item.code for item in self.items], "items")
        for index, item in enumerate(self.items):
            if item.category not in known:
                raise _fail(type(self), ("items", index, "category"), f"unknown category {item.category!r}; known: {known}")
        return self


class Level(BaseModel):
    """One triage level: its names, colour, score threshold, the staff's standing response, and what
    the student who filed it should do now (with the numbers to call, shown as tap-to-call links)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    code: LevelCode
    zh: Label
    en: Label
    colour: Colour
    threshold: int = Field(ge=0)
    response: Text
    act_now: Text
    call: tuple[Annotated[str, StringConstraints(pattern=r"^[0-9]{3,15}$")], ...] = ()


class Combination(BaseModel):
    """Ticks that together mean more than their scores add up to."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    code: Code
    all: tuple[Code, ...] = ()
    any_category: Code | None = None
    # The student is on the key-concern register at this level or above (a known risk made live).
    register_at_least: LevelCode | None = None
    level: LevelCode
    zh: Label
    en: Label

    @model_validator(mode="after")
    def _two_conditions(self) -> Self:
        # A single condition is what an item's `min_level` is for; a combination needs two.
        if len(self.all) + (self.any_category is not None) + (self.register_at_least is not None) < 2:
            message = "a combination needs two codes in `all`, or one code and `any_category` or `register_at_least`"
            raise _fail(type(self), ("all",), message)
        return self

    def fires(self, ticked: Sequence[ChecklistItem], register: LevelCode | None = None) -> bool:
        """Whether the ticked items (and the register level) meet every condition of this combination."""
        codes = {item.code for item in ticked}
        in_category = self.any_category is None or any(item.category == self.any_category for item in ticked)
        registered = self.register_at_least is None or (register is not None and rank(register) >= rank(self.register_at_least))
        return in_category and registered and set(self.all) <= codes


class HumanReview(Text):
    """The standing rule that a person reviews every triage; the data cannot switch it off."""

    required: Literal[True]


_checklist_in_scope: ContextVar[Checklist | None] = ContextVar("checklist_in_scope", default=None)


@contextmanager
def rubric_checked_against(checklist: Checklist) -> Iterator[None]:
    """While open, validating a TriageRubric also checks its combinations against `checklist`."""
    token = _checklist_in_scope.set(checklist)
    try:
        yield
    finally:
        _checklist_in_scope.reset(token)


class TriageRubric(BaseModel):
    """The four levels, their thresholds and responses, and the combination rules."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    version: Label
    levels: tuple[Level, ...]
    combinations: tuple[Combination, ...] = ()
    human_review: HumanReview

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        found = [level.code.value for level in self.levels]
        if found != [code.value for code in LevelCode]:
            raise _fail(type(self), ("levels",), f"levels must be {', '.join(LevelCode)} in that order, not {found}")
        if self.levels[0].threshold != 0:
            raise _fail(type(self), ("levels", 0, "threshold"), "the lowest level starts at 0 so every observation reaches it")
        for index, (below, above) in enumerate(pairwise(self.levels), start=1):
            if above.threshold <= below.threshold:
                raise _fail(type(self), ("levels", index, "threshold"), f"must be above {below.code}'s {below.threshold}")
        _check_unique(type(self), [rule.code for rule in self.combinations], "combinations")
        checklist = _checklist_in_scope.get()
        if checklist is not None:
            self._check_against(checklist)
        return self

    def _check_against(self, checklist: Checklist) -> None:
        items = {item.code: item for item in checklist.items}
        categories = [category.code for category in checklist.categories]
        for index, combination in enumerate(self.combinations):
            for position, code in enumerate(combination.all):
                if code not in items:
                    raise _fail(type(self), ("combinations", index, "all", position), f"unknown checklist code {code!r}")
                if items[code].category == combination.any_category:
                    # The code would satisfy `any_category` by itself: one tick would fire the rule.
                    message = f"{code!r} is itself in category {combination.any_category!r}"
                    raise _fail(type(self), ("combinations", index, "all", position), message)
            if combination.any_category is not None and combination.any_category not in categories:
                message = f"unknown category {combination.any_category!r}; known: {categories}"
                raise _fail(type(self), ("combinations", index, "any_category"), message)

    def level(self, code: LevelCode) -> Level:
        """The level named `code`."""
        return self.levels[rank(code)]

    def level_for_score(self, score: int) -> Level:
        """The highest level whose threshold `score` reaches."""
        return [level for level in self.levels if score >= level.threshold][-1]


class UnknownChecklistCode(ValueError):
    """A ticked code that is not on the checklist; `code` says which."""

    def __init__(self, code: str) -> None:
        super().__init__(f"unknown checklist code {code!r}")
        self.code = code


@dataclass(frozen=True, slots=True)
class Reason:
    """Why the triage reached at least `level`: an item, a combination, the score or the register."""

    code: str
    level: LevelCode
    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class TriageResult:
    """The suggested level, the summed score, the reasons (decisive first) and the danger flag."""

    level: LevelCode
    score: int
    reasons: tuple[Reason, ...]
    immediate_danger: bool
    # The shortest `grade_within` of the ticked items: a person grades the observation by then.
    grade_within: timedelta | None = None


NOTE_ONLY = Reason("none", LevelCode.BLUE, "未勾选任何项目，仅作记录", "No item ticked; recorded as a note only")


@dataclass(frozen=True, slots=True)
class Known:
    """A fact about the student imported from the student-affairs systems (a risk factor), which
    counts as the checklist item `item` when someone reports a new sign: `zh`/`en` name the factor."""

    item: str
    zh: str
    en: str


def triage(
    checklist: Checklist,
    rubric: TriageRubric,
    codes: Iterable[str],
    *,
    key_concern_level: LevelCode | None = None,
    known: Sequence[Known] = (),
) -> TriageResult:
    """Suggest a level for the ticked `codes`, with reasons; a person reviews every result. What is
    `known` about the student counts with the ticks (weight, floor, category) once anything is ticked."""
    chosen = set(codes)
    if unknown := sorted(chosen - {item.code for item in checklist.items}):
        raise UnknownChecklistCode(unknown[0])
    # Checklist order, not tick order, so the same ticks always read the same reasons.
    ticked = [item for item in checklist.items if item.code in chosen]
    if not ticked:
        return TriageResult(LevelCode.BLUE, 0, (NOTE_ONLY,), immediate_danger=False)
    facts = {fact.item: fact for fact in known if fact.item not in chosen}
    also = [item for item in checklist.items if item.code in facts]
    ticked_only, ticked = ticked, ticked + also

    score = sum(item.weight for item in ticked)
    level = rubric.level_for_score(score)
    n, noun = len(ticked_only), "item" if len(ticked_only) == 1 else "items"
    with_zh, with_en = (f"，连同 {len(also)} 项已知风险因素", f" with {len(also)} known risk factor(s)") if also else ("", "")
    reasons = [
        Reason(
            "score",
            level.code,
            f"勾选 {n} 项{with_zh}，合计 {score} 分，达到“{level.zh}”（{level.threshold} 分起）",
            f"{n} {noun} ticked{with_en}, {score} points in all, reaching {level.en} (from {level.threshold} points)",
        )
    ]
    for item in ticked:
        if item.code in facts:
            if item.min_level not in (None, LevelCode.BLUE):
                level = rubric.level(item.min_level)
                fact = facts[item.code]
                zh, en = (
                    f"已知风险因素：{fact.zh}，出现新异常时至少为“{level.zh}”",
                    f"Known risk factor: {fact.en}; a new sign is at least {level.en}",
                )
                reasons.append(Reason(f"factor:{item.code}", level.code, zh, en))
            continue
        if item.immediate_danger:
            level = rubric.level(LevelCode.RED)
            zh, en = f"勾选了“{item.zh}”（立即危险）→ {level.zh}", f'Ticked "{item.en}" (immediate danger) → {level.en}'
        elif item.min_level not in (None, LevelCode.BLUE):
            level = rubric.level(item.min_level)
            zh, en = f"勾选了“{item.zh}”，此项至少为“{level.zh}”", f'Ticked "{item.en}", which is at least {level.en}'
        else:
            continue
        reasons.append(Reason(item.code, level.code, zh, en))
    for combination in rubric.combinations:
        if combination.fires(ticked, key_concern_level):
            level = rubric.level(combination.level)
            reasons.append(
                Reason(combination.code, level.code, f"{combination.zh} → {level.zh}", f"{combination.en} → {level.en}")
            )
    if key_concern_level not in (None, LevelCode.BLUE):
        # A new sign from a student the register already holds at L means the known risk is
        # live: never suggest less than L. A note with nothing ticked does not re-assess.
        level = rubric.level(key_concern_level)
        zh = f"已列入重点关注学生（{level.zh}），出现新异常时不低于该等级"
        en = f"Already on the key-concern register at {level.en}; a new sign keeps the level at least there"
        reasons.append(Reason("key_concern", level.code, zh, en))
    ordered = tuple(sorted(reasons, key=lambda reason: -rank(reason.level)))
    danger = any(item.immediate_danger for item in ticked_only)
    return TriageResult(
        level=ordered[0].level,
        score=score,
        reasons=ordered,
        immediate_danger=danger,
        grade_within=grading_window(checklist, chosen),
    )


def grading_window(checklist: Checklist, codes: Iterable[str]) -> timedelta | None:
    """The shortest `grade_within` among the ticked items: a person grades the observation by then."""
    chosen = set(codes)
    return min((i.grade_within for i in checklist.items if i.code in chosen and i.grade_within is not None), default=None)


def off_form(checklist: Checklist, codes: Iterable[str]) -> list[str]:
    """The codes among `codes` that nobody ticks (items only imported data says)."""
    chosen = set(codes)
    return [item.code for item in checklist.items if item.code in chosen and not item.on_form]


def missing_notes(checklist: Checklist, codes: Iterable[str], note: str | None) -> list[str]:
    """The ticked items that need the filer's own words when the note is empty."""
    if note is not None and note.strip():
        return []
    chosen = set(codes)
    return [item.code for item in checklist.items if item.code in chosen and item.needs_note]


def override_allowed(from_level: LevelCode, to_level: LevelCode) -> bool:
    """A reviewer may set any level: the rubric advises, a person decides (PIPL Art. 24)."""
    return True


def override_needs_reason(from_level: LevelCode, to_level: LevelCode) -> bool:
    """Every change of level, up or down, needs a written reason for the audit; keeping it does not."""
    return from_level != to_level
