"""The review page compares the face (or plate) itself, not a whole frame with a tiny face in it
(issue 16 item 8): the crop is cut from the stored snapshot at the alert's box when it is
viewed, served to the roles that may see the alert, audited like the snapshot; the page draws
the box on the frame and counts the sightings grouped on the alert."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from citywatch.api.security import Role
from citywatch.decisions.types import HotlistHit, PlateRead
from citywatch.services.crops import crop_around
from citywatch.services.enrolment import enrol_subject
from citywatch.services.events import EventRecorder
from citywatch.services.hotlists import add_plate
from citywatch.services.watchlists import create_watchlist
from citywatch.store.models import AlertRow
from tests.api.conftest import Login
from tests.api.routes_support import Headers, audit_rows, headers
from tests.services.helpers import (
    ADMIN,
    NOW,
    add_authorisation,
    add_camera,
    face_match,
    fake_embed_faces,
    photo,
    plate_read,
)

__all__ = ["headers"]

HTML = {"Accept": "text/html,application/xhtml+xml"}
RED = (0, 0, 255)  # BGR
FACE_BOX = (200.0, 120.0, 240.0, 170.0)  # a 40x50 face in a 640x360 frame
PLATE_BOX = (300.0, 250.0, 420.0, 280.0)


def frame_with(box: tuple[float, ...]) -> np.ndarray:
    """A grey frame with the box painted red: the crop must be the red part."""
    image = np.full((360, 640, 3), 90, np.uint8)
    x0, y0, x1, y1 = (int(v) for v in box)
    image[y0:y1, x0:x1] = RED
    return image


@pytest.fixture
def alerts(api_app: FastAPI, api_sessions: sessionmaker[Session]) -> dict[str, int]:
    media = api_app.state.media
    with api_sessions() as s:
        add_camera(s, "cam-1")
        add_authorisation(s, "W-1", cameras=("cam-1",))
        wl = create_watchlist(s, ADMIN, "missing", "W-1", now=NOW)
        subject = enrol_subject(
            s, media, ADMIN, "missing", "Jane Roe", [("a", photo(1, 1))], fake_embed_faces,
            "reason", "source", now=NOW,
        )  # fmt: skip
        entry = add_plate(s, ADMIN, "stolen", "AB123CD", "reported stolen")

    def match(read: PlateRead) -> HotlistHit | None:
        hit = read.text == "AB123CD"
        return HotlistHit(read, entry.hotlist_id, "AB123CD", 0) if hit else None

    rec = EventRecorder(api_sessions, media, match, lambda _e: None, clock=lambda: NOW)
    face = rec.record_face_match(
        face_match(
            subject_id=subject.subject_id,
            watchlist_id=wl.id,
            box=FACE_BOX,
            evidence=frame_with(FACE_BOX),
        )
    )
    again = rec.record_face_match(  # the loop came round: counted on the pending alert
        face_match(
            subject_id=subject.subject_id,
            watchlist_id=wl.id,
            track_id=8,
            frame_wall_time=NOW.timestamp() + 130,
            box=FACE_BOX,
            evidence=frame_with(FACE_BOX),
        )
    )
    _, plate = rec.record_plate_read(plate_read(box=PLATE_BOX, evidence=frame_with(PLATE_BOX)))
    old = rec.record_face_match(  # an alert from before boxes were kept
        face_match(
            subject_id=subject.subject_id,
            watchlist_id=wl.id,
            camera_id="cam-1",
            track_id=9,
            frame_wall_time=NOW.timestamp() + 5000,
            evidence=frame_with(FACE_BOX),
        )
    )
    assert face is not None and again == face and plate is not None and old not in (None, face)
    with api_sessions() as s:
        s.execute(update(AlertRow).where(AlertRow.id == old).values(box_x0=None))
        s.commit()
    return {"face": face, "plate": plate, "old": old}


def decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def red_share(image: np.ndarray) -> float:
    b, g, r = (image[..., i].astype(int) for i in range(3))
    return float(((r > 180) & (g < 80) & (b < 80)).mean())


def test_the_face_crop_is_cut_at_its_box_enlarged_and_audited(
    client: TestClient,
    headers: Headers,
    alerts: dict[str, int],
    api_sessions: sessionmaker[Session],
) -> None:
    face = alerts["face"]
    op = headers(Role.OPERATOR)
    body = client.get(f"/api/v1/alerts/{face}", headers=op).json()
    assert body["box"] == list(FACE_BOX)
    assert body["crop_url"] == f"/api/v1/alerts/{face}/crop.jpg"
    assert body["sightings"] == 2 and body["last_sighting_at"] == "2025-06-01T12:02:10Z"
    r = client.get(body["crop_url"], headers=op)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.headers["cache-control"] == "no-store"
    crop = decode(r.content)
    # 40x50 face + 35 % each side = 68x86 px, enlarged to a 224 px long side
    assert crop.shape[0] == 224 and 175 <= crop.shape[1] <= 180
    assert 0.3 < red_share(crop) < 0.45  # the face fills the middle, its context around it
    h, w = crop.shape[:2]
    assert red_share(crop[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3]) > 0.95
    views = [e.target for e in audit_rows(api_sessions, "alert.view")]
    assert views == [f"alert:{face}", f"alert:{face}"]  # the alert, then its crop


def test_the_plate_crop_is_wide_and_served_to_whoever_may_see_the_alert(
    client: TestClient, headers: Headers, alerts: dict[str, int]
) -> None:
    url = f"/api/v1/alerts/{alerts['plate']}/crop.jpg"
    crop = decode(client.get(url, headers=headers(Role.INVESTIGATOR)).content)
    assert crop.shape[1] == 320 and crop.shape[1] > 2 * crop.shape[0]
    assert 0.35 < red_share(crop) < 0.45  # 120x30 plate in 149x60 (12 % and 50 % margins)
    for role in (Role.ADMIN, Role.AUDITOR):  # they see no alerts, nor their crops
        assert client.get(url, headers=headers(role)).status_code == 403
    assert client.get(url).status_code == 401


def test_an_alert_without_a_box_has_no_crop_and_says_why(
    client: TestClient, headers: Headers, alerts: dict[str, int]
) -> None:
    op = headers(Role.OPERATOR)
    old = alerts["old"]
    body = client.get(f"/api/v1/alerts/{old}", headers=op).json()
    assert body["box"] is None and body["crop_url"] is None and body["snapshot_url"]
    r = client.get(f"/api/v1/alerts/{old}/crop.jpg", headers=op)
    assert r.status_code == 404
    assert "the box of its face was not stored" in r.text


def test_a_crop_whose_snapshot_is_gone_is_a_404_naming_no_path(
    api_app: FastAPI, client: TestClient, headers: Headers, alerts: dict[str, int]
) -> None:
    media = api_app.state.media
    for p in media.root.rglob("face/**/*.jpg"):
        p.unlink()
    r = client.get(f"/api/v1/alerts/{alerts['face']}/crop.jpg", headers=headers(Role.OPERATOR))
    assert r.status_code == 404 and "snapshot is not available" in r.text
    assert str(media.root) not in r.text


def test_the_review_page_shows_the_crop_beside_the_reference_and_the_box_on_the_frame(
    client: TestClient, login: Callable[[TestClient, Role], Login], alerts: dict[str, int]
) -> None:
    login(client, Role.OPERATOR)
    face = alerts["face"]
    html = client.get(f"/alerts/{face}", headers=HTML).text
    assert f'data-box="{",".join(str(v) for v in FACE_BOX)}"' in html
    assert 'id="evidence-box"' in html
    crop = html.index(f'src="/api/v1/alerts/{face}/crop.jpg"')
    assert crop < html.index('id="reference-img"')  # the crop, then the watchlist photo
    sightings = html.split('id="sightings"')[1].split("</dd>")[0]
    assert ">2<" in sightings and "2025-06-01 12:02:10" in sightings
    plate = client.get(f"/alerts/{alerts['plate']}", headers=HTML).text
    assert f'src="/api/v1/alerts/{alerts["plate"]}/crop.jpg"' in plate
    assert "reported stolen" in plate.split('id="hotlist-entry"')[1]
    old = client.get(f"/alerts/{alerts['old']}", headers=HTML).text
    assert 'id="evidence-crop"' not in old and 'id="crop-missing"' in old
    assert "data-box" not in old


@pytest.mark.parametrize(
    ("box", "kind", "shape"),
    [
        ((0.0, 0.0, 20.0, 20.0), "face", (108, 108)),  # 27 px clipped at the corner, 4x at most
        ((600.0, 300.0, 640.0, 360.0), "face", (224, 149)),  # 54x81 clipped, to a 224 px side
        ((10.0, 10.0, 630.0, 350.0), "face", (360, 640)),  # large: not shrunk
    ],
)
def test_crop_around_clips_to_the_frame(
    box: tuple[float, float, float, float], kind: str, shape: tuple[int, int]
) -> None:
    out = crop_around(np.zeros((360, 640, 3), np.uint8), box, kind)
    assert out.shape[:2] == shape


@pytest.mark.parametrize("box", [(700.0, 10.0, 760.0, 50.0), (5.0, 5.0, 5.0, 9.0)])
def test_crop_around_refuses_a_box_that_misses_the_frame(box: Any) -> None:
    with pytest.raises(ValueError, match="box"):
        crop_around(np.zeros((360, 640, 3), np.uint8), box, "face")
