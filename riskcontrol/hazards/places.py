"""The campus's named places (dorms, labs, canteens, gates …) read from `risk_map/places.yaml`.

Each place has a code (a dorm building's code matches its grid unit, e.g. E1), a kind, zh/en names and
a WGS-84 point; hazards and zones are placed by picking one. A bad file is refused with its file, line
and field (core.datafiles).
"""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Self

from pydantic import Field, model_validator

from riskcontrol.core.datafiles import load_model
from riskcontrol.core.shapes import Frozen, Problem, refuse_all

PLACES_FILE = "places.yaml"


class PlaceKind(StrEnum):
    DORM = "dorm"
    LAB = "lab"
    CANTEEN = "canteen"
    GYM = "gym"
    GATE = "gate"
    LIBRARY = "library"
    TEACHING = "teaching"
    OTHER = "other"


class Place(Frozen):
    """One named place and the WGS-84 point it is drawn at."""

    code: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")
    kind: PlaceKind
    zh: str = Field(min_length=1, max_length=60)
    en: str = Field(min_length=1, max_length=80)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    # Where the point was taken from (an OpenStreetMap element such as way/154079756), if anywhere.
    osm: str | None = Field(default=None, pattern=r"^(node|way|relation)/[0-9]+$")

    def name(self, lang: str) -> str:
        """The name in `lang` (zh-CN unless English is asked for)."""
        return self.en if lang == "en" else self.zh


class Places(Frozen):
    """Every place of the campus, codes unique."""

    places: tuple[Place, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_codes(self) -> Self:
        seen: set[str] = set()
        problems: list[Problem] = []
        for i, place in enumerate(self.places):
            if place.code in seen:
                problems.append((("places", i, "code"), f"duplicate code {place.code!r}", place.code))
            seen.add(place.code)
        if problems:
            refuse_all(type(self).__name__, problems)
        return self

    @cached_property
    def by_code(self) -> MappingProxyType[str, Place]:
        """The places by code."""
        return MappingProxyType({place.code: place for place in self.places})

    def of_kind(self, kind: PlaceKind | str) -> tuple[Place, ...]:
        """The places of one kind, in file order."""
        return tuple(place for place in self.places if place.kind == kind)


def load_places(path: Path) -> Places:
    """`path` (a places.yaml) validated; DataFileError names the file, the line and the field."""
    return load_model(path, Places)
