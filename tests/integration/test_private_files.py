"""Files holding personal information are the server account's alone, whatever the umask: the
SQLite database, the console SMS log, the secret, uploaded photos (folders 0700, files 0600)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from riskcontrol.core.db import make_engine
from riskcontrol.core.private import private_file
from riskcontrol.notify.sms import ConsoleSmsChannel
from riskcontrol.settings import Settings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_the_sms_log_and_the_var_folder_are_private_under_a_lax_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual default: files 0644, folders 0755
    try:
        db_file = tmp_path / "var" / "riskcontrol.db"
        db_file.parent.mkdir()
        engine = make_engine(f"sqlite:///{db_file}")
        with engine.connect():
            pass
        engine.dispose()
        assert mode(db_file) == 0o600
        ConsoleSmsChannel(tmp_path / "var").send("+8613800138000", "测试", status_callback=None)
        assert mode(tmp_path / "var" / "sms-outbox.log") == 0o600
        settings = Settings(environment="development", var_dir=tmp_path / "state", database_url=f"sqlite:///{db_file}")
        settings.resolve_secret()
        assert mode(tmp_path / "state") == 0o700
        assert mode(settings.secret_file) == 0o600
    finally:
        os.umask(old)


def test_an_existing_database_file_is_never_opened_only_its_mode_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Closing any descriptor of a file drops the process's POSIX locks on it: opening a live SQLite
    # file here (every engine made in the process) corrupted the database under concurrent writers.
    db_file = tmp_path / "live.db"
    db_file.write_bytes(b"")
    db_file.chmod(0o644)

    def no_open(*_args: object, **_kwargs: object) -> int:
        raise AssertionError("an existing file was opened")

    monkeypatch.setattr(os, "open", no_open)
    private_file(db_file)
    assert mode(db_file) == 0o600
