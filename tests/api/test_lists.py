from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from citywatch.api.security import Role
from tests.api.routes_support import Headers, audit_rows, headers
from tests.services.helpers import add_camera, fake_embed_faces, photo

__all__ = ["headers"]


def _png(faces: int = 1, seed: int = 3) -> bytes:
    ok, buf = cv2.imencode(".png", photo(faces, seed))
    assert ok
    return buf.tobytes()


@pytest.fixture
def watchlist(
    api_app: FastAPI, client: TestClient, headers: Headers, api_sessions: sessionmaker[Session]
) -> str:
    with api_sessions() as s:
        add_camera(s, "cam-1")
    r = client.post(
        "/api/v1/authorisations",
        json={
            "reference": "W-7",
            "authority": "District Court",
            "purpose": "missing person",
            "starts_at": "2025-01-01T00:00:00Z",
            "ends_at": "2099-01-01T00:00:00Z",
            "scope_cameras": ["cam-1"],
        },
        headers=headers(Role.ADMIN),
    )
    assert r.status_code == 201, r.text
    r = client.post(
        "/api/v1/watchlists",
        json={"name": "missing", "authorisation_reference": "W-7", "max_subjects": 5},
        headers=headers(Role.ADMIN),
    )
    assert r.status_code == 201, r.text
    api_app.state.embed_faces = fake_embed_faces
    return "missing"


def _enrol(
    client: TestClient, headers: Headers, files: list[tuple[str, bytes, str]], **form: str
) -> Any:
    data = {"subject_name": "Jane Roe", "reason": "court order", "image_source": "family"}
    data.update(form)
    return client.post(
        "/api/v1/watchlists/missing/subjects",
        data=data,
        files=[("photos", f) for f in files],
        headers=headers(Role.ADMIN),
    )


def test_authorisations(client: TestClient, headers: Headers) -> None:
    body = {
        "reference": "W-1",
        "authority": "Court",
        "purpose": "search",
        "starts_at": "2025-01-01T00:00:00Z",
        "ends_at": "2025-02-01T00:00:00Z",
        "scope_zones": ["north"],
    }
    assert (
        client.post("/api/v1/authorisations", json=body, headers=headers(Role.AUDITOR)).status_code
        == 403
    )
    r = client.post("/api/v1/authorisations", json=body, headers=headers(Role.ADMIN))
    assert r.status_code == 201 and r.json()["scope_zones"] == ["north"]
    again = client.post("/api/v1/authorisations", json=body, headers=headers(Role.ADMIN))
    assert again.status_code == 400 and "already exists" in again.text
    naive = {**body, "reference": "W-2", "starts_at": "2025-01-01T00:00:00"}
    assert (
        client.post("/api/v1/authorisations", json=naive, headers=headers(Role.ADMIN)).status_code
        == 422
    )
    listed = client.get("/api/v1/authorisations", headers=headers(Role.AUDITOR)).json()
    assert [a["reference"] for a in listed["items"]] == ["W-1"] and listed["total"] == 1
    revoked = client.get(
        "/api/v1/authorisations", params={"status": "revoked"}, headers=headers(Role.AUDITOR)
    ).json()
    assert revoked["items"] == []


def test_watchlists_and_enrolment(
    client: TestClient,
    headers: Headers,
    watchlist: str,
    api_sessions: sessionmaker[Session],
    api_app: FastAPI,
) -> None:
    r = _enrol(
        client, headers, [("a.png", _png(), "image/png"), ("b.png", _png(seed=4), "image/png")]
    )
    assert r.status_code == 201, r.text
    assert r.json() == {
        "subject_id": r.json()["subject_id"],
        "subject_name": "Jane Roe",
        "watchlist": "missing",
        "created": True,
        "photos_added": 2,
    }
    listed = client.get("/api/v1/watchlists", headers=headers(Role.ADMIN)).json()
    assert [(w["name"], w["subjects"], w["authorisation_reference"]) for w in listed["items"]] == [
        ("missing", 1, "W-7")
    ]
    subjects = client.get("/api/v1/watchlists/missing/subjects", headers=headers(Role.ADMIN))
    assert subjects.status_code == 200
    [subject] = subjects.json()["items"]
    assert (subject["name"], subject["photos"]) == ("Jane Roe", 2)
    assert "embedding" not in subjects.text
    assert [e.action for e in audit_rows(api_sessions, "subject.list")] == ["subject.list"]
    [enrol] = audit_rows(api_sessions, "subject.enrol")
    assert "photo 1 (a.png)" in enrol.details
    stored = sorted(p.name for p in api_app.state.media.root.rglob("*.jpg"))
    assert len(stored) == 2 and all(n.startswith("s") for n in stored)
    for role in (Role.OPERATOR, Role.INVESTIGATOR, Role.AUDITOR):
        assert client.get("/api/v1/watchlists", headers=headers(role)).status_code == 403
    gone = client.delete(
        "/api/v1/watchlists/missing/subjects/Jane Roe",
        params={"reason": "found"},
        headers=headers(Role.ADMIN),
    )
    assert gone.status_code == 200 and gone.json() == {"removed": 2}
    assert list(api_app.state.media.root.rglob("*.jpg")) == []
    no_reason = client.delete(
        "/api/v1/watchlists/missing/subjects/Jane Roe", headers=headers(Role.ADMIN)
    )
    assert no_reason.status_code == 422


def test_enrolment_refuses_bad_photos(
    client: TestClient, headers: Headers, watchlist: str, api_app: FastAPI
) -> None:
    two = _enrol(client, headers, [("group.png", _png(faces=2), "image/png")])
    assert two.status_code == 400 and "2 faces" in two.json()["detail"]
    pdf = b"%PDF-1.7\n" + b"0" * 2000
    renamed = _enrol(client, headers, [("photo.jpg", pdf, "image/jpeg")])
    assert renamed.status_code == 415 and "not a JPEG or PNG" in renamed.text
    traversal = _enrol(client, headers, [("../../../etc/passwd.png", pdf, "image/png")])
    assert traversal.status_code == 415
    assert "../" not in traversal.text and "passwd.png" in traversal.text
    # A PNG whose header claims 100000 x 100000 pixels is refused before decoding.
    bomb = _png()[:16] + (100_000).to_bytes(4, "big") * 2 + _png()[24:]
    assert _enrol(client, headers, [("bomb.png", bomb, "image/png")]).status_code == 422
    corrupt = _png()[:60]
    assert _enrol(client, headers, [("cut.png", corrupt, "image/png")]).status_code == 422
    assert _enrol(client, headers, [("empty.png", b"", "image/png")]).status_code == 422
    assert list(api_app.state.media.root.rglob("*.jpg")) == []


def test_enrolment_bounds(
    client: TestClient, headers: Headers, watchlist: str, api_app: FastAPI
) -> None:
    from citywatch.api.routes.uploads import UploadLimits

    api_app.state.upload_limits = UploadLimits(photo_bytes=1000, photos_per_request=2)
    big = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    _ok, buf = cv2.imencode(".png", big)
    too_big = _enrol(client, headers, [("big.png", buf.tobytes(), "image/png")])
    assert too_big.status_code == 413 and "1000 bytes" in too_big.text
    three = [(f"{i}.png", _png(), "image/png") for i in range(3)]
    assert _enrol(client, headers, three).status_code == 413
    api_app.state.embed_faces = None
    del api_app.state.upload_limits
    missing = _enrol(client, headers, [("a.png", _png(), "image/png")])
    assert missing.status_code == 503


def test_hotlists(
    client: TestClient, headers: Headers, api_sessions: sessionmaker[Session]
) -> None:
    admin = headers(Role.ADMIN)
    r = client.post(
        "/api/v1/hotlists", json={"name": "stolen", "reason": "police list"}, headers=admin
    )
    assert r.status_code == 201 and r.json()["entries"] == 0
    added = client.post(
        "/api/v1/hotlists/stolen/plates",
        json={"plate": "ab-12 cd", "reason": "report 7"},
        headers=admin,
    )
    assert added.status_code == 201 and added.json()["plate"] == "AB12CD"
    csv = b"plate,reason\nZG-123-XY,report 8\n# comment\n\nKA 9999 BB\n"
    imported = client.post(
        "/api/v1/hotlists/stolen/import",
        files={"file": ("list.csv", csv, "text/csv")},
        data={"reason": "weekly import"},
        headers=admin,
    )
    assert imported.status_code == 200, imported.text
    assert imported.json() == {"hotlist": "stolen", "added": 2}
    plates = client.get("/api/v1/hotlists/stolen/plates", headers=admin).json()
    assert [p["plate"] for p in plates["items"]] == ["AB12CD", "KA9999BB", "ZG123XY"]
    assert audit_rows(api_sessions, "hotlist.view")
    listed = client.get("/api/v1/hotlists", headers=admin).json()
    assert [(h["name"], h["entries"]) for h in listed["items"]] == [("stolen", 3)]
    removed = client.delete(
        "/api/v1/hotlists/stolen/plates/AB12CD", params={"reason": "recovered"}, headers=admin
    )
    assert removed.status_code == 200
    again = client.delete(
        "/api/v1/hotlists/stolen/plates/AB12CD", params={"reason": "recovered"}, headers=admin
    )
    assert again.status_code == 404
    assert client.get("/api/v1/hotlists", headers=headers(Role.OPERATOR)).status_code == 403


def test_hotlist_import_refuses_bad_files(
    api_app: FastAPI, client: TestClient, headers: Headers
) -> None:
    from citywatch.api.routes.uploads import UploadLimits

    admin = headers(Role.ADMIN)

    def send(data: bytes) -> Any:
        return client.post(
            "/api/v1/hotlists/stolen/import",
            files={"file": ("../x.csv", data, "text/csv")},
            data={"reason": "import"},
            headers=admin,
        )

    bad = send(b"AB12CD\nnot a plate at all!!\nX\n")
    assert bad.status_code == 400
    assert "line 2" in bad.json()["detail"] and "line 3" in bad.json()["detail"]
    assert send(b"\xff\xfe\x00A").status_code == 422
    assert send(b"AB12CD\x00\n").status_code == 422
    api_app.state.upload_limits = UploadLimits(csv_bytes=100, csv_lines=3)
    assert send(b"AB12CD\n" * 20).status_code == 413
    assert send(b"AB1\nAB2\nAB3\nAB4\n").status_code == 413
    listed = client.get("/api/v1/hotlists", headers=admin).json()
    assert listed["items"] == []  # nothing half-imported


def test_enrolment_into_a_media_folder_that_cannot_take_files_is_507_and_stores_nothing(
    client: TestClient,
    headers: Headers,
    watchlist: str,
    api_app: FastAPI,
    tmp_path,
) -> None:
    from citywatch.store.media import MediaStore

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the media folder's parent should be")
    api_app.state.media = MediaStore(blocker / "media")
    r = _enrol(client, headers, [("a.png", _png(), "image/png")])
    assert r.status_code == 507, r.text
    detail = r.json()["detail"]
    assert "Not a directory (ENOTDIR)" in detail and "nothing was stored" in detail
    assert str(tmp_path) not in detail  # the server's paths stay in its log
    subjects = client.get("/api/v1/watchlists/missing/subjects", headers=headers(Role.ADMIN))
    assert subjects.status_code == 200 and subjects.json()["items"] == []
