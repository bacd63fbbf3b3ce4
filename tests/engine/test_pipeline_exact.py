"""One camera's pipeline, exactly (issue 21, mutation testing of ``engine/pipeline.py``): plate
evidence with every face blurred (and nothing else touched), at every way a read leaves the
pipeline; the order of the stages; the counters and timings the health report shows, on an
injected clock."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from citywatch.decisions.types import FaceMatch, FaceTrackCount, PlateRead
from citywatch.engine import pipeline as pipeline_module
from citywatch.engine.pipeline import CameraPipeline, PipelineCounters, is_alertable, is_count
from citywatch.vision.masks import PrivacyMasker
from citywatch.vision.motion import MotionGate
from citywatch.vision.record import Detections, Frame, FrameRecord, ImageBGR, Luma
from citywatch.vision.redact import blur_faces
from tests.accountability.fakes import BLUE, GREEN, RED, ColourFaceDetector, fake_pipeline, frames
from tests.services.helpers import face_match, plate_read

STEP_S = 0.0005  # the injected clock moves this far at each reading


class Plates:
    """A plate stage that finds ``per_frame`` plates on every frame."""

    def __init__(self, per_frame: int) -> None:
        self.per_frame = per_frame
        self.seen: list[FrameRecord] = []

    def process(self, record: FrameRecord) -> FrameRecord:
        self.seen.append(record)
        boxes = np.asarray([[10, 10 + 30 * i, 60, 30 + 30 * i] for i in range(self.per_frame)])
        return replace(
            record,
            plates=Detections.from_boxes(boxes.astype(np.float32), np.ones(self.per_frame)),
        )


class Voter:
    """Reads on the frames named in ``read_at`` (their evidence that frame's picture) and one
    more, without evidence, at the end."""

    def __init__(self, read_at: set[int]) -> None:
        self.read_at = read_at
        self.frames = 0

    def _read(self, evidence: ImageBGR | None) -> PlateRead:
        return replace(plate_read(track_id=self.frames), evidence=evidence)

    def update(self, record: FrameRecord) -> list[PlateRead]:
        self.frames += 1
        if self.frames - 1 in self.read_at:
            return [self._read(record.frame.image.copy())]
        return []

    def flush(self) -> list[PlateRead]:
        return [self._read(None)]


def _two_faces() -> list[tuple[tuple[int, int, int], int, int]]:
    return [(RED, 300, 100), (GREEN, 420, 60)]


def _blurred(image: ImageBGR) -> ImageBGR:
    return blur_faces(image, ColourFaceDetector().detect(image).xyxy, keep=None)


@pytest.fixture
def ticking(monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = itertools.count()
    monkeypatch.setattr(pipeline_module.time, "perf_counter", lambda: next(ticks) * STEP_S)


def test_every_face_in_plate_evidence_is_blurred_and_nothing_else(ticking: None) -> None:
    redactor = ColourFaceDetector()
    p = CameraPipeline("cam-1", None, None, None, Plates(1), Voter({1}), redactor=redactor)  # type: ignore[arg-type]
    items = list(frames(_two_faces(), n=3))
    out = [s for f in items for s in p.process(f)[1]]
    [read] = out
    assert isinstance(read, PlateRead) and read.evidence is not None
    original = items[1].image
    assert np.array_equal(read.evidence, _blurred(original))
    changed = np.any(read.evidence != original, axis=2)
    assert changed[100:124, 302:326].any() and changed[60:84, 422:446].any()  # both faces
    assert not changed[200:, :].any()  # below the faces: untouched
    assert redactor.calls == 1  # the evidence only
    [last] = p.flush()  # a read without evidence: nothing to blur, no detection
    assert isinstance(last, PlateRead) and last.evidence is None and redactor.calls == 1


def test_without_a_redactor_the_evidence_is_handed_on_as_it_is() -> None:
    p = CameraPipeline("cam-1", None, None, None, Plates(1), Voter({0}))  # type: ignore[arg-type]
    [f] = list(frames(_two_faces(), n=1))
    [read] = p.process(f)[1]
    assert isinstance(read, PlateRead) and read.evidence is not None
    assert np.array_equal(read.evidence, f.image)


def test_reads_decided_at_the_end_are_blurred_too() -> None:
    redactor = ColourFaceDetector()

    class AtTheEnd(Voter):
        def update(self, record: FrameRecord) -> list[PlateRead]:
            self.last = record.frame.image.copy()
            return []

        def flush(self) -> list[PlateRead]:
            return [self._read(self.last), self._read(None)]

    p = CameraPipeline("cam-1", None, None, None, Plates(1), AtTheEnd(set()), redactor=redactor)  # type: ignore[arg-type]
    [f] = list(frames(_two_faces(), n=1))
    assert p.process(f)[1] == []
    first, second = p.flush()
    assert isinstance(first, PlateRead) and isinstance(second, PlateRead)
    assert first.evidence is not None and np.array_equal(first.evidence, _blurred(f.image))
    assert second.evidence is None


class PassFaces:
    """A face stage that hands the record on (what it found does not matter here)."""

    def process(self, record: FrameRecord) -> FrameRecord:
        return record


class MatchOnce:
    """A face decider whose first frame is a match of the face at ``box``, its evidence that
    frame as it is: the stage, searching only around the faces it followed, had no other."""

    def __init__(self, box: tuple[float, float, float, float], evidence: bool = True) -> None:
        self.box, self.evidence, self.done = box, evidence, False

    def update(self, record: FrameRecord) -> list[FaceMatch]:
        if self.done:
            return []
        self.done = True
        image = record.frame.image.copy() if self.evidence else None
        return [face_match(box=self.box, evidence=image)]

    def flush(self) -> list[FaceMatch]:
        return []


def test_a_match_evidence_frame_is_searched_whole_and_every_other_face_blurred() -> None:
    """The matched face (red) stays as it is; a bystander (green) the stage never had is
    found on the whole frame and blurred; nothing else changes."""
    redactor = ColourFaceDetector()
    red = (300.0, 100.0, 380.0, 180.0)
    p = CameraPipeline(
        "cam-1",
        None,
        PassFaces(),
        MatchOnce(red),
        None,
        None,
        redactor=redactor,  # type: ignore[arg-type]
    )
    [f] = list(frames(_two_faces(), n=1))
    [match] = p.process(f)[1]
    assert isinstance(match, FaceMatch) and match.evidence is not None
    original = f.image
    changed = np.any(match.evidence != original, axis=2)
    assert not changed[100:180, 300:380].any()  # the matched face: untouched
    assert changed[60:140, 420:500].mean() > 0.9  # the bystander: blurred
    boxes = ColourFaceDetector().detect(original).xyxy
    green = boxes[boxes[:, 0] > 400]
    assert np.array_equal(match.evidence, blur_faces(original, green, keep=None))
    assert redactor.calls == 1


@pytest.mark.parametrize("evidence", [True, False])
def test_without_a_redactor_or_evidence_a_match_is_handed_on_as_it_is(evidence: bool) -> None:
    redactor = ColourFaceDetector()
    red = (300.0, 100.0, 380.0, 180.0)
    [f] = list(frames(_two_faces(), n=1))
    bare = CameraPipeline("cam-1", None, PassFaces(), MatchOnce(red, evidence), None, None)  # type: ignore[arg-type]
    [match] = bare.process(f)[1]
    assert isinstance(match, FaceMatch)
    if evidence:
        assert match.evidence is not None and np.array_equal(match.evidence, f.image)
    else:
        assert match.evidence is None
    with_one = CameraPipeline(
        "cam-1",
        None,
        PassFaces(),
        MatchOnce(red, evidence),
        None,
        None,
        redactor=redactor,  # type: ignore[arg-type]
    )
    [match] = with_one.process(f)[1]
    assert redactor.calls == (1 if evidence else 0)


def test_a_match_alone_in_its_frame_keeps_its_evidence_as_it_is() -> None:
    redactor = ColourFaceDetector()
    [f] = list(frames([(RED, 300, 100)], n=1))
    p = CameraPipeline(
        "cam-1",
        None,
        PassFaces(),
        MatchOnce((304.0, 96.0, 384.0, 176.0)),
        None,
        None,
        redactor=redactor,  # type: ignore[arg-type]
    )
    [match] = p.process(f)[1]
    assert isinstance(match, FaceMatch) and match.evidence is not None
    assert np.array_equal(match.evidence, f.image) and redactor.calls == 1


def test_a_face_only_pipeline_ends_its_face_tracks_on_flush() -> None:
    p, detector, _ = fake_pipeline()
    seen = [s for f in frames([(RED, 300, 100), (BLUE, 100, 200)], n=2) for s in p.process(f)[1]]
    assert p.plates is None and p.plate_voter is None
    assert seen == []  # too few frames to decide before the end
    ended = p.flush()
    assert sorted(type(s).__name__ for s in ended) == ["FaceMatch", "FaceTrackCount"]
    assert p.flush() == []  # forgotten
    assert detector.calls == 2


def test_counters_and_timings_of_every_stage(ticking: None) -> None:
    masker = PrivacyMasker([[(0.0, 0.0), (0.1, 0.0), (0.1, 0.1), (0.0, 0.1)]])
    p, detector, _ = fake_pipeline(masker=masker)
    p.motion = MotionGate()
    p.plates, p.plate_voter = Plates(2), Voter(set())  # type: ignore[assignment]
    records: list[FrameRecord] = []
    for i, f in enumerate(frames([(RED, 300, 100), (BLUE, 100, 200)], n=4)):
        if i == 2:  # a still frame
            f = replace_frame(f, records[-1].frame)
        record, _ = p.process(f)
        records.append(record)
    moving = [r.motion is not None and r.motion.moving for r in records]
    assert True in moving and False in moving  # both kinds counted
    c = p.counters
    assert (c.frames, c.moving_frames) == (4, sum(moving))
    assert c.face_detections == sum(len(r.faces) for r in records) > 0
    assert c.plate_detections == 8
    stages = {"mask": 1, "motion": 1, "faces": 1, "face_decide": 1, "plates": 1}
    for r in records:
        assert r.timings_ms == pytest.approx({k: n * STEP_S * 1000 for k, n in stages.items()})
    assert c.stage_ms == pytest.approx({k: 4 * n * STEP_S * 1000 for k, n in stages.items()})
    # what later stages saw is the masked picture
    assert int(p.plates.seen[0].frame.image[:10, :10].max()) == 0  # type: ignore[union-attr]
    assert detector.calls == sum(moving)  # faces are looked for where something moved


def replace_frame(f: Any, like: Any) -> Any:
    """``f`` with the picture of ``like`` (nothing moved since)."""
    return type(f)(f.camera_id, f.index, f.pts_s, f.wall_time, like.image.copy())


def test_a_pipeline_without_masks_or_motion_gate_times_only_its_stages(ticking: None) -> None:
    p = CameraPipeline("cam-1", None, None, None, Plates(0), Voter(set()))  # type: ignore[arg-type]
    [f] = list(frames([], n=1))
    record, _ = p.process(f)
    assert record.frame is f and record.motion is None
    assert record.timings_ms == pytest.approx({"plates": STEP_S * 1000})
    assert (p.counters.frames, p.counters.moving_frames, p.counters.plate_detections) == (1, 0, 0)


def test_counters_start_at_zero_and_add_up() -> None:
    c = PipelineCounters()
    assert (c.frames, c.moving_frames, c.face_detections, c.plate_detections) == (0, 0, 0, 0)
    assert c.stage_ms == {} and PipelineCounters().stage_ms is not c.stage_ms
    c.add_timing("faces", 1.5)
    c.add_timing("faces", 2.0)
    c.add_timing("plates", 0.25)
    assert c.stage_ms == {"faces": 3.5, "plates": 0.25}


def test_which_sightings_alert_and_which_count() -> None:
    count = FaceTrackCount("cam-1", 3, 1_750_000_000.0)
    assert [is_alertable(s) for s in (face_match(), plate_read(), count)] == [True, True, False]
    assert [is_count(s) for s in (face_match(), plate_read(), count)] == [False, False, True]


class GreyPicture:
    """A decoder's picture: its grey plane is read as it is, its BGR made only when asked."""

    def __init__(self, grey: np.ndarray) -> None:
        self.grey, self.conversions = grey, 0

    @property
    def width(self) -> int:
        return int(self.grey.shape[1])

    @property
    def height(self) -> int:
        return int(self.grey.shape[0])

    def bgr(self) -> ImageBGR:
        self.conversions += 1
        return np.repeat(self.grey[:, :, None], 3, axis=2)

    def luma(self) -> Luma:
        return Luma(self.grey, video_range=False)


def test_the_motion_gate_reads_a_pictures_grey_plane_without_converting_it() -> None:
    """An idle camera's frames are looked at by the motion gate alone: from the decoder's grey
    plane, never converted to BGR (what a still camera costs; docs/capacity.md)."""
    p = CameraPipeline("cam-1", MotionGate(), None, None, None, None)
    pictures = [GreyPicture(np.full((90, 160), 100, np.uint8)) for _ in range(3)]
    records = [
        p.process(Frame("cam-1", i, i / 5, 1_750_000_000.0 + i / 5, picture=pic))[0]
        for i, pic in enumerate(pictures)
    ]
    assert all(r.motion is not None for r in records)  # the gate looked at every one
    assert [pic.conversions for pic in pictures] == [0, 0, 0]
    assert not any(r.frame.converted for r in records)
