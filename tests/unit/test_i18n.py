"""Catalogs and language negotiation: which language a page is shown in, and that both catalogs agree."""

from __future__ import annotations

import pytest

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
