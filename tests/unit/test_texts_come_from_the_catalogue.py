"""No text for a person is written in code: no zh/en pairs of notification texts, no dates from `strftime`.

Notification texts are worded from the catalogue by `notify.Message.worded`, times and dates by Babel
(`i18n.when`, `i18n.day`). What is left below is on purpose: each allowed place says why.
"""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "riskcontrol"

# Where a text's two languages are set by name: the one place that words a message into both
# (notify), the escalation record kept in both as the catalogue worded it at filing, and its API,
# which hands the stored pair to a reader through the disclosure policy.
PAIRS_ALLOWED = {"notify/service.py", "escalation/service.py", "escalation/api.py"}
PAIR = re.compile(r"\b(?:title|body|sms|summary)_(?:zh|en)\s*=(?!=)")
# A pair's value written in code: a string or f-string literal, or one half of a hand-made translate() pair.
LITERAL = re.compile(r"\b(?:title|body|sms|summary)_(?:zh|en)\s*=\s*(?:f?[\"']|translate\()")
# The operator's table of demo sign-ins shows each role in both languages side by side.
TRANSLATE_BOTH_ALLOWED = {"demo.py"}
TRANSLATE_ZH = re.compile(r"translate\(\s*[\"']zh-CN[\"']")
TRANSLATE_EN = re.compile(r"translate\(\s*[\"']en[\"']")

# Machine formats, never shown as a date to a person: keys, files, form values, operators' lines.
STRFTIME_ALLOWED = {
    "core/deadlines.py": "a deadline's dedupe key (an hour in UTC)",
    "core/audit_anchors.py": "the audit anchors' summary for operators (sequence numbers and hashes)",
    "escalation/rules.py": "a policy's clock time written back to YAML and named in a refusal of the file",
    "escalation/service.py": "a night rung's clock time as a key in its data and timeline detail",
    "hazards/ledger_io.py": "the ledger export, read back by the ledger import",
    "incidents/calibration.py": "the triage calibration's outcome, compared with the case file's `digest 09:00`",
    "web/hazard_pages.py": "the value of a datetime-local field (the browser shows it in its own words)",
    "web/aftercare_views.py": "the value of a datetime-local field (the browser shows it in its own words)",
}
STRFTIME = re.compile(r"\.strftime\(")
# A date written by an f-string's format spec: `{at:%Y-%m-%d}`.
DATE_SPEC = re.compile(r"\{[^{}\n'\"]*:%[A-Za-z]")
DATE_SPEC_ALLOWED = {
    "cli.py": "the operators' command line, in UTC",
    "core/periods.py": "a period's key (`2026-12`)",
}


def _sources() -> list[tuple[str, str]]:
    return [(path.relative_to(PACKAGE).as_posix(), path.read_text(encoding="utf-8")) for path in sorted(PACKAGE.rglob("*.py"))]


def _hits(pattern: re.Pattern[str], allowed: set[str] | dict[str, str]) -> list[str]:
    return [
        f"{name}:{text.count(chr(10), 0, match.start()) + 1}"
        for name, text in _sources()
        if name not in allowed
        for match in pattern.finditer(text)
    ]


def test_no_notification_text_is_written_as_a_zh_en_pair_in_code() -> None:
    assert _hits(LITERAL, set()) == []
    assert _hits(PAIR, PAIRS_ALLOWED) == []


def test_no_text_is_translated_into_both_languages_by_hand() -> None:
    both = [name for name, text in _sources() if TRANSLATE_ZH.search(text) and TRANSLATE_EN.search(text)]
    assert [name for name in both if name not in TRANSLATE_BOTH_ALLOWED] == []


def test_no_date_for_a_person_is_written_by_strftime() -> None:
    assert _hits(STRFTIME, STRFTIME_ALLOWED) == []
    assert _hits(DATE_SPEC, DATE_SPEC_ALLOWED) == []


def test_the_allowed_places_still_need_their_exception() -> None:
    """An exception nobody uses any more is removed, so that it cannot hide a new one."""
    sources = dict(_sources())
    assert [name for name in STRFTIME_ALLOWED if not STRFTIME.search(sources.get(name, ""))] == []
    assert [name for name in DATE_SPEC_ALLOWED if not DATE_SPEC.search(sources.get(name, ""))] == []
    assert [name for name in PAIRS_ALLOWED if not PAIR.search(sources.get(name, ""))] == []
