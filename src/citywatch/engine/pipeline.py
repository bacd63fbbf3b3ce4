"""One camera's analysis: privacy masks -> motion gate -> faces -> plates -> decisions.

The pipeline is built from the camera's config and explicit dependencies (models, gallery,
tracker factories), holds no globals, and returns :mod:`decisions.types` sightings for the
service layer.  Which stages exist is decided by policy before construction: a camera that is
not registered (or not authorised) for faces has no face stage at all.

The camera's privacy masks are blacked out first, on a copy of the frame: every later stage,
the evidence snapshots and the live view (the worker keeps ``record.frame``) see the masked
picture only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from citywatch.decisions.faces import FaceTrackDecider
from citywatch.decisions.plates import PlateTrackVoter
from citywatch.decisions.types import FaceMatch, FaceTrackCount, PlateRead, Sighting
from citywatch.vision.boxes import box_iou
from citywatch.vision.faces.base import FaceDetector
from citywatch.vision.faces.stage import FaceStage
from citywatch.vision.masks import PrivacyMasker
from citywatch.vision.motion import MotionGate
from citywatch.vision.plates.stage import PlateStage
from citywatch.vision.record import Frame, FrameRecord, ImageBGR
from citywatch.vision.redact import SAME_FACE_IOU, blur_faces

Clock = Callable[[], float]


@dataclass
class PipelineCounters:
    frames: int = 0
    moving_frames: int = 0
    face_detections: int = 0
    plate_detections: int = 0
    stage_ms: dict[str, float] = field(default_factory=dict)

    def add_timing(self, stage: str, ms: float) -> None:
        self.stage_ms[stage] = self.stage_ms.get(stage, 0.0) + ms


@dataclass
class CameraPipeline:
    """Stages for one camera.  ``faces``/``face_decider`` are both set or both None; same for
    plates.  ``redactor`` finds faces to blur in plate evidence even on plate-only cameras
    (detection for redaction, never recognition), and searches a face match's evidence frame
    whole again: the face stage may have searched that frame only around the faces it
    follows, and a bystander who had just come in must be blurred too.  ``masker`` blacks
    out the camera's privacy masks before anything else looks at the frame."""

    camera_id: str
    motion: MotionGate | None
    faces: FaceStage | None
    face_decider: FaceTrackDecider | None
    plates: PlateStage | None
    plate_voter: PlateTrackVoter | None
    redactor: FaceDetector | None = None
    masker: PrivacyMasker | None = None
    clock: Clock = time.time
    counters: PipelineCounters = field(default_factory=PipelineCounters)

    def process(self, frame: Frame) -> tuple[FrameRecord, list[Sighting]]:
        """Analyse one frame.  ``record.frame`` is the masked frame: pass that on (live view),
        never the input."""
        t0 = time.perf_counter()
        if self.masker is not None:
            frame = self.masker.apply_frame(frame)
        record = FrameRecord(frame=frame)
        if self.masker is not None:
            self._time(record, "mask", t0)
        out: list[Sighting] = []
        c = self.counters
        c.frames += 1
        if self.motion is not None:
            t0 = time.perf_counter()
            luma = frame.luma()  # the decoder's grey plane while not converted to BGR
            record.motion = self.motion.update(luma if luma is not None else frame.image)
            self._time(record, "motion", t0)
            if record.motion.moving:
                c.moving_frames += 1
        if self.faces is not None and self.face_decider is not None:
            t0 = time.perf_counter()
            record = self.faces.process(record)
            self._time(record, "faces", t0)
            c.face_detections += len(record.faces)
            t0 = time.perf_counter()
            out.extend(self._finish_faces(self.face_decider.update(record)))
            self._time(record, "face_decide", t0)
        if self.plates is not None and self.plate_voter is not None:
            t0 = time.perf_counter()
            record = self.plates.process(record)
            self._time(record, "plates", t0)
            c.plate_detections += len(record.plates)
            out.extend(self._finish_plates(self.plate_voter.update(record)))
        return record, out

    def flush(self) -> list[Sighting]:
        """End every open track (end of a file, shutdown): decisions for all, then forget."""
        out: list[Sighting] = []
        if self.face_decider is not None:
            out.extend(self._finish_faces(self.face_decider.flush()))
        if self.plate_voter is not None:
            out.extend(self._finish_plates(self.plate_voter.flush()))
        return out

    def _finish_faces(self, sightings: Sequence[Sighting]) -> list[Sighting]:
        return [self._redact_match(s) if isinstance(s, FaceMatch) else s for s in sightings]

    def _redact_match(self, m: FaceMatch) -> FaceMatch:
        """``m``'s evidence with every face the whole frame holds blurred but the matched one
        (those the stage had are blurred already)."""
        if m.evidence is None or self.redactor is None:
            return m
        found = self.redactor.detect(m.evidence).xyxy
        if len(found):
            kept = np.asarray(m.box, np.float32).reshape(1, 4)
            found = found[box_iou(kept, found)[0] < SAME_FACE_IOU]
        if not len(found):
            return m
        return replace(m, evidence=blur_faces(m.evidence, found, keep=None))

    def _finish_plates(self, reads: list[PlateRead]) -> list[Sighting]:
        return [replace(r, evidence=self._redact(r.evidence)) for r in reads]

    def _redact(self, image: ImageBGR | None) -> ImageBGR | None:
        if image is None or self.redactor is None:
            return image
        faces = self.redactor.detect(image)
        return blur_faces(image, faces.xyxy, keep=None)

    def _time(self, record: FrameRecord, stage: str, t0: float) -> None:
        ms = (time.perf_counter() - t0) * 1000.0
        record.timings_ms[stage] = ms
        self.counters.add_timing(stage, ms)


def is_alertable(s: Sighting) -> bool:
    return isinstance(s, FaceMatch | PlateRead)


def is_count(s: Sighting) -> bool:
    return isinstance(s, FaceTrackCount)
