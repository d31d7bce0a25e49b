"""Shapes shared by the rule files: a frozen, strict base for data-file models and a bilingual label."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError


class Frozen(BaseModel):
    """A data-file model: unknown keys are errors, and loaded rules cannot be changed in place."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Label(Frozen):
    """A name in Chinese and English."""

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


# A problem found by a data file's own checks: where (the field path), why, and the value at fault.
Problem = tuple[tuple[str | int, ...], str, object]


def refuse_all(model: str, problems: Sequence[Problem]) -> NoReturn:
    """Fail a model's validation once with every problem, each at its own field path, so that a
    file error (core.datafiles) names the very line of each."""
    details = [
        InitErrorDetails(type=PydanticCustomError("data_file", "{reason}", {"reason": reason}), loc=loc, input=value)
        for loc, reason, value in problems
    ]
    raise ValidationError.from_exception_data(model, details)
