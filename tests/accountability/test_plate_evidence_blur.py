"""Plate evidence is stored, so the faces in it are blurred, on a plate-only camera too.

The pipeline comes from :func:`build_pipeline` (which gives it the face detector as its
redactor), its plate read goes to the :class:`EventRecorder` as a camera worker's sink would
hand it, and the snapshot the recorder stored is read back: the passer-by's face in it has lost
its detail, the rest of the picture has not.  The plate stage and voter are stand-ins that
report one read whose evidence is the analysed frame (reading text is not what is tested).
"""

from __future__ import annotations

import cv2
import numpy as np
from sqlalchemy import select

from citywatch.config.camera import CameraConfig
from citywatch.config.root import parse_config
from citywatch.decisions.types import HotlistHit, PlateRead
from citywatch.engine.assemble import Models, Permissions, build_pipeline
from citywatch.services.events import EventRecorder
from citywatch.store.models import AlertRow, AuditLogRow
from citywatch.vision.record import FrameRecord
from tests.accountability.conftest import Store
from tests.accountability.fakes import BLUE, SIDE, ColourFaceDetector, frames, scene
from tests.accountability.scenario import REGISTERED, register

FACE = (BLUE, 300, 100)  # a passer-by beside the car
PLATE_BOX = (40.0, 250.0, 200.0, 290.0)


class OneReadVoter:
    """Reports one read at the end, its evidence the last frame it saw."""

    def __init__(self) -> None:
        self.last: np.ndarray | None = None

    def update(self, record: FrameRecord) -> list[PlateRead]:
        self.last = record.frame.image
        return []

    def flush(self) -> list[PlateRead]:
        assert self.last is not None
        return [
            PlateRead(
                camera_id="cam-p", track_id=1, text="AB123CD", confidence=0.9,
                plate_format="HR", votes=3, reads=3, first_seen_s=0.0, last_seen_s=0.4,
                frame_wall_time=1_750_000_000.0, decided_wall_time=1_750_000_001.0,
                box=PLATE_BOX, evidence=self.last.copy(),
            )
        ]  # fmt: skip


class PassThrough:
    def process(self, record: FrameRecord) -> FrameRecord:
        return record


def _detail(img: np.ndarray, x: int, y: int) -> float:
    return float(cv2.Laplacian(img[y : y + SIDE, x : x + SIDE], cv2.CV_64F).var())


def test_faces_in_stored_plate_evidence_are_blurred_on_a_plate_only_camera(store: Store) -> None:
    cfg = parse_config({"alerts": {"console": False}})
    cam = CameraConfig.model_validate(
        {"id": "cam-p", "url": "p.mp4", "purposes": ["plate"], **REGISTERED}
    )
    detector = ColourFaceDetector()
    models = Models(cfg, _face_detector=detector, _plates=(object(), object()))  # type: ignore[arg-type]
    pipeline = build_pipeline(cam, cfg, models, Permissions(faces=False, plates=True), None)
    assert pipeline.faces is None and pipeline.plates is not None  # no face analysis at all
    pipeline.plates, pipeline.plate_voter = PassThrough(), OneReadVoter()  # type: ignore[assignment]

    items = list(frames([FACE], n=3, camera_id="cam-p"))
    sightings = [s for f in items for s in pipeline.process(f)[1]] + pipeline.flush()
    [read] = sightings
    assert isinstance(read, PlateRead) and read.evidence is not None
    assert detector.calls == 1  # the evidence frame only: detection for redaction

    with store.sessions() as session:
        register(session, "cam-p", "plate")

    def hit(r: PlateRead) -> HotlistHit:
        return HotlistHit(read=r, hotlist_id=1, entry=r.text, distance=0)

    recorder = EventRecorder(store.sessions, store.media, hit, lambda _e: None)
    _, alert_id = recorder.record_plate_read(read)
    with store.sessions() as session:
        alert = session.get(AlertRow, alert_id)
        assert alert is not None and alert.snapshot_path is not None
        actions = list(session.scalars(select(AuditLogRow.action)))
    assert actions[-1] == "alert.create"
    stored = store.media.load(alert.snapshot_path)

    sharp = scene([(c, x + 2 * (len(items) - 1), y) for c, x, y in [FACE]])  # the last frame
    x = FACE[1] + 2 * (len(items) - 1)
    assert _detail(sharp, x, FACE[2]) > 1000  # the checker face: fine detail ...
    assert _detail(stored, x, FACE[2]) < 0.05 * _detail(sharp, x, FACE[2])  # ... blurred away
    # the plate's part of the picture is kept as it was (JPEG aside)
    x1, y1, x2, y2 = (int(v) for v in PLATE_BOX)
    diff = np.abs(stored[y1:y2, x1:x2].astype(int) - sharp[y1:y2, x1:x2].astype(int))
    assert diff.mean() < 3
