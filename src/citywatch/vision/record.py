"""The typed record that flows through the per-camera pipeline.

A source yields a :class:`Frame`; each stage (motion gate, face detector, plate reader,
tracker) takes a :class:`FrameRecord` and returns it with its own part filled in.  Boxes are
always ``xyxy`` float32 pixel coordinates of the full frame.  Nothing here imports a model
back end: back ends convert their output into these types at the edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
ImageBGR = npt.NDArray[np.uint8]


class RecordShapeError(ValueError):
    """A record was built with arrays of inconsistent shapes."""


def _check(name: str, arr: np.ndarray, shape: tuple[int | None, ...]) -> None:
    if arr.ndim != len(shape) or any(
        want is not None and got != want for got, want in zip(arr.shape, shape, strict=True)
    ):
        pretty = tuple("N" if s is None else s for s in shape)
        raise RecordShapeError(f"{name}: expected shape {pretty}, got {arr.shape}")


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded picture from one camera.

    ``pts_s`` is media time in seconds since the stream (or file) started; ``wall_time`` is the
    Unix time at which the frame was decoded (used for latency and for stored timestamps).
    """

    camera_id: str
    index: int
    pts_s: float
    wall_time: float
    image: ImageBGR

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            raise RecordShapeError(
                f"Frame.image for camera {self.camera_id!r}: expected HxWx3 uint8 BGR, "
                f"got shape {self.image.shape} dtype {self.image.dtype}"
            )

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


@dataclass(frozen=True, slots=True)
class Detections:
    """N detections of one kind in one frame, as parallel arrays.

    ``track_id`` is -1 until a tracker assigns one.  ``landmarks`` holds five (x, y) points per
    face when a detector or landmarker provides them.  ``quality`` is a 0..1 score that the
    quality filter fills in.  ``text``/``text_score`` are plate reads (empty strings for faces).
    """

    xyxy: FloatArray
    score: FloatArray
    track_id: IntArray
    landmarks: FloatArray | None = None
    quality: FloatArray | None = None
    text: tuple[str, ...] = ()
    text_score: FloatArray | None = None

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        _check("xyxy", self.xyxy, (None, 4))
        _check("score", self.score, (n,))
        _check("track_id", self.track_id, (n,))
        if self.landmarks is not None:
            _check("landmarks", self.landmarks, (n, 5, 2))
        if self.quality is not None:
            _check("quality", self.quality, (n,))
        if self.text and len(self.text) != n:
            raise RecordShapeError(f"text: expected {n} entries, got {len(self.text)}")
        if self.text_score is not None:
            _check("text_score", self.text_score, (n,))

    @classmethod
    def empty(cls) -> Detections:
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            score=np.zeros((0,), np.float32),
            track_id=np.zeros((0,), np.int64),
        )

    @classmethod
    def from_boxes(
        cls,
        xyxy: npt.ArrayLike,
        score: npt.ArrayLike,
        *,
        landmarks: npt.ArrayLike | None = None,
        text: tuple[str, ...] = (),
        text_score: npt.ArrayLike | None = None,
    ) -> Detections:
        boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        return cls(
            xyxy=boxes,
            score=np.asarray(score, dtype=np.float32).reshape(-1),
            track_id=np.full((len(boxes),), -1, np.int64),
            landmarks=None
            if landmarks is None
            else np.asarray(landmarks, np.float32).reshape(-1, 5, 2),
            text=text,
            text_score=None if text_score is None else np.asarray(text_score, np.float32),
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def select(self, mask: npt.NDArray[np.bool_] | npt.NDArray[np.int64]) -> Detections:
        """A subset by boolean mask or index array, all fields kept in step."""
        idx = np.flatnonzero(mask) if np.asarray(mask).dtype == np.bool_ else np.asarray(mask)
        return Detections(
            xyxy=self.xyxy[idx],
            score=self.score[idx],
            track_id=self.track_id[idx],
            landmarks=None if self.landmarks is None else self.landmarks[idx],
            quality=None if self.quality is None else self.quality[idx],
            text=tuple(self.text[i] for i in idx) if self.text else (),
            text_score=None if self.text_score is None else self.text_score[idx],
        )

    def with_tracks(self, track_id: IntArray) -> Detections:
        return replace(self, track_id=np.asarray(track_id, np.int64))

    def with_quality(self, quality: FloatArray) -> Detections:
        return replace(self, quality=np.asarray(quality, np.float32))

    @property
    def widths(self) -> FloatArray:
        return self.xyxy[:, 2] - self.xyxy[:, 0]

    @property
    def heights(self) -> FloatArray:
        return self.xyxy[:, 3] - self.xyxy[:, 1]


@dataclass(frozen=True, slots=True)
class Vehicles:
    """N vehicles in one frame: boxes (xyxy), the detector's score, the kind (``car``,
    ``truck`` for a van or lorry, ``bus``, ``motorcycle``) and the colour named from the
    body (``""`` where none was named) with its share of the body's pixels (0..1)."""

    xyxy: FloatArray
    score: FloatArray
    kind: tuple[str, ...]
    colour: tuple[str, ...] = ()
    colour_score: FloatArray | None = None

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        _check("vehicles.xyxy", self.xyxy, (None, 4))
        _check("vehicles.score", self.score, (n,))
        if len(self.kind) != n:
            raise RecordShapeError(f"vehicles.kind: expected {n} entries, got {len(self.kind)}")
        if self.colour and len(self.colour) != n:
            raise RecordShapeError(f"vehicles.colour: expected {n} entries, got {len(self.colour)}")
        if self.colour_score is not None:
            _check("vehicles.colour_score", self.colour_score, (n,))

    @classmethod
    def empty(cls) -> Vehicles:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), ())

    def __len__(self) -> int:
        return len(self.xyxy)


@dataclass(frozen=True, slots=True)
class Motion:
    """What the motion gate saw: whether anything moved, and where (xyxy boxes, full-frame px)."""

    moving: bool
    fraction: float
    regions: FloatArray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    warmup: bool = False  # no background model yet: the whole frame counts as moving


@dataclass(slots=True)
class FrameRecord:
    """Everything known about one frame as it passes through the stages.

    Face crops and embeddings are never put on the record: they live inside the face track
    aggregator for the life of a track and are dropped when the track ends without a match.
    """

    frame: Frame
    motion: Motion | None = None
    faces: Detections = field(default_factory=Detections.empty)
    plates: Detections = field(default_factory=Detections.empty)
    vehicles: Vehicles = field(default_factory=Vehicles.empty)  # filled with plate reads
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def camera_id(self) -> str:
        return self.frame.camera_id
