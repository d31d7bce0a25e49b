"""Catalogs and language negotiation: which language a page is shown in, and that both catalogs agree."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from babel.messages.pofile import read_po

from riskcontrol.core import i18n
from riskcontrol.grid.rules import UnitKind
from riskcontrol.people.rules import Role


def test_both_catalogs_have_exactly_the_same_keys() -> None:
    assert set(i18n.catalog("zh-CN")) == set(i18n.catalog("en"))


def test_every_role_and_unit_kind_has_a_label_in_both_languages() -> None:
    for lang in i18n.LANGUAGES:
        messages = i18n.catalog(lang)
        assert {f"role.{r.value}" for r in Role} <= set(messages)
        assert {f"unit_kind.{k.value}" for k in UnitKind} <= set(messages)


def test_role_and_unit_kind_labels_read_naturally_in_each_language() -> None:
    assert i18n.translate("zh-CN", "role.dorm_head") == "寝室长"
    assert i18n.translate("en", "role.dorm_head") == "Dorm head"
    assert i18n.translate("zh-CN", "unit_kind.dorm") == "寝室"


def test_placeholders_are_filled_from_keyword_parameters() -> None:
    assert i18n.translate("en", "home.greeting", name="Li Hua") == "Hello, Li Hua"
    assert i18n.translate("zh-CN", "home.greeting", name="李华") == "你好，李华"


def test_an_unknown_language_falls_back_to_chinese_and_an_unknown_key_to_itself() -> None:
    assert i18n.translate("fr", "role.leader") == "校领导"
    assert i18n.translate("en", "no.such.key") == "no.such.key"


def test_an_unsupported_catalog_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported language"):
        i18n.catalog("fr")


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("zh", "zh-CN"),
        ("zh-CN", "zh-CN"),
        ("zh-Hans", "zh-CN"),
        ("zh_cn", "zh-CN"),
        ("ZH-hans-CN", "zh-CN"),
        ("en", "en"),
        ("en-US", "en"),
        ("en-GB", "en"),
        ("fr-FR", None),
        ("", None),
        (None, None),
    ],
)
def test_language_tags_map_onto_the_two_supported_languages(tag: str | None, expected: str | None) -> None:
    assert i18n.normalize(tag) == expected


def test_the_query_choice_beats_the_cookie_and_the_header() -> None:
    assert i18n.negotiate(query="en", cookie="zh-CN", accept_language="zh-CN") == "en"
    assert i18n.negotiate(query="zh-CN", cookie="en", accept_language="en-US") == "zh-CN"


def test_the_cookie_beats_the_header_and_an_unknown_query_is_ignored() -> None:
    assert i18n.negotiate(query="klingon", cookie="en", accept_language="zh-CN,zh;q=0.9") == "en"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("en-US,en;q=0.9", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        ("en;q=0.5, zh-Hans;q=0.8", "zh-CN"),
        ("fr-FR, en;q=0.3, zh;q=0.2", "en"),
        ("zh;q=0, en;q=0.1", "en"),
        ("de, fr;q=0.9", "zh-CN"),
        ("en;q=bogus, zh", "zh-CN"),
        ("*", "zh-CN"),
        ("", "zh-CN"),
    ],
)
def test_accept_language_is_ranked_by_q_value(header: str, expected: str) -> None:
    assert i18n.negotiate(accept_language=header) == expected


def test_without_any_hint_the_configured_default_is_used() -> None:
    assert i18n.negotiate() == "zh-CN"
    assert i18n.negotiate(default="en") == "en"
    assert i18n.negotiate(accept_language="de", default="en") == "en"


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{([a-z_][a-z_0-9]*)(?:[:!][^}]*)?\}", text))


def test_both_gettext_catalogues_parse_with_babel_and_agree_on_every_placeholder() -> None:
    zh, en = i18n.catalog("zh-CN"), i18n.catalog("en")
    for key, text in zh.items():
        assert _placeholders(text) == _placeholders(en[key]), key


def test_no_catalogue_entry_is_fuzzy_or_empty() -> None:
    for lang in i18n.LANGUAGES:
        with i18n.po_path(lang).open("rb") as source:
            po = read_po(source)
        assert [m.id for m in po if m.id and (m.fuzzy or not m.string)] == [], lang


def test_a_phrase_parameter_is_worded_in_the_same_language() -> None:
    greeting = i18n.phrase("home.greeting", name=i18n.phrase("role.dorm_head"))
    assert i18n.word("zh-CN", greeting) == "你好，寝室长"
    assert i18n.word("en", greeting) == "Hello, Dorm head"
    assert i18n.word("en", "张三") == "张三"


SHANGHAI = ZoneInfo("Asia/Shanghai")
AT = datetime(2026, 12, 7, 1, 29, tzinfo=UTC)  # 09:29 in Shanghai


@pytest.mark.parametrize(
    ("today", "zh", "en"),
    [
        (date(2026, 12, 7), "09:29", "09:29"),
        (date(2026, 12, 8), "12月7日 09:29", "Dec 7, 09:29"),
        (date(2027, 1, 8), "2026年12月7日 09:29", "Dec 7, 2026, 09:29"),
        (None, "2026年12月7日 09:29", "Dec 7, 2026, 09:29"),
    ],
)
def test_a_time_shows_its_date_unless_it_is_today_on_the_schools_clock(today: date | None, zh: str, en: str) -> None:
    assert i18n.when(AT, "zh-CN", SHANGHAI, today=today) == zh
    assert i18n.when(AT, "en", SHANGHAI, today=today) == en


def test_today_is_the_schools_day_not_utcs() -> None:
    late = datetime(2026, 12, 7, 17, 30, tzinfo=UTC)  # 01:30 on Dec 8 in Shanghai
    assert i18n.when(late, "zh-CN", SHANGHAI, today=date(2026, 12, 8)) == "01:30"
    assert i18n.day(late, "zh-CN", SHANGHAI) == "2026年12月8日"


def test_a_moment_parameter_is_written_on_the_schools_clock() -> None:
    moment = i18n.Moment(AT, SHANGHAI, today=date(2026, 12, 8))
    assert i18n.translate("en", "home.greeting", name=moment) == "Hello, Dec 7, 09:29"
