"""Control 10: privacy masks are never analysed or stored.

The pixels under a camera's masks are blacked out before the motion gate and the detectors see
the frame: no detection, match or count can come from there, and neither evidence snapshots
nor the live view show them.  Evidence snapshots blur every face but the matched one.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from citywatch.audit.chain import Actor
from citywatch.config.camera import CameraConfig
from citywatch.config.root import parse_config
from citywatch.decisions.types import FaceMatch, FaceTrackCount
from citywatch.engine.assemble import Models, Permissions, build_pipeline, privacy_masker
from citywatch.engine.local import CameraRun, LocalEngine
from citywatch.engine.platform import Platform, make_embed_faces
from citywatch.engine.worker import CameraWorker
from citywatch.services.authorisations import create_authorisation
from citywatch.services.enrolment import enrol_subject
from citywatch.services.watchlists import create_watchlist
from citywatch.store.db import make_engine, make_session_factory, upgrade_database
from citywatch.store.models import AlertRow
from citywatch.vision.images import load_image
from citywatch.vision.masks import PrivacyMasker
from citywatch.vision.motion import MotionGate
from citywatch.vision.record import Frame, FrameRecord
from citywatch.vision.redact import blur_faces
from tests.accountability.fakes import (
    BLUE,
    GREEN,
    RED,
    SIDE,
    ListSource,
    fake_pipeline,
    frames,
    scene,
)
from tests.conftest import embedded_config

ADMIN = Actor("test-admin", "admin")
REPO = Path(__file__).resolve().parents[2]
#: The left 30 % of the picture: "the windows of the homes across the street".
LEFT = [(0.0, 0.0), (0.3, 0.0), (0.3, 1.0), (0.0, 1.0)]
LEFT_PX = int(0.3 * 640) + 2  # the mask's right edge in pixels, with the privacy margin


def _faces_boxes(records: list[FrameRecord]) -> np.ndarray:
    return np.concatenate([r.faces.xyxy for r in records]).reshape(-1, 4)


def _run(pipeline, items: list[Frame]) -> tuple[list[FrameRecord], list]:
    records, out = [], []
    for f in items:
        record, sightings = pipeline.process(f)
        records.append(record)
        out.extend(sightings)
    out.extend(pipeline.flush())
    return records, out


def test_nothing_under_a_mask_is_detected_matched_counted_or_stored():
    # ann (red, on the watchlist) stands behind the mask; bob (green, also watched) does not.
    people = [(RED, 40, 100), (GREEN, 400, 100)]
    bare, _, _ = fake_pipeline()
    _, control = _run(bare, list(frames(people)))
    assert {m.subject_name for m in control if isinstance(m, FaceMatch)} == {"ann", "bob"}

    pipeline, detector, _ = fake_pipeline(masker=PrivacyMasker([LEFT]))
    items = list(frames(people))
    originals = [f.image.copy() for f in items]
    records, out = _run(pipeline, items)
    matches = [m for m in out if isinstance(m, FaceMatch)]
    assert [m.subject_name for m in matches] == ["bob"]
    assert detector.calls == len(items)
    boxes = _faces_boxes(records)
    assert len(boxes) and (boxes[:, 0] >= LEFT_PX).all()  # no face found under the mask
    # nobody under the mask was even counted: bob's track matched, nothing else was seen
    assert sum(c.tracks for c in out if isinstance(c, FaceTrackCount)) == 0
    for record in records:
        assert not record.frame.image[:, :LEFT_PX].any()
        assert "mask" in record.timings_ms
    evidence = matches[0].evidence
    assert evidence is not None and not evidence[:, :LEFT_PX].any()
    # the decoded frames themselves are untouched (a masked copy is analysed)
    assert all(np.array_equal(f.image, o) for f, o in zip(items, originals, strict=True))


def test_movement_under_a_mask_does_not_wake_the_motion_gate():
    def moving(i: int) -> np.ndarray:
        return scene([(BLUE, 20 + 6 * i, 60 + 3 * i)], grey=100)

    warmup = 3  # the gate calls everything moving until it has a background
    plain, masked = MotionGate(warmup_frames=warmup), MotionGate(warmup_frames=warmup)
    masker = PrivacyMasker([LEFT])
    seen_plain, seen_masked = [], []
    for i in range(12):
        img = moving(i)
        seen_plain.append(plain.update(img).moving)
        seen_masked.append(masked.update(masker.apply(img)).moving)
    assert all(seen_plain[warmup:])  # the control: the gate does see this movement ...
    assert not any(seen_masked[warmup:])  # ... unless it happens under a mask


def test_the_live_view_and_frame_callbacks_get_the_masked_picture():
    pipeline, _, _ = fake_pipeline(masker=PrivacyMasker([LEFT]))
    items = list(frames([(RED, 40, 100), (BLUE, 400, 100)], n=6))
    called: list[Frame] = []

    class Sink:
        def handle(self, camera_id: str, sightings: list) -> None:
            pass

    worker = CameraWorker(
        "cam-1", ListSource(items), pipeline, Sink(), live=False, on_frame=called.append
    )
    engine = LocalEngine([CameraRun(worker=worker, health=lambda: None)])
    engine.start()
    assert engine.wait(timeout=30)
    assert worker.last_frame is not None and not worker.last_frame.image[:, :LEFT_PX].any()
    assert called and all(not f.image[:, :LEFT_PX].any() for f in called)
    jpeg = engine.latest_jpeg("cam-1")
    assert jpeg is not None
    picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert picture[:, : LEFT_PX - 8].max() < 16  # black, give or take JPEG ringing
    assert picture[:, 400:480].max() > 100  # the unmasked part is still there


def test_plate_stage_and_plate_evidence_see_the_masked_picture():
    seen: list[np.ndarray] = []

    class PlateStageSpy:
        def process(self, record: FrameRecord) -> FrameRecord:
            seen.append(record.frame.image)
            return record

    class VoterSpy:
        def update(self, record: FrameRecord) -> list:
            seen.append(record.frame.image)
            return []

        def flush(self) -> list:
            return []

    pipeline, _, _ = fake_pipeline(masker=PrivacyMasker([LEFT]))
    pipeline.faces = pipeline.face_decider = None
    pipeline.plates, pipeline.plate_voter = PlateStageSpy(), VoterSpy()  # type: ignore[assignment]
    _run(pipeline, list(frames([(RED, 40, 100)], n=3)))
    assert len(seen) == 6 and all(not img[:, :LEFT_PX].any() for img in seen)


def test_build_pipeline_takes_the_masks_from_the_camera_config():
    cfg = parse_config({"alerts": {"console": False}})
    cam = CameraConfig(
        id="cam-1",
        url="x.mp4",  # type: ignore[arg-type]
        privacy_masks=[{"reason": "homes", "points": LEFT}],  # type: ignore[list-item]
    )
    pipeline = build_pipeline(cam, cfg, Models(cfg), Permissions(False, False), None)
    assert pipeline.masker is not None and len(pipeline.masker) == 1
    assert privacy_masker(cam.model_copy(update={"privacy_masks": []})) is None


def _detail(img: np.ndarray, x: int, y: int) -> float:
    """Laplacian variance of the face-sized square at (x, y): the checker's fine detail."""
    return float(cv2.Laplacian(img[y : y + SIDE, x : x + SIDE], cv2.CV_64F).var())


def test_evidence_blurs_every_face_but_the_matched_one():
    # ann (red) is on the watchlist; two passers-by (blue) stand beside her.
    pipeline, _, _ = fake_pipeline()
    people = [(BLUE, 40, 100), (RED, 250, 100), (BLUE, 460, 100)]
    _, out = _run(pipeline, list(frames(people)))
    [match] = [m for m in out if isinstance(m, FaceMatch)]
    assert match.subject_name == "ann" and match.evidence is not None
    ev, sharp = match.evidence, scene(people)
    x1, y1 = round(match.box[0]), round(match.box[1])
    shift = x1 - 250  # the evidence frame is a later one: everybody drifted right
    # the matched face keeps its detail (the checker), the passers-by lose theirs
    assert _detail(ev, x1, y1) > 0.5 * _detail(sharp, 250, 100)
    for colour, x, y in people:
        if colour == BLUE:
            assert _detail(ev, x + shift, y) < 0.05 * _detail(sharp, x, y)
    # and the helper it relies on never touches the kept face
    boxes = np.array([[x, y, x + SIDE, y + SIDE] for _, x, y in people], np.float32)
    kept = blur_faces(sharp, boxes, keep=1)
    assert np.array_equal(kept[100:180, 250:330], sharp[100:180, 250:330])


# ----------------------------------------------------------------- real models and footage

#: Where Alex Lacamoire stands in the Hamilton clip (both shots), and only he.
ALEX_AREA = [(0.44, 0.35), (0.78, 0.35), (0.78, 1.0), (0.44, 1.0)]


def _hamilton_platform(tmp_path: Path, shared_data: Path, masks: list[dict]) -> Platform:
    ex = shared_data / "faces/watchlist_video/examples"
    camera = {
        "id": "stage-1",
        "url": str(ex / "short_hamilton_clip.mp4"),
        "purposes": ["face"],
        "legal_basis": "Test Act s.1",
        "impact_assessment": "DPIA-T-1",
        "approved_on": "2026-01-01",
        "privacy_masks": masks,
    }
    cfg = parse_config(embedded_config(tmp_path, [camera]))
    upgrade_database(cfg.store.database_url)
    sessions = make_session_factory(make_engine(cfg.store.database_url))
    platform = Platform.create(cfg, sessions, ADMIN)
    platform.register_cameras()
    now = dt.datetime.now(dt.UTC)
    embed = make_embed_faces(platform.models, cfg)
    with sessions() as s:
        create_authorisation(
            s,
            ADMIN,
            "A-1",
            "Court",
            "test",
            now - dt.timedelta(hours=1),
            now + dt.timedelta(days=1),
            ["stage-1"],
            [],
        )
        create_watchlist(s, ADMIN, "wl", "A-1")
        for person in ("lin-manuel-miranda", "alex-lacamoire"):
            photo = load_image(ex / f"{person}.png")
            enrol_subject(
                s, platform.media, ADMIN, "wl", person, [("p", photo)], embed, "t", "test"
            )
    return platform


@pytest.mark.integration
def test_a_person_behind_a_mask_on_real_footage_is_never_matched(shared_data, tmp_path):
    # Without the mask both people are found on this clip (tests/cli/test_scan.py).
    masks = [{"reason": "test: where one person stands", "points": ALEX_AREA}]
    platform = _hamilton_platform(tmp_path, shared_data, masks)
    engine = platform.build_engine(live=False, pace=False)
    engine.start()
    assert engine.wait(timeout=300)
    platform.dispatcher.close()
    with platform.sessions() as s:
        alerts = s.scalars(select(AlertRow)).all()
    assert {a.subject_name for a in alerts} == {"lin-manuel-miranda"}
    picture = cv2.imdecode(np.frombuffer(engine.latest_jpeg("stage-1") or b"", np.uint8), 1)
    x1, x2, y1 = int(0.44 * 640) + 4, int(0.78 * 640) - 4, int(0.35 * 360) + 4
    for a in alerts:
        assert a.snapshot_path
        snap = cv2.imread(str(platform.media.path(a.snapshot_path)))
        assert snap[y1:, x1:x2].max() < 24, "the evidence shows what the mask hides"
    assert picture[y1:, x1:x2].max() < 24, "the live view shows what the mask hides"
