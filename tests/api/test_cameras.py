from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from citywatch.api.security import Role
from citywatch.store.models import CameraRow
from tests.api.routes_support import SECRET, Headers, audit_rows, headers, seeded

__all__ = ["headers", "seeded"]

URL = f"rtsp://viewer:{SECRET}@10.0.0.9/stream?token=abc123"


def _body(cam_id: str = "gate-1", **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": cam_id,
        "name": "Gate",
        "url": URL,
        "purposes": ["plate"],
        "zone": "harbour",
        "legal_basis": "Municipal Act 12 s.3",
        "impact_assessment": "DPIA-2025-07",
        "approved_on": "2025-01-15",
        "operator": "City",
        "location": {"lat": 52.0, "lon": 5.0},
    }
    body.update(kw)
    return body


def test_admin_registers_a_camera_and_no_one_sees_its_secret(
    client: TestClient, headers: Headers, api_sessions: sessionmaker[Session]
) -> None:
    r = client.post("/api/v1/cameras", json=_body(), headers=headers(Role.ADMIN))
    assert r.status_code == 201, r.text
    cam = r.json()
    assert cam["id"] == "gate-1"
    assert cam["purposes"] == ["plate"]
    assert "url" not in cam
    assert "viewer" not in cam["url_redacted"]
    assert "10.0.0.9/stream" in cam["url_redacted"]
    texts = [r.text]
    for role in (Role.ADMIN, Role.OPERATOR, Role.INVESTIGATOR, Role.AUDITOR):
        listed = client.get("/api/v1/cameras", headers=headers(role))
        one = client.get("/api/v1/cameras/gate-1", headers=headers(role))
        assert listed.status_code == one.status_code == 200
        texts += [listed.text, one.text]
    for text in texts:
        assert SECRET not in text and "abc123" not in text
    [entry] = audit_rows(api_sessions, "camera.register")
    assert entry.target == "camera:gate-1"
    assert entry.actor.startswith("token:")
    assert SECRET not in entry.details


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ({"legal_basis": ""}, "legal_basis"),
        ({"impact_assessment": ""}, "impact_assessment"),
        ({"approved_on": None}, "approved_on"),
    ],
)
def test_registration_without_legal_basis_is_refused_with_422(
    client: TestClient,
    headers: Headers,
    api_sessions: sessionmaker[Session],
    missing: dict[str, Any],
    named: str,
) -> None:
    r = client.post("/api/v1/cameras", json=_body(**missing), headers=headers(Role.ADMIN))
    assert r.status_code == 422
    problems = [d["msg"] for d in r.json()["detail"]]
    assert any(named in p and "gate-1" in p for p in problems), problems
    assert SECRET not in r.text
    with api_sessions() as s:
        assert s.get(CameraRow, "gate-1") is None


def test_duplicate_update_and_unknown(
    client: TestClient, headers: Headers, api_sessions: sessionmaker[Session]
) -> None:
    admin = headers(Role.ADMIN)
    assert client.post("/api/v1/cameras", json=_body(), headers=admin).status_code == 201
    assert client.post("/api/v1/cameras", json=_body(), headers=admin).status_code == 409
    update = _body(zone="centre")
    del update["id"]
    r = client.put("/api/v1/cameras/gate-1", json=update, headers=admin)
    assert r.status_code == 200 and r.json()["zone"] == "centre"
    [entry] = audit_rows(api_sessions, "camera.update")
    assert '"zone":"centre"' in entry.details
    assert client.put("/api/v1/cameras/nope", json=update, headers=admin).status_code == 404
    refused = client.put(
        "/api/v1/cameras/gate-1", json={**update, "legal_basis": " "}, headers=admin
    )
    assert refused.status_code == 422
    assert client.get("/api/v1/cameras/nope", headers=admin).status_code == 404
    unknown = client.post("/api/v1/cameras", json=_body(colour="red"), headers=admin)
    assert unknown.status_code == 422


def test_only_admins_register(client: TestClient, headers: Headers) -> None:
    for role in (Role.OPERATOR, Role.INVESTIGATOR, Role.AUDITOR):
        r = client.post("/api/v1/cameras", json=_body(), headers=headers(role))
        assert r.status_code == 403


def test_list_filters_and_pages(client: TestClient, headers: Headers) -> None:
    admin = headers(Role.ADMIN)
    for i, (zone, purposes) in enumerate(
        [("north", ["plate"]), ("north", ["face"]), ("south", ["face", "plate"])]
    ):
        body = _body(f"c{i}", zone=zone, purposes=purposes)
        assert client.post("/api/v1/cameras", json=body, headers=admin).status_code == 201
    page = client.get("/api/v1/cameras", params={"limit": 2}, headers=admin).json()
    assert [c["id"] for c in page["items"]] == ["c0", "c1"]
    assert (page["total"], page["offset"], page["limit"]) == (3, 0, 2)
    page2 = client.get("/api/v1/cameras", params={"offset": 2}, headers=admin).json()
    assert [c["id"] for c in page2["items"]] == ["c2"]
    north = client.get("/api/v1/cameras", params={"zone": "north"}, headers=admin).json()
    assert [c["id"] for c in north["items"]] == ["c0", "c1"]
    face = client.get("/api/v1/cameras", params={"purpose": "face"}, headers=admin).json()
    assert [c["id"] for c in face["items"]] == ["c1", "c2"]
    bad = client.get("/api/v1/cameras", params={"limit": 0}, headers=admin)
    assert bad.status_code == 422


def test_live_snapshot_is_served_and_audited(
    api_app: FastAPI,
    client: TestClient,
    headers: Headers,
    seeded: dict[str, int],
    api_sessions: sessionmaker[Session],
) -> None:
    op = headers(Role.OPERATOR)
    assert client.get("/api/v1/cameras/cam-1/snapshot.jpg", headers=op).status_code == 404
    jpeg = b"\xff\xd8\xff\xe0fake-jpeg"
    asked: list[str] = []

    def provider(camera_id: str) -> bytes | None:
        asked.append(camera_id)
        return jpeg if camera_id in ("cam-1", "ghost") else None

    api_app.state.snapshots = provider
    r = client.get("/api/v1/cameras/cam-1/snapshot.jpg", headers=op)
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/jpeg"
    assert r.headers["cache-control"] == "no-store"
    assert r.content == jpeg
    [view] = audit_rows(api_sessions, "camera.live_view")
    assert (view.target, view.role) == ("camera:cam-1", "operator")
    assert client.get("/api/v1/cameras/cam-2/snapshot.jpg", headers=op).status_code == 404
    assert client.get("/api/v1/cameras/ghost/snapshot.jpg", headers=op).status_code == 404
    assert len(audit_rows(api_sessions, "camera.live_view")) == 1  # only what was shown
    investigator = headers(Role.INVESTIGATOR)
    r = client.get("/api/v1/cameras/cam-1/snapshot.jpg", headers=investigator)
    assert r.status_code == 403
    assert asked == ["cam-1", "cam-2", "ghost"]


def test_camera_health(
    api_app: FastAPI, client: TestClient, headers: Headers, seeded: dict[str, int]
) -> None:
    api_app.state.health = lambda: {
        "cam-1": {
            "source": {
                "state": "backoff",
                "input_fps": 0.0,
                "analysed_fps": 0.0,
                "reconnects": 3,
                "frames_dropped": 7,
                "last_error": f"rtsp://viewer:{SECRET}@10.0.0.9/cam-1: connection refused",
            },
            "worker": {"lag_s": 1.5},
            "pending_results": 2,
        }
    }
    auditor = headers(Role.AUDITOR)
    r = client.get("/api/v1/cameras/cam-1/health", headers=auditor)
    assert r.status_code == 200
    body = r.json()
    assert (body["state"], body["reconnects"], body["frames_dropped"]) == ("backoff", 3, 7)
    assert (body["lag_s"], body["pending_results"]) == (1.5, 2)
    assert "connection refused" in body["last_error"]
    assert SECRET not in r.text and "viewer" not in r.text
    unknown = client.get("/api/v1/cameras/cam-2/health", headers=auditor).json()
    assert unknown["state"] == "unknown"
    assert client.get("/api/v1/cameras/cam-9/health", headers=auditor).status_code == 404


def test_validation_errors_do_not_echo_the_stream_url(client: TestClient, headers: Headers) -> None:
    admin = headers(Role.ADMIN)
    no_id = _body()
    del no_id["id"]
    for body in (no_id, _body(zone=5), _body(colour="red"), _body(purposes=["faces"])):
        r = client.post("/api/v1/cameras", json=body, headers=admin)
        assert r.status_code == 422
        assert SECRET not in r.text and "viewer" not in r.text, r.text
    update = _body(approved_on="yesterday")
    del update["id"]
    r = client.put("/api/v1/cameras/gate-1", json=update, headers=admin)
    assert r.status_code in (404, 422) and SECRET not in r.text
