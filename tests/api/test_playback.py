"""Issue 17: playback and export of a camera's recording over the API, for a case: the
timeline (ranges, segments, alerts), a segment with range requests, the signed export; the
investigator's only, each audited with the range and the case reference."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from citywatch.audit.evidence_export import verify_export
from citywatch.audit.keys import HmacKey
from citywatch.services.recordings import Segment
from tests.api.routes_support import Headers, audit_rows, headers
from tests.services.helpers import add_camera
from tests.services.recorded_segments import record, segment_bytes
from tests.services.test_playback_export import add_alert

__all__ = ["headers"]

T0 = dt.datetime(2026, 11, 30, 14, 0, tzinfo=dt.UTC)
KEY = HmacKey(b"k" * 32, "test")
RANGE = {"from": "2026-11-30T14:00:00Z", "to": "2026-11-30T14:10:00Z", "case_ref": "CASE-17"}


@pytest.fixture
def recorded(api_app: FastAPI, api_sessions: sessionmaker[Session]) -> list[Segment]:
    with api_sessions() as s:
        add_camera(s, "cam-1")
        segs = record(s, api_app.state.media, "cam-1", T0, 2)
        add_alert(s, T0 + dt.timedelta(seconds=3))
    return segs


def test_the_timeline_lists_ranges_segments_and_alerts(
    client: TestClient, headers: Headers, recorded: list[Segment], api_sessions
) -> None:
    r = client.get(
        "/api/v1/recordings/cam-1/timeline", params=RANGE, headers=headers("investigator")
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["camera_name"] == "Camera cam-1"
    assert [(x["started_at"], x["ended_at"], x["segments"]) for x in body["ranges"]] == [
        ("2026-11-30T14:00:00Z", "2026-11-30T14:00:08Z", 2)
    ]
    assert [s["id"] for s in body["segments"]] == [s.id for s in recorded]
    assert body["segments"][0]["url"] == f"/api/v1/recordings/cam-1/segments/{recorded[0].id}.mp4"
    assert len(body["alerts"]) == 1 and body["alerts"][0]["camera_id"] == "cam-1"
    entry = audit_rows(api_sessions, "recording.timeline")[-1]
    assert entry.reason == "CASE-17" and entry.target == "camera:cam-1"


def test_a_segment_streams_with_ranges_and_each_playback_is_audited_once(
    client: TestClient, headers: Headers, recorded: list[Segment], api_sessions
) -> None:
    h = headers("investigator")
    url = f"/api/v1/recordings/cam-1/segments/{recorded[0].id}.mp4"
    data = segment_bytes(4.0)
    whole = client.get(url, params={"case_ref": "CASE-17"}, headers=h)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-type"] == "video/mp4"
    part = client.get(url, params={"case_ref": "CASE-17"}, headers={**h, "Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    plays = audit_rows(api_sessions, "recording.play")
    assert len(plays) == 1 and plays[0].reason == "CASE-17"
    assert "2026-11-30T14:00:00" in str(plays[0].details)


@pytest.mark.parametrize("role", ["operator", "admin", "auditor"])
def test_other_roles_are_refused(
    client: TestClient, headers: Headers, recorded: list[Segment], role: str
) -> None:
    r = client.get("/api/v1/recordings/cam-1/timeline", params=RANGE, headers=headers(role))
    assert r.status_code == 403


def test_no_case_reference_no_playback(
    client: TestClient, headers: Headers, recorded: list[Segment]
) -> None:
    h = headers("investigator")
    params = {k: v for k, v in RANGE.items() if k != "case_ref"}
    assert (
        client.get("/api/v1/recordings/cam-1/timeline", params=params, headers=h).status_code == 422
    )
    url = f"/api/v1/recordings/cam-1/segments/{recorded[0].id}.mp4"
    assert client.get(url, params={"case_ref": " "}, headers=h).status_code == 422


def test_a_long_range_is_refused_with_its_reason(
    client: TestClient, headers: Headers, recorded: list[Segment]
) -> None:
    params = {**RANGE, "to": "2026-12-02T14:00:00Z"}
    r = client.get(
        "/api/v1/recordings/cam-1/timeline", params=params, headers=headers("investigator")
    )
    assert r.status_code == 400 and "24 hours" in r.json()["detail"]


def test_the_export_is_a_signed_zip_that_verifies(
    client: TestClient,
    headers: Headers,
    recorded: list[Segment],
    api_app: FastAPI,
    api_sessions,
    tmp_path: Path,
) -> None:
    api_app.state.export_key = KEY
    body = {
        "started_at": "2026-11-30T14:00:01Z",
        "ended_at": "2026-11-30T14:00:06Z",
        "case_ref": "CASE-17",
    }
    r = client.post("/api/v1/recordings/cam-1/export", json=body, headers=headers("investigator"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    out = tmp_path / "e.zip"
    out.write_bytes(r.content)
    check = verify_export(out, KEY)
    assert check.ok, check.problems
    assert check.manifest["case_ref"] == "CASE-17"
    assert "recording-01.mp4" in zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert audit_rows(api_sessions, "recording.export")[-1].reason == "CASE-17"
    assert not list(api_app.state.media.root.glob(".export-*"))  # the server keeps no copy


def test_no_key_no_export(client: TestClient, headers: Headers, recorded: list[Segment]) -> None:
    body = {
        "started_at": "2026-11-30T14:00:01Z",
        "ended_at": "2026-11-30T14:00:06Z",
        "case_ref": "C",
    }
    r = client.post("/api/v1/recordings/cam-1/export", json=body, headers=headers("investigator"))
    assert r.status_code == 503 and "audit key" in r.json()["detail"]


def test_the_ed25519_public_key_is_published_and_checks_an_export(
    client: TestClient,
    headers: Headers,
    recorded: list[Segment],
    api_app: FastAPI,
    tmp_path: Path,
) -> None:
    """A court fetches the key from the installation, not from the export it checks."""
    from citywatch.audit.keys import Ed25519Key
    from tests.audit.test_evidence_export import ed25519_pair

    private, public = ed25519_pair(tmp_path)
    api_app.state.export_key = private
    r = client.get("/public/evidence-key.pem")  # no sign-in
    assert r.status_code == 200 and r.headers["x-key-id"] == public.key_id
    assert b"PRIVATE" not in r.content and r.content.startswith(b"-----BEGIN PUBLIC KEY-----")
    body = {
        "started_at": "2026-11-30T14:00:01Z",
        "ended_at": "2026-11-30T14:00:06Z",
        "case_ref": "C",
    }
    export = client.post(
        "/api/v1/recordings/cam-1/export", json=body, headers=headers("investigator")
    )
    assert export.status_code == 200, export.text
    (tmp_path / "e.zip").write_bytes(export.content)
    assert verify_export(tmp_path / "e.zip", Ed25519Key(r.content, "published")).ok


def test_an_hmac_secret_is_never_published(
    client: TestClient, api_app: FastAPI, recorded: list[Segment]
) -> None:
    api_app.state.export_key = KEY
    r = client.get("/public/evidence-key.pem")
    assert r.status_code == 404 and b"k" * 32 not in r.content
    api_app.state.export_key = None
    assert client.get("/public/evidence-key.pem").status_code == 404


def test_export_folders_left_by_a_killed_server_are_swept(tmp_path: Path) -> None:
    import os

    from citywatch.api.routes.playback import sweep_stale_exports

    old, fresh = tmp_path / ".export-old", tmp_path / ".export-new"
    for folder in (old, fresh):
        folder.mkdir()
        (folder / "x.zip").write_bytes(b"footage")
    os.utime(old, (0, 0))
    (tmp_path / "recording").mkdir()
    os.utime(tmp_path / "recording", (0, 0))  # not an export folder: never touched
    assert sweep_stale_exports(tmp_path) == 1
    assert not old.exists() and fresh.is_dir() and (tmp_path / "recording").is_dir()
