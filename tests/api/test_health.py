from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError


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
    assert set(body) == {"status", "version", "database", "cameras"}  # nothing personal
    assert "hunter2" not in r.text and "cam-1" not in r.text


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
