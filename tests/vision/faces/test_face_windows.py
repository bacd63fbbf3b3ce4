"""Between whole-frame searches the face stage searches only around the faces it tracks
(``faces.whole_frame_every``): which frames are searched how, the windows, and YuNet's
window search against its whole-frame search on real footage."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from citywatch.config.faces import FacesConfig
from citywatch.vision.boxes import box_iou
from citywatch.vision.faces.stage import MAX_WINDOW_SHARE, FaceStage, detect_faces, face_windows
from citywatch.vision.faces.yunet import STRIDES, YunetDetector, _pixel_windows
from citywatch.vision.record import Detections, FloatArray, Frame, FrameRecord, ImageBGR, Motion
from tests.vision.faces.test_stage import FakeLandmarker, FakeTracker, _textured

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
CROWD = DATA / "faces" / "crowd_video" / "video.mp4"
FACE = [[100.0, 100.0, 140.0, 140.0]]


class RegionDetector:
    """Finds the faces it is told to wherever it searches; says how it was asked."""

    name = "fake-regions"

    def __init__(self, boxes: list[list[float]]) -> None:
        self.boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        self.log: list[str] = []
        self.windows: list[FloatArray] = []

    def detect(self, image: ImageBGR) -> Detections:
        assert isinstance(image, np.ndarray) and image.ndim == 3  # the frame, not a stand-in
        self.log.append("W")
        return Detections.from_boxes(self.boxes, np.full(len(self.boxes), 0.9))

    def detect_regions(self, image: ImageBGR, windows: FloatArray) -> Detections | None:
        assert isinstance(image, np.ndarray) and image.ndim == 3
        self.log.append("r")
        self.windows.append(windows)
        inside = [
            b
            for b in self.boxes
            if any(w[0] <= b[0] and w[1] <= b[1] and b[2] <= w[2] and b[3] <= w[3] for w in windows)
        ]
        return Detections.from_boxes(np.asarray(inside, np.float32), np.full(len(inside), 0.9))


class WholeOnly(RegionDetector):
    """A detector without the window search (every back end but YuNet)."""

    detect_regions = None  # type: ignore[assignment]


def run(stage: FaceStage, events: str) -> None:
    """One frame per event 0.2 s apart: "m" moving, "s" still."""
    image = np.zeros((360, 640, 3), np.uint8)
    for i, e in enumerate(events):
        motion = Motion(moving=e == "m", fraction=0.1 if e == "m" else 0.0)
        stage.process(FrameRecord(frame=Frame("cam", i, i * 0.2, 100.0, image), motion=motion))


def stage_with(det: RegionDetector, **cfg: object) -> FaceStage:
    return FaceStage(det, FakeLandmarker(), FakeTracker(), FacesConfig(**cfg))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("every", "events", "log"),
    [
        (3, "mmmmmmm", "WrrWrrW"),  # a face tracked: the whole frame every 3rd moving frame
        (2, "mmmmm", "WrWrW"),
        (1, "mmmm", "WWWW"),  # 1: the whole frame every time
        (3, "mmsmmm", "WrWrr"),  # the first moving frame after a still one: whole
        (3, "mssssmm", "WWr"),
    ],
)
def test_whole_frames_and_windows_alternate(every: int, events: str, log: str) -> None:
    det = RegionDetector(FACE)
    stage = stage_with(det, whole_frame_every=every)
    run(stage, events)
    assert "".join(det.log) == log
    assert stage.cadence.windowed == log.count("r")
    assert stage.cadence.searched == events.count("m")


def test_with_nothing_tracked_the_frames_between_search_nothing() -> None:
    det = RegionDetector([])  # finds nobody
    stage = stage_with(det, whole_frame_every=3, idle_search_every=1)
    run(stage, "mmmmmmm")
    assert "".join(det.log) == "W..W..W".replace(".", "")  # no window search: nothing tracked
    assert stage.cadence.windowed == 4 and stage.cadence.searched == 7


def test_a_face_that_leaves_its_window_is_found_by_the_next_whole_search() -> None:
    det = RegionDetector(FACE)
    stage = stage_with(det, whole_frame_every=3)
    run(stage, "mm")
    det.boxes = np.asarray([[500.0, 200.0, 540.0, 240.0]], np.float32)  # it jumped away
    faces = []
    image = np.zeros((360, 640, 3), np.uint8)
    for i in range(2, 6):
        rec = FrameRecord(frame=Frame("cam", i, i * 0.2, 100.0, image), motion=Motion(True, 0.1))
        faces.append(len(stage.process(rec).faces))
    assert "".join(det.log) == "WrrWrr"
    assert faces == [0, 1, 1, 1]  # lost in its old window, found by the whole frame, followed


def test_windows_that_would_cover_too_much_search_the_whole_frame() -> None:
    big = [[0.0, 0.0, 200.0, 150.0]]  # grown by twice its size: 600x450 of 640x360
    det = RegionDetector(big)
    stage = stage_with(det, whole_frame_every=3)
    run(stage, "mmmm")
    assert "".join(det.log) == "WWWW"
    assert stage.cadence.windowed == 0


def test_a_detector_without_window_search_searches_whole_frames() -> None:
    det = WholeOnly(FACE)
    stage = stage_with(det, whole_frame_every=3)
    run(stage, "mmmmm")
    assert "".join(det.log) == "WWWWW"


class NoWindowsHere(RegionDetector):
    """A detector that can search windows, but not in this frame (a fixed-size export)."""

    def detect_regions(self, image: ImageBGR, windows: FloatArray) -> Detections | None:
        self.log.append("n")
        return None


def test_a_detector_that_cannot_search_windows_here_searches_the_whole_frame() -> None:
    det = NoWindowsHere(FACE)
    stage = stage_with(det, whole_frame_every=3)
    run(stage, "mmmm")
    assert "".join(det.log) == "WnWnWnW"  # asked each time between, then searched whole
    assert stage.cadence.windowed == 0


@pytest.mark.parametrize("boxes", [FACE, []])
def test_a_scan_of_stored_footage_searches_whole_frames(boxes: list[list[float]]) -> None:
    """Found or not: every moving frame, whole (thoroughness counts more than CPU there)."""
    det = RegionDetector(boxes)
    stage = FaceStage(det, FakeLandmarker(), FakeTracker(), FacesConfig(), idle_search=False)
    run(stage, "mmmmm")
    assert "".join(det.log) == "WWWWW"
    assert stage.cadence.every == 1 and stage.whole_every == 1


def test_the_rest_starts_when_face_tracks_end() -> None:
    """The cadence rests after ``track_lost_s`` without a face (here 0.5 s: from the 4th
    frame), then searches every ``idle_search_every``-th moving frame."""
    det = RegionDetector(FACE)
    cfg = {"track_lost_s": 0.5, "idle_search_every": 3, "whole_frame_every": 1}
    stage = stage_with(det, **cfg)
    run(stage, "m")
    det.boxes = np.zeros((0, 4), np.float32)  # the face has gone
    image = np.zeros((360, 640, 3), np.uint8)
    for i in range(1, 8):
        rec = FrameRecord(frame=Frame("cam", i, i * 0.2, 100.0, image), motion=Motion(True, 0.1))
        stage.process(rec)
    assert "".join(det.log) == "WWW" + "W"  # 0, 0.2, 0.4 s; resting from 0.6 s: 1.0 s
    assert stage.cadence.rested == 4


def test_edges_of_the_window_share(  # the windows' area against half the 640x360 frame
) -> None:
    cases = {
        (287.0, 147.0, 354.0, 214.0): "r",  # window 335 x 335: under half
        (284.0, 148.0, 356.0, 212.0): "r",  # 360 x 320 = exactly half: still windows
        (286.0, 146.0, 354.0, 214.0): "W",  # 340 x 340: over half
    }
    for box, want in cases.items():
        det = RegionDetector([list(box)])
        stage = stage_with(det, whole_frame_every=3)
        run(stage, "mm")
        assert "".join(det.log) == "W" + want, box


def test_windows_near_the_edges_are_clipped_to_the_frame() -> None:
    det = RegionDetector([[600.0, 320.0, 630.0, 350.0], [10.0, 5.0, 40.0, 35.0]])
    stage = stage_with(det, whole_frame_every=3)
    run(stage, "mm")
    assert det.log == ["W", "r"]
    np.testing.assert_allclose(
        det.windows[0], [[540.0, 260.0, 640.0, 360.0], [0.0, 0.0, 100.0, 95.0]]
    )


def test_a_still_frame_leaves_typed_empty_faces() -> None:
    det = RegionDetector(FACE)
    stage = stage_with(det)
    run(stage, "s")
    image = np.zeros((360, 640, 3), np.uint8)
    rec = stage.process(
        FrameRecord(frame=Frame("cam", 1, 0.2, 100.0, image), motion=Motion(False, 0.0))
    )
    assert det.log == []
    faces = rec.faces
    assert faces.landmarks is not None and faces.landmarks.shape == (0, 5, 2)
    assert faces.landmarks.dtype == np.float32
    assert faces.quality is not None and faces.quality.shape == (0,)
    assert faces.quality.dtype == np.float32


def test_still_images_are_searched_whole_with_landmarks() -> None:
    det = RegionDetector(FACE)
    image = _textured()  # sharp enough to be usable
    stage = stage_with(det)
    for found in (stage.detect_faces(image), detect_faces(image, det, FakeLandmarker(), stage.cfg)):
        assert len(found) == 1 and found.landmarks is not None
        assert found.landmarks.dtype == np.float32
    assert det.log == ["W", "W"]
    with pytest.raises(
        ValueError,
        match=r"^face stage: the detector gives no landmarks and no landmarker was passed$",
    ):
        detect_faces(image, det, None, stage.cfg)


def test_window_search_results_get_landmarks_and_quality() -> None:
    det = RegionDetector(FACE)
    stage = stage_with(det, whole_frame_every=3)
    run(stage, "m")
    image = np.zeros((360, 640, 3), np.uint8)
    rec = stage.process(
        FrameRecord(frame=Frame("cam", 1, 0.2, 100.0, image), motion=Motion(True, 0.1))
    )
    assert det.log == ["W", "r"]
    assert len(rec.faces) == 1 and rec.faces.landmarks is not None and rec.faces.quality is not None
    np.testing.assert_allclose(det.windows[0], [[20.0, 20.0, 220.0, 220.0]])


@pytest.mark.parametrize(
    ("boxes", "grow", "want"),
    [
        ([[100, 100, 140, 140]], 2.0, [[20, 20, 220, 220]]),
        ([[100, 100, 140, 140]], 1.0, [[60, 60, 180, 180]]),
        ([[10, 300, 50, 340]], 2.0, [[0, 220, 130, 360]]),  # clipped to the 640x360 frame
        ([[300, 10, 340, 50]], 2.0, [[220, 0, 420, 130]]),  # clipped at the top
        ([[600, 100, 630, 130]], 2.0, [[540, 40, 640, 190]]),  # and on the right
        # two faces whose windows overlap: one window, no face found twice
        ([[100, 100, 140, 140], [200, 100, 240, 140]], 2.0, [[20, 20, 320, 220]]),
        (
            [[100, 100, 140, 140], [400, 100, 440, 140]],
            1.0,
            [[60, 60, 180, 180], [360, 60, 480, 180]],
        ),
        ([], 2.0, np.zeros((0, 4))),
    ],
)
def test_face_windows(boxes: list[list[float]], grow: float, want: object) -> None:
    got = face_windows(np.asarray(boxes, np.float32).reshape(-1, 4), 640, 360, grow)
    np.testing.assert_allclose(got, np.asarray(want, np.float32).reshape(-1, 4))


def test_max_window_share_is_a_share() -> None:
    assert 0.0 < MAX_WINDOW_SHARE < 1.0


@pytest.mark.parametrize(
    ("windows", "scale", "want"),
    [
        ([[40, 50, 100, 90]], 1.0, [(32, 32, 128, 96)]),  # onto the stride-32 grid, outward
        ([[40, 50, 100, 90]], 0.5, [(0, 0, 128, 128)]),  # at half scale the grid is 64 px
        ([[600, 330, 639, 359]], 1.0, [(576, 320, 640, 360)]),  # clipped to the frame
        ([[10, 10, 40, 40], [70, 10, 90, 40]], 1.0, [(0, 0, 96, 64)]),  # touching once grown
        ([[5, 5, 5, 5]], 1.0, [(0, 0, 32, 32)]),
    ],
)
def test_windows_are_cut_on_the_networks_grid(
    windows: list[list[float]], scale: float, want: list[tuple[int, int, int, int]]
) -> None:
    assert STRIDES[-1] == 32
    assert _pixel_windows(np.asarray(windows, np.float32), 640, 360, scale) == want


def crowd_frames(n: int = 4) -> list[ImageBGR]:
    if not CROWD.is_file():
        pytest.skip(f"no crowd clip at {CROWD} (../shared/data)")
    out = []
    with av.open(str(CROWD)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i % 50 == 0:
                out.append(np.asarray(f.to_ndarray(format="bgr24"), np.uint8))
            if len(out) == n:
                break
    return out


@pytest.mark.parametrize("landmarks", ["dlib", "detector"])
def test_yunet_finds_in_windows_what_it_finds_in_the_whole_frame(landmarks: str) -> None:
    """Real 1080p crowd frames: every face the whole-frame search scores at the analysis
    floor (0.6) is found again in its window, in the same place."""
    det = YunetDetector(min_score=0.3, landmarks=landmarks)  # type: ignore[arg-type]
    compared = 0
    for image in crowd_frames():
        whole = det.detect(image)
        sure = whole.select(whole.score >= 0.6)
        h, w = image.shape[:2]
        got = det.detect_regions(image, face_windows(sure.xyxy, w, h))
        assert got is not None
        if len(sure) == 0:
            continue
        iou = box_iou(sure.xyxy, got.xyxy)
        assert (iou.max(axis=1) >= 0.8).all(), iou.max(axis=1)
        best = got.select(iou.argmax(axis=1))
        assert np.abs(best.score - sure.score).max() < 0.15
        if landmarks == "detector":
            assert best.landmarks is not None and sure.landmarks is not None
            assert np.abs(best.landmarks - sure.landmarks).max() < 0.25 * float(
                np.min(sure.xyxy[:, 2] - sure.xyxy[:, 0])
            )
        else:
            assert got.landmarks is None  # dlib's points come later, from the full frame
        compared += len(sure)
    assert compared >= 10


def test_yunet_without_windows_and_with_a_fixed_size_export() -> None:
    det = YunetDetector()
    image = np.zeros((360, 640, 3), np.uint8)
    empty = det.detect_regions(image, np.zeros((0, 4), np.float32))
    assert empty is not None and len(empty) == 0
    det._fixed_hw = (640, 640)  # what a fixed-size export reports: it would enlarge a window
    assert det.detect_regions(image, np.asarray([[0, 0, 100, 100]], np.float32)) is None
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        YunetDetector().detect_regions(np.zeros((10, 10), np.uint8), np.zeros((0, 4), np.float32))
