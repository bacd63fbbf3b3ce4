"""A camera's two streams as the API, the console and the public register show them (issue
18): the substream's address only without credentials, the analysed stream and its size in the
health, and no stream address at all in the public register."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from citywatch.api.security import Role
from citywatch.store.models import CameraRow
from tests.api.conftest import Login
from tests.api.routes_support import SECRET, Headers, audit_rows, headers, seeded

__all__ = ["headers", "seeded"]

HTML = {"Accept": "text/html,application/xhtml+xml"}
URL = f"rtsp://camuser7:{SECRET}@10.0.0.9/main?token=abc123"
SUB_SECRET = "sub-pass-77"
DETECT_URL = f"rtsp://camuser7:{SUB_SECRET}@10.0.0.9/sub?token=def456"


def _body(**kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "gate-2",
        "name": "Gate",
        "url": URL,
        "detect_url": DETECT_URL,
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


def _no_secret(text: str) -> None:
    for secret in (SECRET, SUB_SECRET, "abc123", "def456", "camuser7"):
        assert secret not in text, secret


def test_a_two_stream_camera_shows_its_substream_without_credentials(
    client: TestClient, headers: Headers, api_sessions: sessionmaker[Session]
) -> None:
    admin = headers(Role.ADMIN)
    r = client.post("/api/v1/cameras", json=_body(), headers=admin)
    assert r.status_code == 201, r.text
    cam = r.json()
    assert "detect_url" not in cam and "url" not in cam
    assert cam["detect_url_redacted"] == "rtsp://***@10.0.0.9/sub?token=***"
    assert cam["url_redacted"] == "rtsp://***@10.0.0.9/main?token=***"
    texts = [r.text]
    for role in (Role.ADMIN, Role.OPERATOR, Role.AUDITOR):
        one = client.get("/api/v1/cameras/gate-2", headers=headers(role))
        listed = client.get("/api/v1/cameras", headers=headers(role))
        assert one.status_code == listed.status_code == 200
        assert one.json()["detect_url_redacted"] == cam["detect_url_redacted"]
        texts += [one.text, listed.text]
    [entry] = audit_rows(api_sessions, "camera.register")
    assert "10.0.0.9/sub" in entry.details
    texts.append(entry.details)
    for text in texts:
        _no_secret(text)
    # saved again without it: a one-stream camera, and the change is audited
    update = _body()
    del update["id"], update["detect_url"]
    r = client.put("/api/v1/cameras/gate-2", json=update, headers=admin)
    assert r.status_code == 200 and r.json()["detect_url_redacted"] is None
    [changed] = audit_rows(api_sessions, "camera.update")
    assert '"detect_url_redacted":null' in changed.details
    with api_sessions() as s:
        row = s.get(CameraRow, "gate-2")
        assert row is not None and row.detect_url_redacted is None


def test_an_empty_substream_is_refused_without_echoing_the_main_url(
    client: TestClient, headers: Headers
) -> None:
    for bad in ("", "   "):
        r = client.post("/api/v1/cameras", json=_body(detect_url=bad), headers=headers(Role.ADMIN))
        assert r.status_code == 422, r.text
        _no_secret(r.text)


def _two_stream_health() -> dict[str, Any]:
    return {
        "gate-2": {
            "source": {
                "state": "streaming",
                "input_fps": 25.0,
                "analysed_fps": 5.0,
                "stream": "detect_url",
                "width": 640,
                "height": 360,
                "codec": "h264",
                "decode": "software, 1 thread(s), non-reference pictures skipped",
                "main_stream": f"backoff: cannot open rtsp://camuser7:{SECRET}@10.0.0.9/main",
                "main_width": 1920,
                "main_height": 1080,
            },
            "worker": {"lag_s": 0.2},
        }
    }


def test_the_health_says_which_stream_is_analysed_and_its_size(
    api_app: FastAPI, client: TestClient, headers: Headers
) -> None:
    assert client.post("/api/v1/cameras", json=_body(), headers=headers(Role.ADMIN)).is_success
    api_app.state.health = _two_stream_health
    r = client.get("/api/v1/cameras/gate-2/health", headers=headers(Role.AUDITOR))
    assert r.status_code == 200
    body = r.json()
    got = {k: body[k] for k in ("analysed_stream", "analysed_width", "analysed_height")}
    assert got == {"analysed_stream": "detect_url", "analysed_width": 640, "analysed_height": 360}
    assert (body["analysed_codec"], body["main_width"], body["main_height"]) == ("h264", 1920, 1080)
    assert body["decode"].startswith("software, 1 thread(s)")
    assert body["main_stream"].startswith("backoff: cannot open rtsp://")
    _no_secret(r.text)
    # a record of a one-stream camera, or from before the stream opened
    api_app.state.health = lambda: {"gate-2": {"source": {"state": "connecting", "width": -1}}}
    empty = client.get("/api/v1/cameras/gate-2/health", headers=headers(Role.AUDITOR)).json()
    assert (empty["analysed_stream"], empty["analysed_width"], empty["main_stream"]) == (
        "",
        None,
        "",
    )


def test_the_console_shows_the_streams_without_credentials(
    api_app: FastAPI,
    client: TestClient,
    headers: Headers,
    login: Callable[[TestClient, Role], Login],
) -> None:
    assert client.post("/api/v1/cameras", json=_body(), headers=headers(Role.ADMIN)).is_success
    api_app.state.health = _two_stream_health
    login(client, Role.ADMIN)
    lists = client.get("/lists", headers=HTML)
    assert lists.status_code == 200
    assert "analysed: rtsp://***@10.0.0.9/sub?token=***" in lists.text
    assert 'id="cam-detect-url"' in lists.text and 'type="password"' in lists.text
    health = client.get("/console/health.json")
    assert health.status_code == 200
    stream = health.json()["cameras"]["gate-2"]["stream"]
    assert stream.startswith("detect_url 640x360 h264; main url 1920x1080 backoff: cannot open")
    for text in (lists.text, health.text):
        _no_secret(text)


def test_the_public_register_publishes_no_stream_address(
    client: TestClient, headers: Headers
) -> None:
    assert client.post("/api/v1/cameras", json=_body(), headers=headers(Role.ADMIN)).is_success
    anon = TestClient(client.app)
    for path in ("/public/register", "/public/register.geojson", "/public/register.csv", "/public"):
        r = anon.get(path)
        assert r.status_code == 200, path
        assert "gate-2" in r.text, path  # the camera is published ...
        for address in ("rtsp", "10.0.0.9", "sub?token", "main?token", "***"):
            assert address not in r.text, (path, address)  # ... its streams are not
        _no_secret(r.text)
