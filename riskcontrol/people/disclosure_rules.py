"""The one disclosure policy: for a reader and a person involved in a record, what of the person may be shown.

Every surface that shows a person — the API, the pages, the review report and its PDF, the board, the
notifications and texts, the case library — asks `disclose` and renders with `Identity`/`redact`, so a
name cannot be masked in one place and printed in the next.

Three ways to show a person (`Shown`):

- ``FULL``: name, student number, phone, guardians and the notes about them. For staff holding a
  contact role (`SEES_CONTACTS`) at a unit covering the person's class or dorm room — checked at the
  unit where the role is held, not "anywhere" — and for whoever holds a command role on the incident.
- ``NAME``: the name only, never numbers, contacts or notes. For a reader who was told of the record to
  act on it (a class monitor on the red ladder must find the classmate) or who filed it.
- ``STAND_IN``: 学生甲, 学生乙 … (Student A, B …) by the person's place in the record. For everyone else,
  e.g. a leader reading a review who is not in command of the incident.

And whether the record's own words (summaries, task evidence, review minutes, recovery notes, other people's
observation notes) are shown (`texts`): to staff whose role covers the record's unit, with each person's
identifiers redacted to what `Shown` allows; never to a reader whose only covering roles are a student's
grid roles (a classmate does not read a crisis record). A text message (SMS) shows at most ``NAME``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from riskcontrol.core.anonymise import ID_CARD, LONG_NUMBER, MOBILE, Scrubber
from riskcontrol.people.rules import SEES_CONTACTS, STUDENT_ROLES

_STEMS_ZH: Final = "甲乙丙丁戊己庚辛壬癸"


class Shown(IntEnum):
    """How much of a person a reader may see, least first (so `min` caps and `max` widens)."""

    STAND_IN = 0
    NAME = 1
    FULL = 2


@dataclass(frozen=True)
class Disclosure:
    """One reader's view of one record: how each person shows, and whether the record's words show."""

    people: tuple[Shown, ...]
    texts: bool

    def of(self, index: int) -> Shown:
        return self.people[index] if index < len(self.people) else Shown.STAND_IN


def _covers(scope_path: str, path: str) -> bool:
    return path.startswith(scope_path)


def shown(
    grants: Iterable[tuple[str, str]], homes: Iterable[str], *, commands: bool = False, told: bool = False, sms: bool = False
) -> Shown:
    """How one person shows to a reader holding `grants` ((role, unit path) pairs), the person living and
    studying at `homes` (unit paths of class and dorm room). `commands`: the reader holds a command role on
    the record's incident; `told`: the reader was told of the record to act on it, or filed it."""
    homes = [h for h in homes if h]
    if commands or any(role in SEES_CONTACTS and any(_covers(path, h) for h in homes) for role, path in grants):
        result = Shown.FULL
    elif told:
        result = Shown.NAME
    else:
        result = Shown.STAND_IN
    return min(result, Shown.NAME) if sms else result


def sees_texts(grants: Iterable[tuple[str, str]], unit_path: str, *, commands: bool = False) -> bool:
    """Whether the record's own words show: a staff role covering the record's unit, or a command role."""
    return commands or any(role not in STUDENT_ROLES and _covers(path, unit_path) for role, path in grants)


def disclose(
    grants: Iterable[tuple[str, str]],
    unit_path: str,
    homes: Sequence[Iterable[str]],
    *,
    commands: bool = False,
    told: bool = False,
    sms: bool = False,
) -> Disclosure:
    """The reader's view of a record at `unit_path` about the people living and studying at `homes` (one
    entry per person, in the record's order)."""
    grants = list(grants)
    return Disclosure(
        people=tuple(shown(grants, h, commands=commands, told=told, sms=sms) for h in homes),
        texts=sees_texts(grants, unit_path, commands=commands),
    )


def stand_in(index: int, lang: str) -> str:
    """The stand-in name of the index-th person: 学生甲, 学生乙 … (Student A, B … in English)."""
    if lang == "en":
        letters = ""
        n = index
        while True:
            letters = chr(ord("A") + n % 26) + letters
            n = n // 26 - 1
            if n < 0:
                return f"Student {letters}"
    stem = _STEMS_ZH[index % len(_STEMS_ZH)]
    return f"学生{stem}" + (str(index // len(_STEMS_ZH) + 1) if index >= len(_STEMS_ZH) else "")


@dataclass(frozen=True)
class Identity:
    """What identifies one person in a record's words: names, numbers and phones, and their guardians'."""

    name: str
    aliases: tuple[str, ...] = ()
    student_no: str = ""
    phones: tuple[str, ...] = ()
    guardian_names: tuple[str, ...] = ()

    def shown_name(self, index: int, how: Shown, lang: str) -> str:
        return self.name if how >= Shown.NAME else stand_in(index, lang)


@dataclass
class Redactor:
    """Rewrites a text so each person in it shows as the reader may see them (the case library's matching:
    identifiers in every form people write them, full-width or with separators)."""

    lang: str = "zh"
    _scrub: Scrubber | None = None

    def _words(self) -> tuple[str, str, str]:
        return ("[student no.]", "[phone]", "the guardian") if self.lang == "en" else ("[学号]", "[电话]", "家长")

    def add(self, identity: Identity, index: int, how: Shown) -> None:
        if how >= Shown.FULL:
            return
        number_word, phone_word, guardian_word = self._words()
        if self._scrub is None:
            # Whoever the record does not know by name: no mobile, identity-card or student number shows either.
            self._scrub = Scrubber(patterns=((MOBILE, phone_word), (ID_CARD, number_word), (LONG_NUMBER, number_word)))
        if identity.student_no:
            self._scrub.add(f"({identity.student_no})", "")  # "刘铭翔（2023010101）" is "刘铭翔", not "刘铭翔（[学号]）"
            self._scrub.add(identity.student_no, number_word)
        for phone in identity.phones:
            self._scrub.add(phone, phone_word)
        for guardian in identity.guardian_names:
            self._scrub.add(guardian, guardian_word)
        if how == Shown.STAND_IN:
            for name in (identity.name, *identity.aliases):
                self._scrub.add_person(name, stand_in(index, self.lang))

    def __call__(self, text: str | None) -> str:
        text = text or ""
        return self._scrub(text) if self._scrub is not None else text


def redactor(identities: Sequence[Identity], view: Disclosure, lang: str = "zh") -> Redactor:
    """A redactor for the people of one record as one reader sees them."""
    out = Redactor(lang=lang)
    for index, identity in enumerate(identities):
        out.add(identity, index, view.of(index))
    return out
