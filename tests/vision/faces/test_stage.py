import av
import numpy as np
import pytest

from citywatch.config.faces import FacesConfig
from citywatch.vision.faces.chips import TEMPLATE_5
from citywatch.vision.faces.stage import FaceStage, detect_faces
from citywatch.vision.record import Detections, Frame, FrameRecord, Motion
from citywatch.vision.tracking import ByteTracker


class FakeDetector:
    name = "fake"

    def __init__(self, boxes, scores):
        self.boxes, self.scores, self.calls = boxes, scores, 0

    def detect(self, image):
        self.calls += 1
        return Detections.from_boxes(self.boxes, self.scores)


class FakeLandmarker:
    """Frontal template points inside each box."""

    def landmarks(self, image, xyxy):
        b = np.asarray(xyxy, np.float32).reshape(-1, 4)
        side = (b[:, 2] - b[:, 0])[:, None, None]
        return (TEMPLATE_5[None] * side + b[:, None, :2]).astype(np.float32)


class FakeTracker:
    def __init__(self):
        self.calls: list[tuple[int, float]] = []

    def update(self, detections, t):
        self.calls.append((len(detections), t))
        return detections.with_tracks(np.arange(1, len(detections) + 1))


def _textured(h=360, w=640):
    rng = np.random.default_rng(1)
    return np.repeat(np.repeat(rng.integers(0, 255, (h // 4, w // 4, 3), np.uint8), 4, 0), 4, 1)


def _record(image, motion=None, t=1.5):
    return FrameRecord(frame=Frame("cam", 3, t, 100.0, image), motion=motion)


def _stage(cfg=None):
    det = FakeDetector([[100, 100, 200, 200], [300, 100, 310, 110]], [0.9, 0.8])
    tracker = FakeTracker()
    return FaceStage(det, FakeLandmarker(), tracker, cfg or FacesConfig()), det, tracker


def test_process_fills_faces_with_landmarks_quality_and_tracks():
    stage, _, tracker = _stage()
    rec = stage.process(_record(_textured()))
    faces = rec.faces
    assert len(faces) == 2  # the tiny face stays (redaction, counting) ...
    assert faces.landmarks is not None and faces.landmarks.shape == (2, 5, 2)
    assert faces.quality is not None
    assert faces.quality[0] > 0.5 and faces.quality[1] == 0.0  # ... with quality 0
    assert faces.track_id.tolist() == [1, 2]
    assert tracker.calls == [(2, 1.5)]


def test_still_frame_is_not_searched_but_tracks_age():
    stage, det, tracker = _stage()
    rec = stage.process(_record(_textured(), Motion(moving=False, fraction=0.0)))
    assert det.calls == 0
    assert len(rec.faces) == 0
    assert tracker.calls == [(0, 1.5)]


def test_moving_frame_is_searched():
    stage, det, _ = _stage()
    stage.process(_record(_textured(), Motion(moving=True, fraction=0.1)))
    assert det.calls == 1


def test_detect_faces_for_stills_keeps_usable_faces_and_has_no_tracker():
    det = FakeDetector([[100, 100, 200, 200], [300, 100, 310, 110]], [0.9, 0.9])
    out = detect_faces(_textured(), det, FakeLandmarker(), FacesConfig())
    assert out.xyxy.tolist() == [[100, 100, 200, 200]]  # the 10 px face is dropped
    assert out.track_id.tolist() == [-1]
    assert out.landmarks is not None and out.quality is not None and out.quality[0] > 0.3


def test_detector_without_landmarks_needs_a_landmarker():
    det = FakeDetector([[100, 100, 200, 200]], [0.9])
    with pytest.raises(ValueError, match="landmarker"):
        detect_faces(_textured(), det, None, FacesConfig())


@pytest.mark.integration
def test_real_stage_tracks_faces_on_video(shared_data):
    from citywatch.vision.faces.dlib_backends import DlibLandmarker
    from citywatch.vision.faces.yunet import YunetDetector

    path = shared_data / "faces" / "watchlist_video" / "examples" / "short_hamilton_clip.mp4"
    stage = FaceStage(
        YunetDetector(), DlibLandmarker(), ByteTracker(frame_rate=10.0), FacesConfig()
    )
    ids: list[int] = []
    with av.open(str(path)) as box:
        for i, frame in enumerate(box.decode(video=0)):
            if i % 3 or i > 21:  # the opening shot (frame 24 cuts to a close-up)
                continue
            img = frame.to_ndarray(format="bgr24")
            rec = stage.process(FrameRecord(Frame("cam", i, i / 30.0, 0.0, img)))
            ids.extend(t for t in rec.faces.track_id.tolist() if t >= 0)
    # The opening shot holds the singer and the pianist: each keeps one track id on every
    # frame after the tracker confirmed it (8 frames sampled, the first one or two unconfirmed).
    counts = sorted((ids.count(t) for t in set(ids)), reverse=True)
    assert len(counts) == 2 and min(counts) >= 6
