"""Settings: environment prefix, the generated development secret, and production's refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskcontrol.app import create_app
from riskcontrol.settings import Settings, SettingsError


def test_settings_come_from_riskcontrol_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RISKCONTROL_DATABASE_URL", "postgresql+psycopg://u@127.0.0.1/x")
    monkeypatch.setenv("RISKCONTROL_TIMEZONE", "Asia/Urumqi")
    s = Settings(var_dir=tmp_path)
    assert s.database_url == "postgresql+psycopg://u@127.0.0.1/x"
    assert s.tz.key == "Asia/Urumqi"
    assert s.redis_url is None


def test_development_generates_a_secret_once_and_keeps_it(tmp_path: Path) -> None:
    s = Settings(var_dir=tmp_path / "var")
    first = s.resolve_secret()
    assert len(first) >= 48
    assert Settings(var_dir=tmp_path / "var").resolve_secret() == first
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("secret", [None, "changeme", "", "short"])
def test_production_refuses_a_missing_default_or_weak_secret(tmp_path: Path, secret: str | None) -> None:
    s = Settings(environment="production", var_dir=tmp_path, secret_key=secret)
    with pytest.raises(SettingsError, match="RISKCONTROL_SECRET_KEY"):
        s.resolve_secret()


def test_production_accepts_a_strong_secret_and_uses_secure_cookies(tmp_path: Path) -> None:
    s = Settings(environment="production", var_dir=tmp_path, secret_key="k" * 40)
    assert s.resolve_secret() == "k" * 40
    assert s.secure_cookies


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="Mars"):
        Settings(timezone="Mars/Olympus")


def test_passwords_are_hashed_at_full_cost_unless_a_test_suite_asks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RISKCONTROL_ARGON2_PROFILE", raising=False)
    assert Settings(var_dir=tmp_path).resolve_argon2_profile() == "standard"
    assert Settings(var_dir=tmp_path, environment="test", argon2_profile="cheapest").resolve_argon2_profile() == "cheapest"


def test_production_refuses_the_test_suites_cheap_password_hashing(tmp_path: Path) -> None:
    s = Settings(environment="production", var_dir=tmp_path, secret_key="k" * 40, argon2_profile="cheapest")
    with pytest.raises(SettingsError, match="RISKCONTROL_ARGON2_PROFILE"):
        s.resolve_argon2_profile()
    with pytest.raises(SettingsError, match="RISKCONTROL_ARGON2_PROFILE"):
        create_app(s)
