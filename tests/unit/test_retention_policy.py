"""sop/retention.yaml: the shipped file loads; a bad kind, duration or combination names its line and field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from riskcontrol.core.datafiles import DataFileError, load_model
from riskcontrol.privacy.rules import AGE_BANDS, Kind, RetentionPolicy, audit_prune_before, band_counts

SOP = Path(__file__).resolve().parents[2] / "sop"
GOOD = """\
version: 1
periods:
  sessions: {keep: 30d, basis: b, label: {zh: 会话, en: sessions}}
  observation_notes: {keep: 365d, basis: b, label: {zh: 观察, en: notes}}
  resolved_escalations: {keep: 365d, basis: b, label: {zh: 预警, en: escalations}}
  incident_people: {keep: 1095d, basis: b, label: {zh: 当事人, en: people}}
  audit: {keep: 1095d, basis: b, label: {zh: 审计, en: audit}}
  contact_reads: {keep: 1095d, basis: b, label: {zh: 查阅, en: reads}}
  notifications: {keep: 365d, basis: b, label: {zh: 消息, en: messages}}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "retention.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_file_gives_every_kind_a_period_and_a_reason() -> None:
    policy = load_model(SOP / "retention.yaml", RetentionPolicy)
    assert set(policy.periods) == set(Kind)
    assert all(period.basis.strip() and period.label.zh and period.label.en for period in policy.periods.values())
    assert policy.keep(Kind.CONTACT_READS) >= policy.keep(Kind.AUDIT)


def test_an_unknown_kind_is_named_with_its_line(tmp_path: Path) -> None:
    text = GOOD + "  chat_logs: {keep: 7d, basis: b, label: {zh: 聊天, en: chats}}\n"
    with pytest.raises(DataFileError) as caught:
        load_model(write(tmp_path, text), RetentionPolicy)
    assert (caught.value.field, caught.value.line) == ("periods.chat_logs", GOOD.count("\n") + 1)


def test_a_bad_duration_is_named_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(DataFileError) as caught:
        load_model(write(tmp_path, GOOD.replace("keep: 30d", "keep: a month")), RetentionPolicy)
    assert (caught.value.field, caught.value.line) == ("periods.sessions.keep", 3)
    assert "write it like" in caught.value.reason


def test_a_period_under_a_day_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="shorter than a day"):
        load_model(write(tmp_path, GOOD.replace("keep: 30d", "keep: 2h")), RetentionPolicy)


def test_a_missing_kind_or_reason_is_refused(tmp_path: Path) -> None:
    text = "".join(line for line in GOOD.splitlines(keepends=True) if "sessions" not in line)
    with pytest.raises(DataFileError, match="missing: sessions"):
        load_model(write(tmp_path, text), RetentionPolicy)
    with pytest.raises(DataFileError) as caught:
        load_model(write(tmp_path, GOOD.replace("keep: 30d, basis: b", "keep: 30d, basis: ''")), RetentionPolicy)
    assert caught.value.field == "periods.sessions.basis"


def test_contact_reads_may_not_go_before_the_audit_rows_around_them(tmp_path: Path) -> None:
    text = GOOD.replace("contact_reads: {keep: 1095d", "contact_reads: {keep: 400d")
    with pytest.raises(DataFileError, match="only from its oldest end"):
        load_model(write(tmp_path, text), RetentionPolicy)


def test_the_audit_cut_stops_at_a_kept_read_or_a_held_subject() -> None:
    policy = RetentionPolicy.model_validate(
        {
            "version": 1,
            "periods": {
                kind.value: {
                    "keep": "100d" if kind != Kind.CONTACT_READS else "200d",
                    "basis": "b",
                    "label": {"zh": "z", "en": "e"},
                }
                for kind in Kind
            },
        }
    )
    now = datetime(2027, 1, 1, tzinfo=UTC)
    assert audit_prune_before(now, policy, oldest_kept_read=None, oldest_held=None) == now - timedelta(days=100)
    read = now - timedelta(days=150)
    assert audit_prune_before(now, policy, oldest_kept_read=read, oldest_held=None) == read
    held = now - timedelta(days=300)
    assert audit_prune_before(now, policy, oldest_kept_read=read, oldest_held=held) == held


def test_age_bands_add_up() -> None:
    assert [name for name, _ in AGE_BANDS] == ["<30d", "<1y", ">=1y"]
    assert band_counts(10, [3, 7]) == {"<30d": 3, "<1y": 4, ">=1y": 3}
