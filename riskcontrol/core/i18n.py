"""The zh-CN (default) and en message catalogs, translation, and language negotiation."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Final

LOCALES_DIR: Final = Path(__file__).resolve().parent / "locales"
LANGUAGES: Final = ("zh-CN", "en")
DEFAULT_LANGUAGE: Final = "zh-CN"
LANG_COOKIE: Final = "lang"
LANG_QUERY: Final = "lang"


@cache
def catalog(lang: str) -> MappingProxyType[str, str]:
    """The messages of one supported language, read from its JSON file once per process."""
    if lang not in LANGUAGES:
        raise ValueError(f"unsupported language {lang!r}; expected one of {', '.join(LANGUAGES)}")
    raw = json.loads((LOCALES_DIR / f"{lang}.json").read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise ValueError(f"{lang}.json must be one flat object of string keys to string messages")
    return MappingProxyType(raw)


def translate(lang: str, key: str, **params: object) -> str:
    """The message `key` in `lang` with `{name}` placeholders filled; falls back to zh-CN, then the key."""
    messages = catalog(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)
    text = messages.get(key)
    if text is None:
        text = catalog(DEFAULT_LANGUAGE).get(key, key)
    return text.format_map(params) if params else text


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
