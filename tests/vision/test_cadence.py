"""Searching every n-th moving frame while a stage finds nothing (vision/cadence.py), and the
face and plate stages that follow it."""

from __future__ import annotations

import numpy as np
import pytest

from citywatch.config.faces import FacesConfig
from citywatch.config.plates import PlateReaderConfig, PlatesConfig
from citywatch.vision.cadence import SearchCadence
from citywatch.vision.faces.stage import FaceStage
from citywatch.vision.plates.stage import PlateStage
from citywatch.vision.plates.tracking import PlateTracker
from citywatch.vision.record import Detections, Frame, FrameRecord, ImageBGR, Motion
from tests.vision.faces.test_stage import FakeLandmarker, FakeTracker
from tests.vision.plates.test_stage import PLATE, FakeDetector, FakeReader

# One event per analysed frame, 0.25 s apart (4 fps: exact in binary): "m" a moving frame
# where the search (if it runs) finds nothing, "F" a moving frame where it finds something,
# "s" a still frame.
# Expected: per moving frame, whether it is searched ("y"/"n"); still frames give "-".
TABLE = [
    # every rest_s events   searched
    (1, 2.0, "mmmmmm", "yyyyyy"),  # 1: every moving frame, always
    (3, 2.0, "mmmmmmm", "ynnynny"),  # nothing ever found: the 1st, then every 3rd
    (2, 2.0, "mmmmm", "ynyny"),
    (3, 2.0, "mmsmmm", "yn-ynn"),  # a still frame: the next moving frame is searched at once
    (3, 2.0, "ssmmm", "--ynn"),
    # found at frame 0: every frame for 2 s (8 frames), then resting again
    (3, 2.0, "Fmmmmmmmmmmmmm", "yyyyyyyyynnynn"),
    (3, 0.5, "Fmmmmmm", "yyynnyn"),  # rest_s 0.5: 2 frames
    # a find while resting brings back every frame at once
    (3, 2.0, "mmmFmmm", "ynnyyyy"),
    (3, 0.0, "FFmmm", "yyynn"),  # rest_s 0: rests from the frame after the last find
]


def _run(c: SearchCadence, events: str, *, dt: float = 0.25, t0: float = 0.0) -> str:
    out = []
    for i, e in enumerate(events):
        t = t0 + i * dt
        if e == "s":
            c.still()
            out.append("-")
            continue
        due = c.due(t)
        out.append("y" if due else "n")
        if due:
            c.saw(t, e == "F")
    return "".join(out)


@pytest.mark.parametrize(("every", "rest_s", "events", "searched"), TABLE)
def test_cadence_table(every: int, rest_s: float, events: str, searched: str) -> None:
    c = SearchCadence(every=every, rest_s=rest_s)
    assert _run(c, events) == searched
    assert c.searched == searched.count("y") and c.rested == searched.count("n")


def test_a_frame_it_did_not_search_cannot_end_the_rest() -> None:
    # what a skipped frame holds is unknown: only saw() after a due() search counts
    c = SearchCadence(every=3, rest_s=2.0)
    assert _run(c, "mmm") == "ynn"
    assert _run(c, "m", t0=0.75) == "y"


def test_stream_time_going_back_counts_as_resting() -> None:
    c = SearchCadence(every=2, rest_s=2.0)
    c.due(10.0)
    c.saw(10.0, True)
    assert c.resting(10.0) is False  # a second frame with the find's own time
    assert c.resting(11.0) is False and c.resting(12.01) is True
    assert c.resting(0.5) is True  # a looped file started again
    assert [c.due(t) for t in (0.5, 0.75, 1.0)] == [True, False, True]


@pytest.mark.parametrize(("every", "rest_s"), [(0, 2.0), (-1, 2.0), (2, -0.1)])
def test_bad_settings_are_refused(every: int, rest_s: float) -> None:
    with pytest.raises(ValueError, match="search cadence"):
        SearchCadence(every=every, rest_s=rest_s)


@pytest.mark.parametrize("key", ["faces", "plates"])
@pytest.mark.parametrize("bad", [0, 11])
def test_config_bounds(key: str, bad: int) -> None:
    model = FacesConfig if key == "faces" else PlatesConfig
    with pytest.raises(ValueError, match="idle_search_every"):
        model(idle_search_every=bad)


MOVING = Motion(moving=True, fraction=0.2)
STILL = Motion(moving=False, fraction=0.0)
IMAGE = np.zeros((360, 640, 3), np.uint8)


class SwitchedFaceDetector:
    """Finds one face while ``present``, none otherwise."""

    name = "switched"

    def __init__(self) -> None:
        self.present = False
        self.calls = 0

    def detect(self, image: ImageBGR) -> Detections:
        self.calls += 1
        if not self.present:
            return Detections.empty()
        return Detections.from_boxes([[100, 100, 200, 200]], [0.9])


def _frame(k: int, motion: Motion) -> FrameRecord:
    return FrameRecord(frame=Frame("cam", k, 0.25 * k, 100.0 + k, IMAGE), motion=motion)


def test_the_face_stage_searches_every_third_moving_frame_while_it_finds_nothing() -> None:
    det = SwitchedFaceDetector()
    tracker = FakeTracker()
    stage = FaceStage(det, FakeLandmarker(), tracker, FacesConfig(idle_search_every=3))
    for k in range(6):
        stage.process(_frame(k, MOVING))
    assert det.calls == 2  # frames 0 and 3
    stage.process(_frame(6, STILL))
    assert det.calls == 2  # a still frame is never searched ...
    det.present = True
    stage.process(_frame(7, MOVING))  # ... and the moving frame after it is
    assert det.calls == 3
    for k in range(8, 14):  # a face found: every frame while it is there
        stage.process(_frame(k, MOVING))
    assert det.calls == 9
    det.present = False
    for k in range(14, 40):  # gone: every frame for track_lost_s (2 s), then every 3rd
        stage.process(_frame(k, MOVING))
    # frames 14..21 are within 2 s of the last find at 13 (t 3.5 .. 5.25 s): 8 searches;
    # resting from frame 22 (t 5.5): 22 and 23 left (21 was searched), then 24, 27, ..., 39
    assert det.calls == 9 + 8 + 6
    assert stage.cadence.rested == 4 + 12
    # the tracker ages its tracks on every frame, searched or not
    assert len(tracker.calls) == 40


@pytest.mark.parametrize(
    ("cfg", "calls"), [(FacesConfig(idle_search_every=1), 12), (FacesConfig(), 4)]
)
def test_the_face_stage_searches_as_its_config_says(cfg: FacesConfig, calls: int) -> None:
    det = SwitchedFaceDetector()
    stage = FaceStage(det, FakeLandmarker(), FakeTracker(), cfg)
    for k in range(12):
        stage.process(_frame(k, MOVING))
    assert det.calls == calls  # the default: every 3rd moving frame while nothing is found


def test_the_plate_stage_rests_until_it_reads_a_plate() -> None:
    det = FakeDetector([PLATE])
    reader = FakeReader({})  # nothing readable
    cfg = PlatesConfig(idle_search_every=2, reader=PlateReaderConfig(det_retry_equalised=False))
    stage = PlateStage(det, reader, PlateTracker(), cfg)
    for k in range(6):
        stage.process(_frame(k, MOVING))
    searched_idle = len(det.calls)
    reader.texts[200] = ("56-JTT-5", 0.9)
    reads = [len(stage.process(_frame(k, MOVING)).plates) for k in range(6, 12)]
    assert searched_idle == 3  # frames 0, 2, 4 (retries off: one detector call per search)
    # frame 6 is due (4 was searched, 5 left), then every frame once a plate is read
    assert reads == [1, 1, 1, 1, 1, 1] and len(det.calls) == 3 + 6
    assert stage.cadence.rested == 3
