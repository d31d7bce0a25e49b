"""The zh-CN (default) and en message catalogues, translation, and language negotiation.

Every text a person reads comes from one pair of gettext catalogues managed with Babel:
`locales/<locale>/LC_MESSAGES/messages.po`. Message ids are stable dotted keys
(`incident.state.verify`); the texts hold `{name}` placeholders, the same in both languages.
Each catalogue is compiled in memory once per process, so no generated `.mo` file is kept.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Final, Literal, Protocol, runtime_checkable

from babel import Locale
from babel.dates import format_skeleton
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.units import format_unit

LOCALES_DIR: Final = Path(__file__).resolve().parent / "locales"
LANGUAGES: Final = ("zh-CN", "en")
DEFAULT_LANGUAGE: Final = "zh-CN"
LANG_COOKIE: Final = "lang"
LANG_QUERY: Final = "lang"
DOMAIN: Final = "messages"


def locale_of(lang: str) -> str:
    """The gettext/Babel locale identifier of a supported page language: zh-CN → zh_CN."""
    if lang not in LANGUAGES:
        raise ValueError(f"unsupported language {lang!r}; expected one of {', '.join(LANGUAGES)}")
    return lang.replace("-", "_")


def po_path(lang: str) -> Path:
    """Where the catalogue of one supported language lives."""
    return LOCALES_DIR / locale_of(lang) / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(lang: str) -> gettext.GNUTranslations:
    """The compiled gettext catalogue of one supported language (read and compiled once per process)."""
    with po_path(lang).open("rb") as source:
        po = read_po(source, locale=locale_of(lang), domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, po, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


@cache
def catalog(lang: str) -> MappingProxyType[str, str]:
    """Every message of one supported language by key (the header entry left out)."""
    with po_path(lang).open("rb") as source:
        po = read_po(source, locale=locale_of(lang), domain=DOMAIN)
    messages: dict[str, str] = {}
    for message in po:
        if not message.id or message.fuzzy:
            continue
        if not isinstance(message.id, str) or not isinstance(message.string, str) or not message.string:
            raise ValueError(f"{po_path(lang)}: {message.id!r} must be one untranslated-free singular message")
        messages[message.id] = message.string
    return MappingProxyType(messages)


@dataclass(frozen=True)
class Phrase:
    """A text not yet worded: a catalogue key and its parameters, worded later in the reader's language.

    Services return these (refusals, notification texts, timeline entries); only the edge that knows
    the reader's language words them. A parameter may itself be a `Phrase` or a `Moment`.
    """

    key: str
    params: Mapping[str, object] = field(default_factory=dict)


def phrase(key: str, **params: object) -> Phrase:
    """The catalogue text `key` with its parameters, to be worded in the reader's language."""
    return Phrase(key, MappingProxyType(dict(params)))


@dataclass(frozen=True)
class Moment:
    """An instant to be written on the school's clock, with the date left out when it is `today`."""

    at: datetime
    tz: tzinfo
    today: date | None = None


def moment(at: datetime, tz: tzinfo, now: datetime) -> Moment:
    """`at` to be written on the school's clock in `tz`, its date left out when it falls on the day of `now`."""
    return Moment(at, tz, now.astimezone(tz).date())


@dataclass(frozen=True)
class Day:
    """A calendar day to be written in the reader's language (an instant is first put on the school's clock)."""

    on: date | datetime
    tz: tzinfo | None = None


@dataclass(frozen=True)
class Span:
    """A length of time in whole minutes, to be written in the reader's language (see `duration`)."""

    minutes: int


@runtime_checkable
class Bilingual(Protocol):
    """A text already written in both languages: a data file's label (`core.shapes.Label`), a record
    kept in both (an escalation's title), a place's two names. Worded, it is the reader's one."""

    @property
    def zh(self) -> str: ...

    @property
    def en(self) -> str: ...


@dataclass(frozen=True)
class Both:
    """A `Bilingual` text made on the spot from its Chinese and English forms."""

    zh: str
    en: str


@dataclass(frozen=True)
class Listing:
    """Several texts written as one list in the reader's language: `甲、乙和丙`, `a, b, and c`
    (`or`: `甲、乙或丙`, `a, b, or c`; `lines`: one item a line); each item a `Phrase` or a string shown as it is."""

    items: tuple[Phrase | Bilingual | str, ...]
    style: Literal["standard", "or", "lines"] = "standard"


def listing(items: Iterable[Phrase | Bilingual | str], *, style: Literal["standard", "or", "lines"] = "standard") -> Listing:
    """`items` to be written as one list in the reader's language (see `Listing`)."""
    return Listing(tuple(items), style)


def when(at: datetime, lang: str, tz: tzinfo, *, today: date | None = None) -> str:
    """`at` on the school's clock in `tz`, in `lang`: `09:29` when it falls on `today`, else with its date.

    The date drops its year inside `today`'s year (`12月7日 09:29`, `Dec 7, 09:29`); without a
    `today` the full date is always shown (`2026年12月7日 09:29`).
    """
    locale = Locale.parse(locale_of(lang if lang in LANGUAGES else DEFAULT_LANGUAGE))
    local = at.astimezone(tz)
    clock = format_skeleton("Hm", local, tzinfo=tz, locale=locale)
    if today is not None and local.date() == today:
        return clock
    shown = "MMMd" if today is not None and local.year == today.year else "yMMMd"
    day_text = format_skeleton(shown, local, tzinfo=tz, locale=locale)
    return str(locale.datetime_formats["medium"]).format(clock, day_text)


def day(on: date | datetime, lang: str, tz: tzinfo | None = None, *, skeleton: str = "yMMMd") -> str:
    """A calendar day in `lang` (`2026年12月7日`, `Dec 7, 2026`); an instant is first put on the school's clock.
    Another Babel `skeleton` writes less of it: `yMMM` its month (`2026年12月`, `Dec 2026`)."""
    locale = Locale.parse(locale_of(lang if lang in LANGUAGES else DEFAULT_LANGUAGE))
    if isinstance(on, datetime):
        on = on.astimezone(tz).date() if tz is not None else on.date()
    return format_skeleton(skeleton, datetime(on.year, on.month, on.day), locale=locale)


def duration(minutes: int, lang: str) -> str:
    """A length of time in words, days, hours and minutes without the zero parts: `1天2小时5分钟`,
    `1 day 2 hr 5 min`; `0分钟`, `0 min` for none."""
    locale = locale_of(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)
    days, rest = divmod(max(minutes, 0), 24 * 60)
    hours, mins = divmod(rest, 60)
    units = ((days, "duration-day"), (hours, "duration-hour"), (mins, "duration-minute"))
    parts = [format_unit(n, unit, length="short", locale=locale) for n, unit in units if n]
    if not parts:
        parts = [format_unit(0, "duration-minute", length="short", locale=locale)]
    return format_list(parts, style="unit-narrow", locale=locale)


def translate(lang: str, key: str, **params: object) -> str:
    """The message `key` in `lang` with `{name}` placeholders filled; falls back to zh-CN, then the key.

    A `Phrase` parameter is worded in the same language, a `Moment` written on the school's clock and a
    `Listing` joined as the language joins a list.
    """
    chosen = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
    text = translations(chosen).gettext(key)
    if text == key and chosen != DEFAULT_LANGUAGE:
        text = translations(DEFAULT_LANGUAGE).gettext(key)
    if not params:
        return text
    return text.format_map({name: _worded(chosen, value) for name, value in params.items()})


def word(lang: str, text: Phrase | Bilingual | str) -> str:
    """A phrase worded in `lang`; a plain string (a name, a person's own words) is shown as it is, and
    a text already written in both languages in the reader's."""
    if isinstance(text, str):
        return text
    if isinstance(text, Phrase):
        return translate(lang, text.key, **text.params)
    return text.en if lang == "en" else text.zh


def _worded(lang: str, value: object) -> object:
    if isinstance(value, Phrase | Bilingual):
        return word(lang, value)
    if isinstance(value, Day):
        return day(value.on, lang, value.tz)
    if isinstance(value, Moment):
        return when(value.at, lang, value.tz, today=value.today)
    if isinstance(value, Span):
        return duration(value.minutes, lang)
    if isinstance(value, Listing):
        items = [word(lang, item) for item in value.items]
        return "\n".join(items) if value.style == "lines" else format_list(items, style=value.style, locale=locale_of(lang))
    return value


def normalize(tag: str | None) -> str | None:
    """The supported language a tag such as 'zh', 'zh-Hans-CN' or 'en_US' means, or None."""
    if not tag:
        return None
    primary = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    if primary == "zh":
        return "zh-CN"
    if primary == "en":
        return "en"
    return None


def parse_accept_language(header: str) -> list[tuple[str, float]]:
    """The tags of an Accept-Language header with their q-values, best first (stable for ties)."""
    ranked: list[tuple[str, float]] = []
    for item in header.split(","):
        tag, _, rest = item.strip().partition(";")
        tag = tag.strip()
        if not tag:
            continue
        quality = 1.0
        for param in rest.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if 0.0 < quality <= 1.0:
            ranked.append((tag, quality))
    return sorted(ranked, key=lambda pair: -pair[1])


def from_accept_language(header: str | None) -> str | None:
    """The most preferred supported language named in an Accept-Language header, or None."""
    for tag, _quality in parse_accept_language(header or ""):
        if (lang := normalize(tag)) is not None:
            return lang
    return None


def negotiate(
    *, query: str | None = None, cookie: str | None = None, accept_language: str | None = None, default: str = DEFAULT_LANGUAGE
) -> str:
    """The page language: the ?lang= choice, else the lang cookie, else Accept-Language, else `default`."""
    for choice in (query, cookie):
        if (lang := normalize(choice)) is not None:
            return lang
    return from_accept_language(accept_language) or normalize(default) or DEFAULT_LANGUAGE


class Connection(Protocol):
    """What a request (or a websocket) offers to choose its language from."""

    @property
    def query_params(self) -> Mapping[str, str]: ...
    @property
    def cookies(self) -> Mapping[str, str]: ...
    @property
    def headers(self) -> Mapping[str, str]: ...


def language_of(connection: Connection, default: str = DEFAULT_LANGUAGE) -> str:
    """The language of a request's page or reply: ?lang=, the lang cookie, Accept-Language, else `default`."""
    return negotiate(
        query=connection.query_params.get(LANG_QUERY),
        cookie=connection.cookies.get(LANG_COOKIE),
        accept_language=connection.headers.get("accept-language"),
        default=default,
    )
