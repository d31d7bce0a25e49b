"""Health probes, and the CLI's password, upgrade and refusal-to-start paths."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from riskcontrol.cli import app as cli
from riskcontrol.core import migrations
from riskcontrol.core.clock import ManualClock
from riskcontrol.core.worker import Worker
from riskcontrol.people.models import User
from riskcontrol.settings import Settings
from tests import factories as f


def test_healthz_and_readyz_on_a_migrated_database_once_deadlines_are_swept(
    client: TestClient, sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    Worker(sessions=sessions, clock=clock, name="test-worker").run_once()
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["migrations"] == "current"
    assert ready.json()["sweep"] == "ok"


def test_readyz_shows_the_worker_heartbeat(client: TestClient, sessions: sessionmaker[Session], clock: ManualClock) -> None:
    Worker(sessions=sessions, clock=clock, name="test-worker").run_once()
    assert client.get("/readyz").json()["worker_heartbeat_at"] == clock.now().isoformat()


def test_readyz_is_503_when_nothing_has_swept_the_deadlines_lately(
    client: TestClient, sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    never = client.get("/readyz")
    assert (never.status_code, never.json()["sweep"]) == (503, "never")
    Worker(sessions=sessions, clock=clock, name="test-worker").run_once()
    clock.advance(timedelta(seconds=30))
    assert client.get("/readyz").status_code == 200  # within the 30 s the settings allow
    clock.advance(timedelta(seconds=1))
    stale = client.get("/readyz")
    assert (stale.status_code, stale.json()["sweep"], stale.json()["sweep_age_seconds"]) == (503, "none for 31s", 31.0)


def test_readyz_is_503_when_the_schema_is_behind(client: TestClient, engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'behind'"))
    try:
        reply = client.get("/readyz")
        assert reply.status_code == 503
        assert "behind" in reply.json()["migrations"]
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": migrations.head_revision()})


def run(database_url: str, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin, env={"RISKCONTROL_DATABASE_URL": database_url})
    return result.exit_code, result.output


def test_user_password_reads_stdin_and_the_user_can_then_sign_in(db: Session, client: TestClient, database_url: str) -> None:
    campus = f.build_campus(db)
    created = f.user(db, "newcomer", ("counselor", campus["C1K1"]))
    created.password_hash = None
    db.commit()
    code, output = run(database_url, "user", "password", "newcomer", stdin="a-long-passphrase\n")
    assert code == 0, output
    assert client.post("/api/v1/auth/token", json={"username": "newcomer", "password": "a-long-passphrase"}).status_code == 200


def test_user_password_generate_prints_a_working_password(db: Session, client: TestClient, database_url: str) -> None:
    f.user(db, "gen", ("student_affairs", f.build_campus(db)["S"]))
    db.commit()
    code, output = run(database_url, "user", "password", "gen", "--generate")
    assert code == 0, output
    password = output.strip().rsplit(": ", 1)[1]
    assert client.post("/api/v1/auth/token", json={"username": "gen", "password": password}).status_code == 200


def test_user_password_refuses_a_short_password_and_unknown_users(db: Session, database_url: str) -> None:
    f.user(db, "short", ("student_affairs", f.build_campus(db)["S"]))
    db.commit()
    assert run(database_url, "user", "password", "short", stdin="abc\n")[0] == 1
    code, output = run(database_url, "user", "password", "nobody", stdin="long enough password\n")
    assert code == 1
    assert "username" in output
    db.expire_all()
    assert db.query(User).filter_by(username="short").one().password_hash == f.password_hash()


def test_db_upgrade_is_idempotent(database_url: str) -> None:
    code, output = run(database_url, "db", "upgrade")
    assert code == 0, output


def test_serve_refuses_production_without_a_secret(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["serve"],
        env={
            "RISKCONTROL_ENVIRONMENT": "production",
            "RISKCONTROL_SECRET_KEY": "",
            "RISKCONTROL_VAR_DIR": str(tmp_path),
            "RISKCONTROL_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        },
    )
    assert result.exit_code == 2
    assert "RISKCONTROL_SECRET_KEY" in result.output
    assert Settings(var_dir=tmp_path).secret_file.exists() is False
