"""What a person reads, and what must never be in it: codes, catalogue keys, English status words on a Chinese page.

Shared by the every-text test (server-rendered pages, notifications, SMS, report, case) and the browser pass
(the same pages after their scripts have drawn them).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterable
from html.parser import HTMLParser
from pathlib import Path

import pytest

from riskcontrol.core import i18n

# `call_emergency`, `in_app`, `task_overdue`: a code with an underscore, shown as it is.
SNAKE = re.compile(r"(?<![\w./@-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w./@-])")
# `incident.js.tl.action_done`: a dotted key (two dots or more, lower case).
DOTTED = re.compile(r"(?<![\w/@-])[a-z][a-z0-9_]*(?:\.[a-z0-9_]+){2,}(?![\w/@-])")
# English words that name a state: on a Chinese page they are a status left untranslated.
STATUS_WORDS = (
    "sent", "delivered", "published", "failed", "queued", "pending", "open", "opened", "closed", "done",
    "resolved", "acknowledged", "overdue", "unread", "active", "expired", "cancelled", "true", "false",
    "none", "null", "undefined", "nan", "invalid date", "object object",
)  # fmt: skip
STATUS = re.compile(r"(?<![A-Za-z])(" + "|".join(re.escape(w) for w in STATUS_WORDS) + r")(?![A-Za-z])", re.IGNORECASE)
# Text that is not ours to word: web addresses, e-mail addresses, file names, times.
PLACEHOLDER = re.compile(r"\{[a-z_][a-z0-9_]*(?:[:!][^}]*)?\}")
NOT_WORDS = re.compile(r"https?://\S+|\b[\w.+-]+@[\w.-]+\b|\b[\w-]+\.(?:pdf|md|csv|xlsx|png|jpg|json)\b")


def _keys() -> frozenset[str]:
    return frozenset(i18n.catalog(i18n.DEFAULT_LANGUAGE))


def faults(text: str, lang: str, *, allowed: Iterable[str] = ()) -> list[str]:
    """What is wrong in `text` as read in `lang`: each finding with a little of its context."""
    cleaned = NOT_WORDS.sub(" ", text)
    for word in allowed:
        cleaned = cleaned.replace(word, " ")
    found: list[str] = []

    def note(kind: str, match: re.Match[str]) -> None:
        start, end = max(0, match.start() - 20), min(len(cleaned), match.end() + 20)
        found.append(f"{kind} {match.group(0)!r} in …{cleaned[start:end].strip()}…")

    keys = _keys()
    for match in DOTTED.finditer(cleaned):
        note("catalogue key", match)
    for match in SNAKE.finditer(cleaned):
        note("code", match)
    for key in keys:
        if "." in key and key in cleaned:
            found.append(f"catalogue key {key!r}")
    if PLACEHOLDER.search(cleaned):
        found.append(f"unfilled placeholder in …{cleaned[:200]}…")
    if lang == i18n.DEFAULT_LANGUAGE:
        for match in STATUS.finditer(cleaned):
            note("English status word", match)
    return sorted(set(found))


class _Visible(HTMLParser):
    """The text of a page a person can read: text nodes outside scripts and styles, the readable attributes,
    and the texts handed to the page's script in data-* attributes."""

    READABLE = ("title", "placeholder", "aria-label", "alt")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "template"):
            self._hidden += 1
        for name, value in attrs:
            if value is None:
                continue
            pressed = tag in ("input", "button") and name == "value" and dict(attrs).get("type") in ("submit", "button")
            if name in self.READABLE or pressed:
                self.parts.append(value)
            elif name.startswith("data-") and value[:1] in "{[":
                # Texts handed to the page's script are templates (their placeholders are filled there); its
                # codes (`crowd`, `red`) are data the script looks words up by, so only what reads as words counts.
                self.parts.extend(PLACEHOLDER.sub("", text) for text in _strings(value) if _reads_as_words(text))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "template") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.parts.append(data)


def _reads_as_words(text: str) -> bool:
    return any(ch.isspace() or ord(ch) > 127 for ch in text)


def _strings(raw: str) -> list[str]:
    """The string values of a JSON document handed to a page's script (its keys are codes, not words)."""
    try:
        value = json.loads(raw)
    except ValueError:
        return []
    out: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, dict):
            for item in node.values():
                walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(value)
    return out


def visible_text(html: str) -> str:
    """What a person reads on a server-rendered page."""
    parser = _Visible()
    parser.feed(html)
    return "\n".join(parser.parts)


def pdf_text(pdf: bytes, folder: Path, *, name: str = "document.pdf") -> str:
    """A PDF's text as pdftotext reads it (pages split by form feeds). `make test` installs poppler-utils,
    so a test that reads a PDF fails, rather than passing quietly, where it is missing."""
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext is not installed; run `make test` (it installs poppler-utils)")
    path = folder / name
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout
