"""The typed record that flows through the per-camera pipeline.

A source yields a :class:`Frame`; each stage (motion gate, face detector, plate reader,
tracker) takes a :class:`FrameRecord` and returns it with its own part filled in.  Boxes are
always ``xyxy`` float32 pixel coordinates of the full frame.  Nothing here imports a model
back end: back ends convert their output into these types at the edge.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
ImageBGR = npt.NDArray[np.uint8]
GrayImage = npt.NDArray[np.uint8]  # HxW, one channel


class RecordShapeError(ValueError):
    """A record was built with arrays of inconsistent shapes."""


def _check(name: str, arr: np.ndarray, shape: tuple[int | None, ...]) -> None:
    if arr.ndim != len(shape) or any(
        want is not None and got != want for got, want in zip(arr.shape, shape, strict=True)
    ):
        pretty = tuple("N" if s is None else s for s in shape)
        raise RecordShapeError(f"{name}: expected shape {pretty}, got {arr.shape}")


@dataclass(frozen=True, slots=True)
class Luma:
    """A decoded picture's grey plane as the decoder holds it."""

    plane: GrayImage  # HxW uint8 (a view of the decoder's buffer: read it, never write it)
    video_range: bool  # black is 16 and white 235 (limited range), not 0 and 255


class Picture(Protocol):
    """A decoded picture not yet converted to BGR (a source's decoder output)."""

    @property
    def width(self) -> int: ...

    @property
    def height(self) -> int: ...

    def bgr(self) -> ImageBGR:
        """The picture as HxWx3 uint8 BGR (converted on each call)."""
        ...

    def luma(self) -> Luma | None:
        """Its luma plane without a conversion, or None when it has none."""
        ...


class Frame:
    """One decoded picture from one camera.

    ``pts_s`` is media time in seconds since the stream (or file) started; ``wall_time`` is the
    Unix time at which the frame was decoded (used for latency and for stored timestamps).

    A source may hand the decoder's ``picture`` instead of a BGR ``image``: it is converted
    the first time :attr:`image` is read, and once only.  A still frame is looked at by the
    motion gate alone, through :meth:`luma` (the picture's own grey plane), so it is never
    converted.  Immutable; pickled (Ray) with its BGR image.
    """

    __slots__ = ("_image", "_lock", "_picture", "_size", "camera_id", "index", "pts_s", "wall_time")

    camera_id: str
    index: int
    pts_s: float
    wall_time: float
    _image: ImageBGR | None
    _picture: Picture | None
    _size: tuple[int, int] | None  # (width, height); a picture's is read when first asked
    _lock: threading.Lock | None

    def __init__(
        self,
        camera_id: str,
        index: int,
        pts_s: float,
        wall_time: float,
        image: ImageBGR | None = None,
        *,
        picture: Picture | None = None,
    ) -> None:
        if (image is None) == (picture is None):
            raise RecordShapeError(
                f"Frame for camera {camera_id!r}: give either a BGR image or a picture"
            )
        if image is not None and (
            image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8
        ):
            raise RecordShapeError(
                f"Frame.image for camera {camera_id!r}: expected HxWx3 uint8 BGR, "
                f"got shape {image.shape} dtype {image.dtype}"
            )
        size = (int(image.shape[1]), int(image.shape[0])) if image is not None else None
        init = object.__setattr__
        init(self, "camera_id", camera_id)
        init(self, "index", index)
        init(self, "pts_s", pts_s)
        init(self, "wall_time", wall_time)
        init(self, "_image", image)
        init(self, "_picture", picture)
        init(self, "_size", size)
        init(self, "_lock", threading.Lock() if picture is not None else None)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Frame is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Frame is immutable: cannot delete {name!r}")

    def __reduce__(self) -> tuple[type[Frame], tuple[str, int, float, float, ImageBGR]]:
        return (Frame, (self.camera_id, self.index, self.pts_s, self.wall_time, self.image))

    def __repr__(self) -> str:
        w, h = self._dims()
        return (
            f"Frame(camera_id={self.camera_id!r}, index={self.index}, pts_s={self.pts_s!r}, "
            f"wall_time={self.wall_time!r}, size={w}x{h})"
        )

    @property
    def image(self) -> ImageBGR:
        """The picture as HxWx3 uint8 BGR (converted from the decoder's picture on first use)."""
        image = self._image
        if image is not None:
            return image
        assert self._lock is not None and self._picture is not None
        with self._lock:  # the analysis and the live view may ask at once: convert once
            if self._image is None:
                object.__setattr__(self, "_image", self._picture.bgr())
                object.__setattr__(self, "_picture", None)  # the decoder's buffer is let go
            image = self._image
        assert image is not None
        return image

    @property
    def converted(self) -> bool:
        """Whether the BGR image exists (given, or converted from the picture)."""
        return self._image is not None

    def luma(self) -> Luma | None:
        """The decoder's grey (luma) plane while the frame is not converted to BGR (no copy,
        no conversion); None once it is, or when the picture has none."""
        picture = self._picture
        return picture.luma() if picture is not None and self._image is None else None

    def _dims(self) -> tuple[int, int]:
        size = self._size
        if size is not None:
            return size
        assert self._lock is not None
        with self._lock:
            if self._size is None:
                image, picture = self._image, self._picture
                if image is not None:
                    size = (int(image.shape[1]), int(image.shape[0]))
                else:
                    assert picture is not None
                    size = (int(picture.width), int(picture.height))
                object.__setattr__(self, "_size", size)
            size = self._size
        assert size is not None
        return size

    def with_image(self, image: ImageBGR) -> Frame:
        """The same frame with another BGR image (the privacy masks blacked out)."""
        return Frame(self.camera_id, self.index, self.pts_s, self.wall_time, image)

    @property
    def height(self) -> int:
        return self._dims()[1]

    @property
    def width(self) -> int:
        return self._dims()[0]


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
