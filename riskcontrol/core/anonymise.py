"""Anonymising free text for the case library: the known identifiers of the people involved, in the forms
people write them, and the shapes of numbers that identify anyone.

Matching runs on a folded copy of the text (full-width digits, letters and spaces made ASCII, every kind of
dash made "-"), one character for one character, so a match found there is replaced at the same place in
the original and ordinary punctuation (，：（）) is left as it was written. A known identifier matches with
separators between its characters: a phone as 132-1385-3749, 132 1385 3749, +86 132…, 0086-132…, a
name as 刘 铭翔. A known identifier is replaced wherever it occurs, inside a longer word too: a given name
that is also an ordinary word (a student called 高兴) costs that word in the case, because a case that
names its student cannot be taken back. A one-character given name alone (伟) is not matched, it would
erase that character everywhere; its spoken forms (小伟, 阿伟) are.

Known limits: pinyin or English spellings of a name, and a surname with a form of address (刘同学), are
not matched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

# Full-width ASCII (０-９, Ａ-Ｚ, ＋, －), the ideographic space and the dashes people type, folded one to one.
_FOLD: Final = (
    {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
    | {0x3000: ord(" "), 0x00A0: ord(" ")}
    | {code: ord("-") for code in (0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2015, 0x2212, 0xFE58, 0xFE63)}
)
_CJK: Final = r"\u4e00-\u9fff"
_NUMERALS: Final = "〇一二三四五六七八九"
_SEP: Final = r"[\s\-.]{0,2}"  # between the digits of a number: 132-1385-3749, 132 1385 3749
_COUNTRY: Final = r"(?:(?:\+|00)\s?86[\s\-]{0,2}|\(\s?(?:\+|00)?86\s?\)\s?|86[\s\-])"
_BUILDING: Final = r"(?:号楼|栋|幢|号|座)"
_ROOM_SUFFIX: Final = r"(?:室|寝室|寝|宿舍)?"
_NOT_A_QUANTITY: Final = r"(?![0-9年月日级届元人次万个名])"

MOBILE: Final = re.compile(rf"(?<![0-9]){_COUNTRY}?1[3-9][0-9](?:{_SEP}[0-9]){{8}}(?![0-9])")
LANDLINE: Final = re.compile(r"(?<![0-9])(?:\(0[0-9]{2,3}\)|0[0-9]{2,3})[\s\-]{0,2}[1-9][0-9]{6,7}(?![0-9])")
ID_CARD: Final = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9A-Za-z])|(?<![0-9])[0-9]{15}(?![0-9])")
# Student numbers and other long numbers; an eight-digit date (20261128) is not one.
LONG_NUMBER: Final = re.compile(
    r"(?<![0-9])(?!(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])(?![0-9]))[0-9]{8,12}(?![0-9])"
)
ROOM: Final = re.compile(
    rf"(?:[东西南北]区?|(?<![A-Za-z])[EWSNewsn](?=[0-9]{{1,2}}\s?-))[\s\-]?(?:[0-9]{{1,2}}|[{_NUMERALS}十]{{1,2}})"
    rf"{_BUILDING}?[\s\-]{{0,2}}[0-9]{{3,4}}{_NOT_A_QUANTITY}{_ROOM_SUFFIX}"
    rf"|(?<![0-9])[0-9]{{1,2}}(?:号楼|栋|幢)\s?[0-9]{{3,4}}(?![0-9]){_ROOM_SUFFIX}"
)
CLASS_NUMBER: Final = re.compile(r"(?<![0-9])[0-9]{4}班")


def fold(text: str) -> str:
    """`text` with full-width characters and dashes made ASCII, one character for one (same length)."""
    return text.translate(_FOLD)


def _chars(value: str) -> str:
    """A pattern for `value` that allows separators between its characters (spaces in a name, dashes in a number)."""
    parts: list[str] = []
    for i, char in enumerate(value):
        if i:
            parts.append(_SEP if char.isascii() and char.isalnum() and value[i - 1].isalnum() else r"\s?")
        parts.append(re.escape(char))
    return "".join(parts)


def _numeral(number: str) -> str:
    """A building number as digits or in Chinese numerals (1 or 一, 10 or 十)."""
    n = int(number)
    words = {10: "十"} | {k: _NUMERALS[k] for k in range(1, 10)} | {k: "十" + _NUMERALS[k - 10] for k in range(11, 20)}
    return f"(?:{re.escape(str(n))}|{words[n]})" if n in words else re.escape(str(n))


@dataclass
class Scrubber:
    """Replaces every known identifier (longest first), then whatever `patterns` catch (by default every
    shape below, as the case library needs; the disclosure policy passes only the contact and number ones)."""

    known: list[tuple[str, re.Pattern[str], str]] = field(default_factory=list)
    patterns: tuple[tuple[re.Pattern[str], str], ...] | None = None

    def add(self, value: str | None, replacement: str) -> None:
        """Replace `value` (a name, a phone, a student number, a code) in every form it is written."""
        value = fold((value or "").strip())
        if len(value) < 2 or any(value == seen for seen, _, _ in self.known):
            return
        digits = re.sub(r"[\s\-]", "", value)
        if re.fullmatch(r"(?:\+?86|0086)?1[3-9][0-9]{9}", digits):  # a mobile: with or without the country code
            national = digits[-11:]
            pattern = rf"(?<![0-9]){_COUNTRY}?{_chars(national)}(?![0-9])"
        else:
            start = r"(?<![0-9])" if value[0].isdigit() else ""
            end = r"(?![0-9])" if value[-1].isdigit() else ""
            pattern = start + _chars(value) + end
        self.known.append((value, re.compile(pattern, re.IGNORECASE), replacement))

    def add_person(self, name: str | None, label: str) -> None:
        """Replace a person's name, "学生" before it, and the given name alone (小伟 or 阿伟 when it has one character)."""
        name = (name or "").strip()
        if len(name) < 2:
            return
        self.add(f"学生{name}", label)  # "学生刘铭翔" is "学生甲", not "学生学生甲"
        self.add(name, label)
        # The given name alone, as people say it; a four-character name may have a two-character surname.
        for given in {name[1:], name[2:]} if len(name) >= 4 else {name[1:]}:
            self.add(given, label)
            if len(given) == 1:
                self.add(f"小{given}", label)
                self.add(f"阿{given}", label)

    def add_class(self, name: str, code: str, college: str | None, replacement: str = "某班") -> None:
        """Replace a class however it is named: 计科2301班, 计科2301, 计算机科学2301班, CS2301, 2301班."""
        self.add(name, replacement)
        self.add(code, replacement)
        number = re.search(r"[0-9]{3,}", fold(name)) or re.search(r"[0-9]{3,}", fold(code))
        if number is None:
            return
        prefix = fold(name)[: number.start()].strip()
        college_short = (college or "").removesuffix("学院").strip()
        names = sorted({p for p in (prefix, college_short, college or "", fold(code)[: -len(number[0])]) if p}, key=len)
        lead = "|".join(_chars(p) for p in reversed(names))
        before = rf"(?:(?:{lead})[{_CJK}]{{0,4}}\s?)?" if lead else ""
        # Bare, the number is the class unless it counts something (2301人).
        pattern = rf"{before}(?<![0-9]){number[0]}(?:班级|班|(?![0-9年月日级届元人次万个名]))"
        self.known.append((f"class:{number[0]}", re.compile(pattern, re.IGNORECASE), replacement))

    def add_room(self, code: str, name: str, replacement: str = "某宿舍") -> None:
        """Replace a dorm room however it is written: E1-101, 东1-101, 东一101, 东区1号楼101室, 1号楼101."""
        self.add(code, replacement)
        self.add(name, replacement)
        numbers = re.findall(r"[0-9]+", fold(code)) or re.findall(r"[0-9]+", fold(name))
        if len(numbers) < 2:
            return
        building, room = numbers[-2], numbers[-1]
        markers = {c for c in fold(code) + fold(name) if c.isalpha() and (c.isascii() or c in "东西南北")}
        mark = "|".join(re.escape(m) for m in sorted(markers))
        on_floor = rf"{_numeral(building)}{_BUILDING}?[\s\-]{{0,2}}{room}"
        plain = rf"(?<![0-9]){building}(?:{_BUILDING}\s?|\s?-\s?){room}"
        marked = rf"(?:{mark})区?[\s\-]?{on_floor}" if mark else on_floor
        pattern = rf"(?:{marked}|{plain})(?![0-9]){_ROOM_SUFFIX}"
        self.known.append((f"room:{building}-{room}", re.compile(pattern, re.IGNORECASE), replacement))

    def __call__(self, text: str) -> str:
        for _, pattern, replacement in sorted(self.known, key=lambda known: -len(known[0])):
            text = _replace(pattern, replacement, text)
        for pattern, replacement in PATTERNS if self.patterns is None else self.patterns:
            text = _replace(pattern, replacement, text)
        return text


# Whatever the known identifiers miss: phones, identity-card and student numbers, rooms, class numbers.
PATTERNS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (MOBILE, "[电话]"),
    (LANDLINE, "[电话]"),
    (ID_CARD, "[证件号]"),
    (LONG_NUMBER, "[学号]"),
    (ROOM, "某宿舍"),
    (CLASS_NUMBER, "某班"),
)


def _replace(pattern: re.Pattern[str], replacement: str, text: str) -> str:
    """Replace the matches `pattern` finds in the folded text at the same places in `text`."""
    out, at = [], 0
    for match in pattern.finditer(fold(text)):
        out += [text[at : match.start()], replacement]
        at = match.end()
    return "".join(out) + text[at:] if out else text


def looks_like_room(text: str) -> bool:
    """Whether `text` names a dorm room (a place the case generalises to 某宿舍楼)."""
    return ROOM.search(fold(text)) is not None
