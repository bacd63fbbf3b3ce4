from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from citywatch.api.security import Role
from tests.api.routes_support import Headers, audit_rows, headers, seeded

__all__ = ["headers", "seeded"]


def test_list_filters_pages_and_audits(
    client: TestClient,
    headers: Headers,
    seeded: dict[str, int],
    api_sessions: sessionmaker[Session],
) -> None:
    op = headers(Role.OPERATOR)

    def ids(**params: Any) -> list[int]:
        r = client.get("/api/v1/alerts", params=params, headers=op)
        assert r.status_code == 200, r.text
        return [a["id"] for a in r.json()["items"]]

    face, plate = seeded["face"], seeded["plate"]
    assert ids() == [plate, face]
    assert ids(kind="face") == [face]
    assert ids(status="pending") == [plate, face]
    assert ids(status="confirmed") == []
    assert ids(camera_id="cam-2") == [plate]
    assert ids(subject="Jane Roe") == [face]
    assert ids(subject="ab-123 cd") == [plate]
    assert ids(since="2025-06-01T13:00:00Z") == []
    assert ids(until="2025-06-01T13:00:00+00:00") == [plate, face]
    first = client.get("/api/v1/alerts", params={"limit": 1}, headers=op).json()
    assert [a["id"] for a in first["items"]] == [plate]
    assert first["next_before_id"] == plate
    assert ids(before_id=first["next_before_id"], limit=1) == [face]
    last = client.get("/api/v1/alerts", params={"before_id": face}, headers=op).json()
    assert last["items"] == [] and last["next_before_id"] is None
    lists = audit_rows(api_sessions, "alert.list")
    assert len(lists) == 12
    assert all(e.role == "operator" for e in lists)
    assert '"subject":"Jane Roe"' in lists[5].details


def test_list_refuses_bad_filters(client: TestClient, headers: Headers) -> None:
    op = headers(Role.OPERATOR)
    for params in (
        {"kind": "car"},
        {"status": "maybe"},
        {"since": "2025-06-01T13:00:00"},  # naive: refused, not guessed
        {"limit": 0},
        {"limit": 100_000},
        {"before_id": 0},
    ):
        assert client.get("/api/v1/alerts", params=params, headers=op).status_code == 422


def test_alert_shape_holds_no_media_paths(
    client: TestClient, headers: Headers, seeded: dict[str, int]
) -> None:
    r = client.get(f"/api/v1/alerts/{seeded['face']}", headers=headers(Role.INVESTIGATOR))
    assert r.status_code == 200
    alert = r.json()
    assert alert["kind"] == "face" and alert["label"] == "possible match"
    assert alert["subject_name"] == "Jane Roe" and alert["watchlist"] == "missing"
    assert alert["snapshot_url"] == f"/api/v1/alerts/{seeded['face']}/snapshot.jpg"
    assert alert["photo_url"] == f"/api/v1/alerts/{seeded['face']}/photo.jpg"
    assert "snapshot_path" not in alert and "media" not in r.text
    plate = client.get(f"/api/v1/alerts/{seeded['plate']}", headers=headers(Role.OPERATOR))
    assert plate.json()["photo_url"] is None
    assert plate.json()["plate"] == "AB123CD"
    assert plate.json()["differences"] == "exact"  # read as listed
    assert alert["differences"] is None  # faces have no plate to compare


def test_get_one_is_audited_and_unknown_is_404(
    client: TestClient,
    headers: Headers,
    seeded: dict[str, int],
    api_sessions: sessionmaker[Session],
) -> None:
    op = headers(Role.OPERATOR)
    assert client.get(f"/api/v1/alerts/{seeded['plate']}", headers=op).status_code == 200
    [view] = audit_rows(api_sessions, "alert.view")
    assert view.target == f"alert:{seeded['plate']}"
    r = client.get("/api/v1/alerts/999", headers=op)
    assert r.status_code == 404 and "alert 999" in r.json()["detail"]
    assert client.get("/api/v1/alerts/0", headers=op).status_code == 422
    assert client.get(f"/api/v1/alerts/{2**70}", headers=op).status_code == 422


def test_snapshot_and_reference_photo_are_served_by_id_and_audited(
    api_app: FastAPI,
    client: TestClient,
    headers: Headers,
    seeded: dict[str, int],
    api_sessions: sessionmaker[Session],
) -> None:
    op = headers(Role.OPERATOR)
    snap = client.get(f"/api/v1/alerts/{seeded['face']}/snapshot.jpg", headers=op)
    assert snap.status_code == 200
    assert snap.headers["content-type"] == "image/jpeg"
    assert snap.content[:3] == b"\xff\xd8\xff"
    assert [e.target for e in audit_rows(api_sessions, "alert.view")] == [f"alert:{seeded['face']}"]
    photo = client.get(f"/api/v1/alerts/{seeded['face']}/photo.jpg", headers=op)
    assert photo.status_code == 200 and photo.content[:3] == b"\xff\xd8\xff"
    [seen] = audit_rows(api_sessions, "subject.photo_view")
    assert seen.target == f"alert:{seeded['face']}"
    none = client.get(f"/api/v1/alerts/{seeded['plate']}/photo.jpg", headers=op)
    assert none.status_code == 404
    # A stored file that went missing is a 404 that names no path.
    media = api_app.state.media
    for p in media.root.rglob("*.jpg"):
        p.unlink()
    gone = client.get(f"/api/v1/alerts/{seeded['face']}/snapshot.jpg", headers=op)
    assert gone.status_code == 404
    assert str(media.root) not in gone.text
    admin = client.get(f"/api/v1/alerts/{seeded['face']}/snapshot.jpg", headers=headers("admin"))
    assert admin.status_code == 403  # administrators see no alerts


class _Hub:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def publish_message(self, event: str, data: dict[str, Any]) -> None:
        self.sent.append((event, data))


def test_review_confirms_once_with_a_reason_and_is_published(
    api_app: FastAPI,
    client: TestClient,
    headers: Headers,
    seeded: dict[str, int],
    api_sessions: sessionmaker[Session],
) -> None:
    hub = _Hub()
    api_app.state.hub = hub
    op = headers(Role.OPERATOR)
    url = f"/api/v1/alerts/{seeded['face']}/review"
    assert (
        client.post(url, json={"decision": "confirm", "reason": " "}, headers=op).status_code == 422
    )
    assert (
        client.post(url, json={"decision": "maybe", "reason": "x"}, headers=op).status_code == 422
    )
    r = client.post(url, json={"decision": "confirm", "reason": "same person"}, headers=op)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "confirmed" and body["review_reason"] == "same person"
    assert body["label"] == "match confirmed by a reviewer"
    assert body["reviewed_by"].startswith("token:operator")
    again = client.post(url, json={"decision": "reject", "reason": "oops"}, headers=op)
    assert again.status_code == 400 and "already confirmed" in again.json()["detail"]
    [review] = audit_rows(api_sessions, "alert.review")
    assert review.reason == "same person"
    [(event, data)] = hub.sent
    assert event == "alert.reviewed"
    assert (data["id"], data["status"]) == (seeded["face"], "confirmed")
    investigator = headers(Role.INVESTIGATOR)
    plate_url = f"/api/v1/alerts/{seeded['plate']}/review"
    refused = client.post(
        plate_url, json={"decision": "reject", "reason": "x"}, headers=investigator
    )
    assert refused.status_code == 403
    missing = client.post(
        "/api/v1/alerts/999/review", json={"decision": "reject", "reason": "x"}, headers=op
    )
    assert missing.status_code == 404


def test_review_from_the_console_needs_csrf(
    client: TestClient, login: Any, seeded: dict[str, int]
) -> None:
    session = login(client, Role.OPERATOR)
    url = f"/api/v1/alerts/{seeded['plate']}/review"
    body = {"decision": "reject", "reason": "different car"}
    assert client.post(url, json=body).status_code == 403
    r = client.post(url, json=body, headers=session.headers)
    assert r.status_code == 200 and r.json()["status"] == "rejected"
