"""Loading escalation.yaml from an SOP directory: validated, cached, and read again after an edit."""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from riskcontrol.core.datafiles import DataFileError
from riskcontrol.escalation.policy import POLICY_FILE, load_policy
from riskcontrol.settings import PROJECT_ROOT, Settings


def test_the_shipped_policy_loads_with_every_level_and_channel() -> None:
    policy = load_policy(Settings().sop_dir)
    assert sorted(policy.levels) == ["blue", "orange", "red", "yellow"]
    assert sorted(policy.channels) == ["in_app", "sms", "voice"]
    assert policy.levels["red"].label.zh.startswith("紧急")
    assert load_policy(Settings().sop_dir) is policy


def test_an_edited_file_is_read_again_for_escalations_that_start_afterwards(tmp_path: Path) -> None:
    path = tmp_path / POLICY_FILE
    shutil.copy(PROJECT_ROOT / "sop" / POLICY_FILE, path)
    before = load_policy(tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace("ack_within: 1h", "ack_within: 30m"), encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    after = load_policy(tmp_path)
    assert after is not before
    windows = [policy.levels["orange"].chain[0].ack_within for policy in (before, after)]
    assert windows == [timedelta(hours=1), timedelta(minutes=30)]


def test_a_missing_file_is_reported_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="cannot be read") as caught:
        load_policy(tmp_path)
    assert caught.value.path == (tmp_path / POLICY_FILE).resolve()
