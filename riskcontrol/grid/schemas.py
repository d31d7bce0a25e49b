"""Request and reply shapes of the grid API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class UnitOut(BaseModel):
    """One grid unit as the API lists it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    kind: str
    name_zh: str
    name_en: str
    parent_id: int | None
    building_id: int | None = None
