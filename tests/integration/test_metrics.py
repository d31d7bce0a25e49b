"""Operators see the system on /metrics: request times by route, deadline lag, the outbox, sockets, the last sweep."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker
from starlette.websockets import WebSocketDisconnect

from riskcontrol.app import create_app
from riskcontrol.core import deadlines, metrics, outbox
from riskcontrol.core.clock import Clock, ManualClock
from riskcontrol.core.db import make_engine, make_sessionmaker
from riskcontrol.core.db_metrics import DatabaseCollector
from riskcontrol.core.deadlines import Deadline, DeadlineHandlers
from riskcontrol.core.dispatcher import dispatch
from riskcontrol.core.outbox import Channels, OutboxMessage, SendOutcome
from riskcontrol.core.worker import Worker
from riskcontrol.settings import Settings
from tests import factories as f

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient) -> Samples:
    """Every sample on /metrics, by name and labels."""
    reply = client.get("/metrics")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def grown(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much a sample grew between two scrapes."""
    return value(after, name, **labels) - value(before, name, **labels)


# The histograms and counters belong to the process and every test's app shares them: the tests
# compare a scrape before with one after. What is read from the database is compared as it is.


def test_a_request_is_timed_under_its_route_template_never_its_path(client: TestClient) -> None:
    route = {"route": "/api/v1/incidents/{incident_id}", "method": "GET", "status": "4xx"}
    before = scrape(client)
    assert client.get("/api/v1/incidents/918273").status_code == 401
    assert client.get("/api/v1/incidents/918274").status_code == 401
    assert client.get("/healthz").status_code == 200
    after = scrape(client)
    count = "riskcontrol_http_request_duration_seconds_count"
    assert grown(before, after, count, **route) == 2
    assert grown(before, after, count, route="/healthz", method="GET", status="2xx") == 1
    assert not any("918273" in v for _, labels in after for _, v in labels)


def test_unknown_paths_and_methods_share_one_label_each(client: TestClient) -> None:
    client.get("/no/such/page/4711")
    client.request("BREW", "/api/v1/incidents/1")
    after = scrape(client)
    routes = {dict(labels).get("route") for name, labels in after if name.startswith("riskcontrol_http_request")}
    methods = {dict(labels).get("method") for name, labels in after if name.startswith("riskcontrol_http_request")}
    assert metrics.UNMATCHED in routes
    assert not any("4711" in str(r) for r in routes)
    assert "other" in methods
    assert "BREW" not in methods


def test_a_deadline_fired_late_is_counted_in_the_lag_buckets_of_its_kind(
    client: TestClient, sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    handlers = DeadlineHandlers()
    handlers.register("metrics.probe", lambda db, clock, deadline: None)
    with sessions() as db:
        deadlines.schedule(
            db, clock, kind="metrics.probe", subject_type="test", subject_id=1, due_at=clock.now() + timedelta(minutes=5)
        )
        db.commit()
    before = scrape(client)
    clock.advance(timedelta(minutes=7))  # the sweep comes two minutes after the row fell due
    assert deadlines.sweep(sessions, clock, handlers, worker="w").fired == 1
    after = scrape(client)
    probe = {"kind": "metrics.probe"}
    bucket = "riskcontrol_deadline_lag_seconds_bucket"
    assert [grown(before, after, bucket, le=le, **probe) for le in ("60.0", "120.0", "300.0", "+Inf")] == [0, 1, 1, 1]
    assert grown(before, after, "riskcontrol_deadline_lag_seconds_count", **probe) == 1
    assert grown(before, after, "riskcontrol_deadline_lag_seconds_sum", **probe) == 120


def test_a_deadline_whose_handler_fails_is_not_counted_as_fired(
    client: TestClient, sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    handlers = DeadlineHandlers()

    def broken(db: Session, clock: Clock, deadline: Deadline) -> None:
        raise RuntimeError("gateway down")

    handlers.register("metrics.broken", broken)
    with sessions() as db:
        deadlines.schedule(db, clock, kind="metrics.broken", subject_type="test", subject_id=1, due_at=clock.now())
        db.commit()
    assert deadlines.sweep(sessions, clock, handlers, worker="w").failed == 1
    assert value(scrape(client), "riskcontrol_deadline_lag_seconds_count", kind="metrics.broken") == 0


def test_each_send_is_timed_and_each_failure_counted_per_channel(
    client: TestClient, sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    answers = [SendOutcome(ok=False, error="provider said no"), SendOutcome(ok=True, provider_id="P1")]
    channels = Channels()
    channels.register("metrics-probe", lambda message: answers.pop(0))
    with sessions() as db:
        outbox.enqueue(db, clock, channel="metrics-probe", payload={}, address="+8613800000000")
        db.commit()
    before = scrape(client)
    assert dispatch(sessions, clock, channels) == 1
    clock.advance(timedelta(minutes=1))  # past the backoff
    assert dispatch(sessions, clock, channels) == 1
    after = scrape(client)
    assert grown(before, after, "riskcontrol_outbox_send_seconds_count", channel="metrics-probe") == 2
    assert grown(before, after, "riskcontrol_outbox_send_failures_total", channel="metrics-probe") == 1


def test_a_sender_that_raises_is_timed_and_counted_as_a_failure(
    client: TestClient, sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    def exploding(message: OutboxMessage) -> SendOutcome:
        raise ConnectionError("no route to provider")

    channels = Channels()
    channels.register("metrics-raising", exploding)
    with sessions() as db:
        outbox.enqueue(db, clock, channel="metrics-raising", payload={})
        db.commit()
    before = scrape(client)
    assert dispatch(sessions, clock, channels) == 1
    after = scrape(client)
    for name in ("riskcontrol_outbox_send_seconds_count", "riskcontrol_outbox_send_failures_total"):
        assert grown(before, after, name, channel="metrics-raising") == 1


def test_dropped_messages_are_counted_by_the_hook_and_from_the_database(
    client: TestClient, sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    before = scrape(client)
    metrics.send_dropped("sms")
    with sessions() as db:
        outbox.enqueue(db, clock, channel="sms", payload={}, address="+8613800000000")
        db.flush()
        db.execute(update(OutboxMessage).values(status="dropped"))  # what the outbox does to a message no longer needed
        db.commit()
    after = scrape(client)
    assert grown(before, after, "riskcontrol_outbox_dropped_total", channel="sms") == 1
    assert value(after, "riskcontrol_outbox_unsent_messages", channel="sms", status="dropped") == 1


def test_outbox_depth_is_read_from_the_database_per_channel_and_status(
    client: TestClient, sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    assert value(scrape(client), "riskcontrol_outbox_depth", channel="sms", status="pending") == 0
    with sessions() as db:
        for channel in ("sms", "sms", "sms", "in_app"):
            outbox.enqueue(db, clock, channel=channel, payload={})
        db.flush()
        first = db.query(OutboxMessage).filter_by(channel="sms").order_by(OutboxMessage.id).first()
        assert first is not None
        first.status = outbox.SENDING
        db.commit()
    samples = scrape(client)
    depth = "riskcontrol_outbox_depth"
    assert value(samples, depth, channel="sms", status="pending") == 2
    assert value(samples, depth, channel="sms", status="sending") == 1
    assert value(samples, depth, channel="in_app", status="pending") == 1
    # A channel the app knows is shown at 0 rather than missing.
    assert (depth, frozenset({("channel", "in_app"), ("status", "sending")})) in samples


def test_the_age_of_the_last_sweep_follows_the_newest_heartbeat(
    client: TestClient, sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    age = ("riskcontrol_last_sweep_age_seconds", frozenset[tuple[str, str]]())
    assert age not in scrape(client)  # no worker has run yet: no number to give
    Worker(sessions=sessions, clock=clock, name="metrics-worker").run_once()
    clock.advance(timedelta(seconds=90))
    assert scrape(client)[age] == 90
    Worker(sessions=sessions, clock=clock, name="another-worker").run_once()
    clock.advance(timedelta(seconds=5))
    assert scrape(client)[age] == 5
    assert scrape(client)[("riskcontrol_metrics_database_up", frozenset())] == 1


def test_connected_websockets_are_counted_while_open(client: TestClient, db: Session) -> None:
    f.user(db, "watcher", ("student_affairs", f.build_campus(db)["S"]))
    db.commit()
    headers = f.bearer(client, "watcher")
    gauge = "riskcontrol_websocket_clients"
    base = {route: value(scrape(client), gauge, route=route) for route in ("/ws/inbox", "/ws/board")}
    with client.websocket_connect("/ws/inbox", headers=headers) as inbox:
        assert inbox.receive_json()["type"] == "snapshot"
        with client.websocket_connect("/ws/board", headers=headers) as board:
            assert board.receive_json()["type"] == "snapshot"
            samples = scrape(client)
            assert value(samples, gauge, route="/ws/inbox") == base["/ws/inbox"] + 1
            assert value(samples, gauge, route="/ws/board") == base["/ws/board"] + 1
        assert value(scrape(client), gauge, route="/ws/board") == base["/ws/board"]
    assert value(scrape(client), gauge, route="/ws/inbox") == base["/ws/inbox"]


def test_a_socket_refused_at_sign_in_is_never_counted(client: TestClient) -> None:
    gauge = "riskcontrol_websocket_clients"
    before = value(scrape(client), gauge, route="/ws/board")
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/ws/board"):
        pass
    assert refused.value.code == 4401
    assert value(scrape(client), gauge, route="/ws/board") == before


def test_a_scrape_still_answers_when_the_database_is_away(tmp_path: Path, clock: ManualClock) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'missing' / 'no.db'}")
    try:
        registry = metrics.new_registry(DatabaseCollector(make_sessionmaker(engine), clock, channels=["sms"]))
        families = {family.name: family for family in registry.collect()}
    finally:
        engine.dispose()
    assert families["riskcontrol_metrics_database_up"].samples[0].value == 0
    assert "riskcontrol_outbox_depth" not in families
    assert "riskcontrol_deadline_lag_seconds" in families  # the process's own figures still come


def test_a_worker_process_serves_its_figures_on_a_port_of_its_own(sessions: sessionmaker[Session], clock: ManualClock) -> None:
    Worker(sessions=sessions, clock=clock, name="lonely-worker").run_once()
    clock.advance(timedelta(seconds=30))
    server = metrics.serve_apart(metrics.new_registry(DatabaseCollector(sessions, clock)), "127.0.0.1", 0)
    try:
        reply = httpx.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=10)
    finally:
        server.shutdown()
        server.server_close()
    families = {family.name: family for family in text_string_to_metric_families(reply.text)}
    assert families["riskcontrol_last_sweep_age_seconds"].samples[0].value == 30
    assert "riskcontrol_deadline_lag_seconds" in families


def test_metrics_can_be_turned_off(settings: Settings, clock: ManualClock, sessions: sessionmaker[Session]) -> None:
    with TestClient(create_app(settings.model_copy(update={"metrics_enabled": False}), clock=clock)) as off:
        assert off.get("/metrics").status_code == 404
        assert off.get("/healthz").status_code == 200


_OBSERVE = """
import sys
from riskcontrol.core import metrics
metrics.observe_deadline_lag("metrics.shared", 3.0)
metrics.socket_opened("/ws/board")
if sys.argv[1] == "ends":
    metrics.socket_closed("/ws/board")
    metrics.process_ended()
"""
_READ = """
from prometheus_client import generate_latest
from riskcontrol.core import metrics
print(generate_latest(metrics.new_registry()).decode())
"""


def test_in_multiprocess_mode_a_scrape_adds_up_every_process(tmp_path: Path) -> None:
    env = {**os.environ, metrics.MULTIPROCESS_DIR: str(tmp_path), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}

    def python(code: str, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    python(_OBSERVE, "ends")
    python(_OBSERVE, "keeps")
    exposed = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(python(_READ))
        for sample in family.samples
    }
    assert value(exposed, "riskcontrol_deadline_lag_seconds_count", kind="metrics.shared") == 2
    # The process that ended gave its socket back; the one that "still runs" holds one.
    assert value(exposed, "riskcontrol_websocket_clients", route="/ws/board") == 1
