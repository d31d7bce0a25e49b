"""Application settings read from the environment (prefix RISKCONTROL_)."""

from __future__ import annotations

import secrets
import string
from datetime import timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from riskcontrol.core.audit import AuditConfig
from riskcontrol.core.private import private_dir, private_file
from riskcontrol.core.security import HashingProfile

PROJECT_ROOT = Path(__file__).resolve().parent.parent

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
INSECURE_SECRETS = frozenset({"", "changeme", "change-me", "secret", "dev", "insecure"})


class SettingsError(RuntimeError):
    """The settings cannot run the system as asked (e.g. production without a secret)."""


class Settings(BaseSettings):
    """Everything a deployment may change, with the embedded defaults of `make run`."""

    model_config = SettingsConfigDict(env_prefix="RISKCONTROL_", extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'riskcontrol.db'}"
    redis_url: str | None = None
    # Live screens notice a lost bus within two of these, then retry it (and watch the database) this often.
    bus_retry_seconds: float = Field(default=1.0, gt=0, le=60)
    secret_key: str | None = None
    # The audit log's HMAC key, kept outside the database (generated into var/ outside production).
    audit_key: str | None = None
    # Where the chain head is appended every hour, outside the database (default var/audit-anchors.log).
    audit_anchor_file: Path | None = None
    var_dir: Path = PROJECT_ROOT / "var"
    sop_dir: Path = PROJECT_ROOT / "sop"
    playbook_dir: Path = PROJECT_ROOT / "playbooks"
    risk_map_dir: Path = PROJECT_ROOT / "risk_map"
    # Base tiles for the risk map: off by default (the campus geometry is drawn without them). An
    # intranet tile server's URL template, e.g. http://tiles.campus.edu.cn/{z}/{x}/{y}.png; tiles in
    # GCJ-02 (most Chinese providers) get every coordinate converted for display.
    map_tiles_url: str | None = None
    map_tiles_attribution: str = ""
    map_tiles_crs: Literal["wgs84", "gcj02"] = "wgs84"
    timezone: str = "Asia/Shanghai"
    default_language: Literal["zh-CN", "en"] = "zh-CN"
    # argon2's cost for new password hashes; "cheapest" is for test suites only and refused in production.
    argon2_profile: HashingProfile = "standard"
    session_ttl: timedelta = timedelta(hours=12)
    # How long a server process may serve a caller's roles from memory; a sign-out, role change or
    # deactivation made in another process takes effect within this many seconds (0: always read).
    principal_cache_seconds: float = Field(default=5.0, ge=0, le=60)
    login_max_failures: int = 5
    login_lockout: timedelta = timedelta(minutes=15)
    # Token-bucket limits per minute, each also the burst allowed (0 turns one off). Requests with no valid
    # session count per client address; sign-in attempts per address and username; everything a
    # signed-in user does per user. Kept by each serving process (see core/ratelimit.py).
    rate_limit_anonymous_per_minute: int = Field(default=60, ge=0)
    rate_limit_login_per_minute: int = Field(default=10, ge=0)
    rate_limit_user_per_minute: int = Field(default=600, ge=0)
    cookie_secure: bool | None = None
    # Every serving process sweeps deadlines and sends the outbox (claims are safe with any number of
    # processes), so the climb goes on with no dedicated worker; False is for tests that drive it by hand.
    run_worker_in_process: bool = True
    worker_interval: timedelta = timedelta(seconds=1)
    # /readyz says not ready when no process has swept the deadlines for this long.
    ready_sweep_within: timedelta = timedelta(seconds=30)
    # Texts per person per 24 hours for anything below red (red is never capped); 0 turns capping off.
    sms_daily_cap: int = 20
    sms_backend: Literal["console", "twilio"] = "console"
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from_number: str | None = None
    twilio_api_base: str | None = None
    public_base_url: str = "http://127.0.0.1:8000"
    # GET /metrics for Prometheus: operational figures only (no names, ids or raw paths), served without
    # sign-in like /healthz; keep it to the monitoring network at the reverse proxy, or turn it off.
    metrics_enabled: bool = True

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("public_base_url")
    @classmethod
    def _absolute_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError(f"public_base_url must be an absolute http(s) URL, got {value!r}")
        return value.rstrip("/")

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

    @property
    def audit_key_file(self) -> Path:
        return self.var_dir / "audit_key"

    @property
    def audit_anchors(self) -> Path:
        return self.audit_anchor_file or self.var_dir / "audit-anchors.log"

    def resolve_secret(self) -> str:
        """The signing secret: configured, or (outside production) generated once into var/."""
        return self._resolve_key(self.secret_key, self.secret_file, "RISKCONTROL_SECRET_KEY")

    def resolve_audit_key(self) -> bytes:
        """The audit log's HMAC key: configured, or (outside production) generated once into var/."""
        key = self._resolve_key(self.audit_key, self.audit_key_file, "RISKCONTROL_AUDIT_KEY")
        if self.is_production and key == self.secret_key:
            # Whoever learns the signing secret (it signs every link sent out) must not be able to forge the log.
            raise SettingsError("RISKCONTROL_AUDIT_KEY must differ from RISKCONTROL_SECRET_KEY")
        return key.encode("utf-8")

    def audit_config(self) -> AuditConfig:
        """The audit log's key, anchors file and time zone, for the app and the command line alike."""
        return AuditConfig(key=self.resolve_audit_key(), anchors=self.audit_anchors, tz=self.tz)

    def _resolve_key(self, configured: str | None, file: Path, variable: str) -> str:
        """A key: configured, or (outside production) generated once into `file`, the owner's alone."""
        if configured is not None and configured.strip().lower() not in INSECURE_SECRETS:
            if self.is_production and len(configured) < 32:
                raise SettingsError(f"{variable} must be at least 32 characters in production")
            return configured
        if self.is_production:
            raise SettingsError(f"{variable} must be set to a strong value in production")
        if file.exists():
            return file.read_text(encoding="utf-8").strip()
        private_dir(self.var_dir)
        key = secrets.token_urlsafe(48)
        private_file(file).write_text(key + "\n", encoding="utf-8")  # 0600 before the key is in it
        return key

    def resolve_argon2_profile(self) -> HashingProfile:
        """The password-hashing profile to run with; production refuses the test suite's cheap one."""
        if self.is_production and self.argon2_profile != "standard":
            raise SettingsError("RISKCONTROL_ARGON2_PROFILE=cheapest is for test suites only and is refused in production")
        return self.argon2_profile

    def public_url(self, path: str) -> str:
        """The address the outside world (e.g. Twilio's callbacks) uses for `path` on this server."""
        return self.public_base_url + "/" + path.lstrip("/")

    def twilio_problems(self) -> list[str]:
        """What stops the Twilio SMS backend from working as configured (empty when fine or unused)."""
        if self.sms_backend != "twilio":
            return []
        problems = [
            f"RISKCONTROL_{name.upper()} must be set when RISKCONTROL_SMS_BACKEND=twilio"
            for name in ("twilio_account_sid", "twilio_auth_token", "twilio_from_number")
            if not (getattr(self, name) or "").strip()
        ]
        sid = self.twilio_account_sid
        if sid and not (sid.startswith("AC") and len(sid) == 34 and all(c in string.hexdigits for c in sid[2:])):
            problems.append("RISKCONTROL_TWILIO_ACCOUNT_SID must look like AC followed by 32 hex digits")
        if self.twilio_api_base is not None:
            base = urlsplit(self.twilio_api_base)
            if base.scheme not in {"http", "https"} or not base.netloc:
                problems.append("RISKCONTROL_TWILIO_API_BASE must be an absolute http(s) URL")
        host = urlsplit(self.public_base_url).hostname or ""
        if self.is_production and host in LOCAL_HOSTS:
            problems.append("RISKCONTROL_PUBLIC_BASE_URL must be the public address Twilio can call back, not this machine")
        return problems
