"""Application settings read from the environment (prefix RISKCONTROL_)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

INSECURE_SECRETS = frozenset({"", "changeme", "change-me", "secret", "dev", "insecure"})


class SettingsError(RuntimeError):
    """The settings cannot run the system as asked (e.g. production without a secret)."""


class Settings(BaseSettings):
    """Everything a deployment may change, with the embedded defaults of `make run`."""

    model_config = SettingsConfigDict(env_prefix="RISKCONTROL_", extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'riskcontrol.db'}"
    redis_url: str | None = None
    secret_key: str | None = None
    var_dir: Path = PROJECT_ROOT / "var"
    sop_dir: Path = PROJECT_ROOT / "sop"
    playbook_dir: Path = PROJECT_ROOT / "playbooks"
    timezone: str = "Asia/Shanghai"
    default_language: Literal["zh-CN", "en"] = "zh-CN"
    session_ttl: timedelta = timedelta(hours=12)
    login_max_failures: int = 5
    login_lockout: timedelta = timedelta(minutes=15)
    cookie_secure: bool | None = None
    run_worker_in_process: bool = True
    worker_interval: timedelta = timedelta(seconds=1)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        """The display time zone (storage is always UTC)."""
        return ZoneInfo(self.timezone)

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def secure_cookies(self) -> bool:
        return self.is_production if self.cookie_secure is None else self.cookie_secure

    @property
    def secret_file(self) -> Path:
        return self.var_dir / "secret_key"

    def resolve_secret(self) -> str:
        """The signing secret: configured, or (outside production) generated once into var/."""
        if self.secret_key is not None and self.secret_key.strip().lower() not in INSECURE_SECRETS:
            if self.is_production and len(self.secret_key) < 32:
                raise SettingsError("RISKCONTROL_SECRET_KEY must be at least 32 characters in production")
            return self.secret_key
        if self.is_production:
            raise SettingsError("RISKCONTROL_SECRET_KEY must be set to a strong value in production")
        if self.secret_file.exists():
            return self.secret_file.read_text(encoding="utf-8").strip()
        self.var_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        self.secret_file.write_text(secret + "\n", encoding="utf-8")
        self.secret_file.chmod(0o600)
        return secret
