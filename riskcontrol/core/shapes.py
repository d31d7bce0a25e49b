"""Shapes shared by the rule files: a frozen, strict base for data-file models and a bilingual label."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    """A data-file model: unknown keys are errors, and loaded rules cannot be changed in place."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Label(Frozen):
    """A name in Chinese and English."""

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)
