"""Rows written by the application's own writers carry a MAC that holds, and seal into a chain that verifies
(the observation filing's one-statement path on PostgreSQL included)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.core import audit
from riskcontrol.core.audit import AuditLog
from riskcontrol.core.clock import ManualClock
from riskcontrol.observations.models import Observation
from tests import factories as f
from tests.integration.test_observations_api import body, seed


def test_a_filed_observation_is_audited_with_a_mac_and_sealed(
    client: TestClient, db: Session, sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    campus = seed(db)
    headers = f.bearer(client, "dorm_head")
    assert client.post("/api/v1/observations", json=body(campus, clock), headers=headers).status_code == 201
    assert client.post("/api/v1/observations", json=body(campus, clock), headers=headers).status_code == 200
    db.rollback()
    observation = db.execute(select(Observation)).scalar_one()
    filed = db.execute(select(AuditLog).where(AuditLog.action == "observation.file")).scalar_one()
    assert filed.subject_id == str(observation.id)
    assert filed.row_mac is not None
    db.rollback()
    audit.seal_all(sessions, clock)
    refused = db.execute(select(AuditLog).where(AuditLog.hash == audit.REFUSED)).scalars().all()
    assert refused == []
    report = audit.verify_chain(db)
    assert report.ok, report.reason
