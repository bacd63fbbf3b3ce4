"""Evidence from the main stream for a camera analysed on its substream (``detect_url``).

:class:`MainStreamEvidence` wraps the camera's pipeline.  The pipeline analyses substream
frames; for each analysed frame the wrapper remembers (bounded) its media time, its size and
the face boxes found on it.  The face matches and plate reads that come out get their box
mapped onto the main stream's frame (:class:`~citywatch.sources.mainstream.BoxMap`) at once,
so every stored box, alert and clip is in main-stream pixels.  The main picture itself is
decoded only when a snapshot is stored: the event recorder asks :meth:`picture` (its
``evidence`` hook), which decodes the picture nearest in time from the rolling packet buffer
(:func:`~citywatch.sources.mainstream.picture_at`), blacks out the privacy masks, and blurs
every face: those tracked on the substream (mapped; the matched person's is kept on a face
match) and those the redaction detector finds on the main picture.  When the buffer no
longer holds that time, the substream's evidence (already blurred) is scaled up to the main
size instead, and counted in :attr:`fallbacks`.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

import cv2
import numpy as np

from citywatch.decisions.types import FaceMatch, PlateRead, Sighting
from citywatch.engine.worker import PipelineLike
from citywatch.sources.mainstream import BoxMap, ClockLink, picture_at, size_of
from citywatch.sources.recorder import PacketBuffer
from citywatch.vision.boxes import box_iou
from citywatch.vision.faces.base import FaceDetector
from citywatch.vision.record import FloatArray, Frame, FrameRecord, ImageBGR
from citywatch.vision.redact import SAME_FACE_IOU, blur_faces

log = logging.getLogger(__name__)

#: Analysed frames remembered for a later snapshot (at 5 fps, four minutes: longer than a
#: track lives before its decision).
REMEMBER_FRAMES = 1200
#: A main-stream face this close (IoU) to the matched person's mapped box is that person.


@dataclass(frozen=True, slots=True)
class _Seen:
    pts_s: float
    size: tuple[int, int]  # substream (width, height)
    faces: FloatArray  # substream face boxes of that frame


@dataclass(frozen=True, slots=True)
class _Mapped:
    seen: _Seen
    main_size: tuple[int, int]


@dataclass
class EvidenceStats:
    snapshots: int = 0  # main pictures decoded for a stored snapshot
    pictures_decoded: int = 0  # pictures decoded to find them (at most a group each)
    fallbacks: int = 0  # the buffer no longer held the time: the substream's, scaled up


class MainStreamEvidence:
    """Thread-safe: the analysis thread maps, the recorder (same thread in the engines)
    asks for pictures."""

    def __init__(
        self,
        camera_id: str,
        buffer: PacketBuffer,
        link: ClockLink,
        *,
        redactor: Callable[[], FaceDetector] | None,
        min_score: float,
        mask: Callable[[ImageBGR], ImageBGR] | None = None,
        remember: int = REMEMBER_FRAMES,
    ) -> None:
        self.camera_id = camera_id
        self._buffer = buffer
        self._link = link
        self._redactor = redactor
        self._min_score = min_score
        self._mask = mask
        self._remember = remember
        self._lock = threading.Lock()
        self._seen: OrderedDict[float, _Seen] = OrderedDict()
        self._mapped: OrderedDict[tuple[str, int, float], _Mapped] = OrderedDict()
        self.stats = EvidenceStats()

    def wrap(self, pipeline: PipelineLike) -> DualStreamPipeline:
        return DualStreamPipeline(pipeline, self)

    # ---------------------------------------------------------------- analysis thread
    def remember(self, record: FrameRecord) -> None:
        f = record.frame
        seen = _Seen(f.pts_s, (f.width, f.height), np.asarray(record.faces.xyxy, np.float32))
        with self._lock:
            self._seen[f.wall_time] = seen
            while len(self._seen) > self._remember:
                self._seen.popitem(last=False)

    def main_size(self) -> tuple[int, int] | None:
        packets = self._buffer.snapshot()
        if not packets:
            return None
        info = packets[-1].info
        return (info.width, info.height) if info.width > 0 and info.height > 0 else None

    def map(self, s: Sighting) -> Sighting:
        """The sighting with its box on the main frame (unchanged when the main stream's
        size is not known yet, or when the evidence frame is not remembered)."""
        if not isinstance(s, FaceMatch | PlateRead):
            return s
        main = self.main_size()
        with self._lock:
            seen = self._seen.get(s.frame_wall_time)
        if main is None or seen is None:
            return s
        mapped = replace(s, box=BoxMap(seen.size, main).box(s.box))
        with self._lock:
            self._mapped[_key(mapped)] = _Mapped(seen, main)
            while len(self._mapped) > self._remember:
                self._mapped.popitem(last=False)
        return mapped

    # ---------------------------------------------------------------- snapshot (lazy)
    def picture(self, s: FaceMatch | PlateRead) -> ImageBGR | None:
        """The evidence picture for a stored snapshot, in the coordinates of ``s.box``."""
        with self._lock:
            m = self._mapped.get(_key(s))
        if m is None:
            return s.evidence  # not mapped: the substream's picture and box agree
        target = self._link.to_main(m.seen.pts_s)
        pic = picture_at(self._buffer.snapshot(), target)
        if pic is None:
            self.stats.fallbacks += 1
            log.info(
                "camera %s: main stream no longer holds %.2f s: substream snapshot scaled up",
                self.camera_id,
                target,
            )
            if s.evidence is None:
                return None
            w, h = m.main_size
            return np.asarray(
                cv2.resize(s.evidence, (w, h), interpolation=cv2.INTER_LINEAR), np.uint8
            )
        self.stats.snapshots += 1
        self.stats.pictures_decoded += pic.decoded
        image = self._mask(pic.image) if self._mask is not None else pic.image
        return self._blur(image, s, m.seen)

    def _blur(self, image: ImageBGR, s: FaceMatch | PlateRead, seen: _Seen) -> ImageBGR:
        to_main = BoxMap(seen.size, size_of(image))
        faces = to_main.boxes(seen.faces)
        keep: int | None = None
        if isinstance(s, FaceMatch) and len(faces):
            kept = np.asarray(s.box, np.float32).reshape(1, 4)
            keep = int(np.argmax(box_iou(kept, faces)[0]))
        if self._redactor is not None:
            found = self._redactor().detect(image)
            more = np.asarray(found.xyxy[found.score >= self._min_score], np.float32)
            more = more.reshape(-1, 4)
            if keep is not None and len(more):
                same = box_iou(faces[keep : keep + 1], more)[0] >= SAME_FACE_IOU
                more = more[~same]
            faces = np.concatenate([faces, more]) if len(more) else faces
        return blur_faces(image, faces, keep=keep)


def _key(s: FaceMatch | PlateRead) -> tuple[str, int, float]:
    return (type(s).__name__, s.track_id, s.frame_wall_time)


class DualStreamPipeline:
    """A camera pipeline whose results carry main-stream boxes (see the module)."""

    def __init__(self, inner: PipelineLike, evidence: MainStreamEvidence) -> None:
        self.inner = inner
        self.evidence = evidence

    def __getattr__(self, name: str) -> object:
        # counters, face_decider, ... of the wrapped pipeline (health, refresher)
        return getattr(self.inner, name)

    def process(self, frame: Frame) -> tuple[FrameRecord, list[Sighting]]:
        record, sightings = self.inner.process(frame)
        self.evidence.remember(record)
        return record, [self.evidence.map(s) for s in sightings]

    def flush(self) -> list[Sighting]:
        return [self.evidence.map(s) for s in self.inner.flush()]
