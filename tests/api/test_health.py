from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from citywatch.alerts.durable import durable_sink_keys
from citywatch.config.alerts import WebhookConfig
from citywatch.services import recordings
from citywatch.services.outbox import AlertOutbox
from citywatch.store.types import utcnow
from tests.services.helpers import add_camera
from tests.services.test_outbox import store_alert

HOOK_URL = "https://hooks.example.org/in/T0K3N?sig=s3cret"


def waiting_alert(api_app: FastAPI, api_sessions: sessionmaker[Session], age_s: float) -> str:
    """Configure one webhook and store an alert that waits ``age_s`` for it after a failed
    try (HTTP 503); returns the webhook's outbox key."""
    cfg = api_app.state.config
    alerts = cfg.alerts.model_copy(update={"webhooks": [WebhookConfig(url=HOOK_URL)]})
    api_app.state.config = cfg.model_copy(update={"alerts": alerts})
    (key,) = durable_sink_keys(alerts)
    then = utcnow() - dt.timedelta(seconds=age_s)
    box = AlertOutbox(api_sessions, [key], clock=lambda: then).install()
    try:
        with api_sessions() as s:
            add_camera(s, "cam-1")
        store_alert(api_sessions, 1)
        (item,) = box.claim(key, 10)
        box.retry_later(item, "HTTP 503", 30.0)
    finally:
        box.uninstall()
    return key


def _record(state: str, error: str = "") -> dict[str, Any]:
    return {"source": {"state": state, "last_error": error}, "worker": {"lag_s": 0.1}}


def test_health_is_public_and_counts_cameras_by_state(api_app: FastAPI, client: TestClient) -> None:
    api_app.state.health = lambda: {
        "cam-1": _record("streaming"),
        "cam-2": _record("streaming"),
        "cam-3": _record("backoff", "rtsp://u:hunter2@10.0.0.1/x refused"),
    }
    r = client.get("/api/v1/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["database"] is True
    assert body["cameras"] == {"backoff": 1, "streaming": 2}
    assert body["version"]
    assert set(body) == {
        "status",
        "version",
        "database",
        "cameras",
        "alert_delivery",
        "evidence_unwritable",
        "recording_failed",
        "recording_storage",
    }
    assert (body["recording_failed"], body["recording_storage"]) == (0, None)
    assert body["alert_delivery"] == {}  # no webhook or MQTT configured
    assert "hunter2" not in r.text and "cam-1" not in r.text


def test_health_is_degraded_while_a_camera_is_stale(api_app: FastAPI, client: TestClient) -> None:
    api_app.state.health = lambda: {"cam-1": _record("streaming"), "cam-2": _record("stale")}
    body = client.get("/api/v1/health").json()
    assert body["status"] == "degraded"
    assert body["cameras"] == {"stale": 1, "streaming": 1}
    api_app.state.health = lambda: {"cam-1": _record("streaming"), "cam-2": _record("ended")}
    assert client.get("/api/v1/health").json()["status"] == "ok"


def test_health_is_degraded_while_recording_fails_or_nears_its_budget(
    api_app: FastAPI, api_sessions: sessionmaker[Session], client: TestClient
) -> None:
    failing = {"lag_s": 0.1, "recording": "failed", "recording_error": "media folder: EROFS"}
    api_app.state.health = lambda: {
        "cam-1": {"source": {"state": "streaming"}, "worker": failing},
        "cam-2": _record("streaming"),
    }
    body = client.get("/api/v1/health").json()
    assert (body["status"], body["recording_failed"]) == ("degraded", 1)
    api_app.state.health = lambda: {"cam-2": _record("streaming")}
    assert client.get("/api/v1/health").json()["status"] == "ok"
    cfg = api_app.state.config
    storage = cfg.recording.storage.model_copy(update={"budget_gb": 1e-6})  # 1000 bytes
    api_app.state.config = cfg.model_copy(
        update={"recording": cfg.recording.model_copy(update={"storage": storage})}
    )
    start = utcnow()
    with api_sessions() as s:
        add_camera(s, "cam-1")
        seg = recordings.add_segment(s, "cam-1", start, recordings.segment_path("cam-1", start))
        recordings.finish_segment(s, seg.id, ended_at=start, size_bytes=950, sha256="0" * 64)
    body = client.get("/api/v1/health").json()
    assert (body["status"], body["recording_storage"]) == ("degraded", "warning")


def test_health_ignores_a_broken_credential(client: TestClient) -> None:
    r = client.get("/api/v1/health", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 200


def test_health_is_degraded_when_camera_health_fails(api_app: FastAPI, client: TestClient) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("boom")

    api_app.state.health = broken
    body = client.get("/api/v1/health").json()
    assert body["status"] == "degraded"
    assert body["database"] is True


class _DeadDatabase:
    def __call__(self) -> _DeadDatabase:
        return self

    def __enter__(self) -> _DeadDatabase:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def execute(self, *_a: object) -> None:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))


def test_health_is_degraded_without_database(api_app: FastAPI, client: TestClient) -> None:
    api_app.state.sessions = _DeadDatabase()
    r = client.get("/api/v1/health")
    assert r.status_code == 200
    assert r.json()["database"] is False
    assert r.json()["status"] == "degraded"


def test_health_shows_each_sinks_outbox_and_degrades_while_an_alert_waits(
    api_app: FastAPI, api_sessions: sessionmaker[Session], client: TestClient
) -> None:
    key = waiting_alert(api_app, api_sessions, age_s=600)
    r = client.get("/api/v1/health")
    body = r.json()
    assert body["status"] == "degraded"  # waiting longer than alerts.outbox.stale_after_s
    delivery = body["alert_delivery"][key]
    assert delivery["pending"] == 1 and delivery["failed"] == 0
    assert 600 <= delivery["oldest_pending_s"] < 700
    assert delivery["last_error"] == "HTTP 503" and delivery["last_error_at"]
    for secret in ("hooks.example.org", "T0K3N", "s3cret"):
        assert secret not in r.text
    # a recent backlog is reported without degrading the status
    cfg = api_app.state.config
    outbox = cfg.alerts.outbox.model_copy(update={"stale_after_s": 3600.0})
    alerts = cfg.alerts.model_copy(update={"outbox": outbox})
    api_app.state.config = cfg.model_copy(update={"alerts": alerts})
    assert client.get("/api/v1/health").json()["status"] == "ok"
