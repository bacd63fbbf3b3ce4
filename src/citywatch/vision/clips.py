"""Evidence clips keep the snapshots' rule: every face but the matched person's is blurred.

:func:`redact_clip` takes a clip's decoded pictures, blacks out the camera's privacy masks,
finds the faces on every picture (the configured detector, down to its ``redact_min_score``),
follows the matched person's face from the decision's picture forwards and backwards by box
overlap, blurs every other face (every face for a plate alert, or when the matched face is
lost), and encodes the result as H.264 in MP4 (``+faststart``: the browser plays it before it
has all of it).  When the following is in doubt the face is blurred: a clip never shows more
than the snapshot rule allows.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import numpy as np

from citywatch.vision.boxes import box_iou
from citywatch.vision.faces.base import FaceDetector
from citywatch.vision.record import FloatArray, ImageBGR
from citywatch.vision.redact import blur_faces

#: Overlap (IoU) a face box needs with the matched face on the next picture to be the same
#: person; below it the face is blurred.
FOLLOW_IOU = 0.3
CRF = 26  # x264 quality: evidence must stay legible, files small
PRESET = "veryfast"
_FASTSTART = {"movflags": "+faststart"}


@dataclass(frozen=True, slots=True)
class Keep:
    """The matched person: their face box in the evidence picture, taken between ``from_s``
    and ``to_s`` (the track's first and last sighting).  The clip's picture with the face that
    best overlaps it there is where the following starts."""

    box: tuple[float, float, float, float]
    from_s: float
    to_s: float


@dataclass(frozen=True, slots=True)
class ClipPicture:
    media_s: float
    image: ImageBGR


class Picture(Protocol):
    """A clip's picture: a :class:`ClipPicture`, or a decoded one that converts on reading."""

    @property
    def media_s(self) -> float: ...

    @property
    def image(self) -> ImageBGR: ...


#: A clip's pictures: held in a sequence, or a function yielding them afresh on every call.
Pictures = Sequence[Picture] | Callable[[], Iterable[Picture]]


@dataclass(frozen=True, slots=True)
class RedactedClip:
    data: bytes
    pictures: int
    faces_blurred: int
    kept: int  # pictures on which the matched face was followed and left unblurred
    start_s: float
    end_s: float


def _faces(detector: FaceDetector, image: ImageBGR, min_score: float) -> FloatArray:
    found = detector.detect(image)
    return np.asarray(found.xyxy[found.score >= min_score], np.float32).reshape(-1, 4)


def follow(boxes: Sequence[FloatArray], anchor: int, box: FloatArray) -> list[int | None]:
    """Per picture, the index of the matched person's face, followed from picture ``anchor``
    (where it is the box best overlapping ``box``) forwards and backwards by the best
    overlap with the previous picture's; ``None`` from where it is lost."""
    out: list[int | None] = [None] * len(boxes)

    def best(candidates: FloatArray, ref: FloatArray) -> int | None:
        if len(candidates) == 0:
            return None
        ious = box_iou(ref.reshape(1, 4), candidates)[0]
        i = int(np.argmax(ious))
        return i if ious[i] >= FOLLOW_IOU else None

    start = best(boxes[anchor], box)
    if start is None:
        return out
    out[anchor] = start
    for step in (1, -1):
        ref = boxes[anchor][start]
        i = anchor + step
        while 0 <= i < len(boxes):
            j = best(boxes[i], ref)
            if j is None:
                break
            out[i] = j
            ref = boxes[i][j]
            i += step
    return out


def redact_clip(
    pictures: Pictures,
    detector: FaceDetector,
    *,
    min_score: float,
    keep: Keep | None,
    mask: Callable[[ImageBGR], ImageBGR] | None = None,
    rate: Fraction | None = None,
) -> RedactedClip:
    """Blur, encode, return the MP4 bytes.  ``keep=None`` blurs every face.

    Two passes over ``pictures``: faces are found on the first (only their boxes kept), then
    each picture is blurred and encoded on the second.  Given a function that decodes the
    clip again on each call, no more than one picture is held at a time (holding a clip's
    pictures at once raised a camera's resident memory by 150 MB at 960x540 in the soak)."""
    again = (lambda: pictures) if isinstance(pictures, Sequence) else pictures

    def masked(p: Picture) -> ImageBGR:  # read on each pass: converted, then masked
        return mask(p.image) if mask is not None else p.image

    times: list[float] = []
    boxes: list[FloatArray] = []
    h = w = 0
    for p in again():
        im = masked(p)
        if not times:
            h, w = im.shape[:2]
        times.append(p.media_s)
        boxes.append(_faces(detector, im, min_score))
    if not times:
        raise ValueError("redact_clip: the clip holds no picture")
    kept: list[int | None] = [None] * len(times)
    if keep is not None:
        anchor = _anchor(times, boxes, keep)
        if anchor is not None:
            kept = follow(boxes, anchor, np.asarray(keep.box, np.float32))
    fps = rate or _rate_of(times)
    blurred = 0
    n = 0
    # +faststart rewrites the file after it is written: a real file, not memory
    with (
        tempfile.TemporaryDirectory(prefix="citywatch-clip-") as tmp,
        av.open(str(Path(tmp) / "clip.mp4"), "w", format="mp4", options=_FASTSTART) as out,
    ):
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = w - w % 2, h - h % 2
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(CRF), "preset": PRESET}
        for p in again():
            if n == len(times):
                raise ValueError("redact_clip: the second pass gave more pictures than the first")
            im = masked(p)
            faces, k = boxes[n], kept[n]
            n += 1
            if len(faces):
                im = blur_faces(im, faces, keep=k)
                blurred += len(faces) - (k is not None)
            if im.shape[:2] != (h, w):  # a reconnect changed the size: fit the first one
                im = np.asarray(_resize(im, w, h), np.uint8)
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(im[: stream.height, : stream.width]), format="bgr24"
            )
            out.mux(stream.encode(frame))
        if n != len(times):
            raise ValueError(
                f"redact_clip: the second pass gave {n} pictures, the first {len(times)}"
            )
        out.mux(stream.encode(None))
        out.close()
        data = (Path(tmp) / "clip.mp4").read_bytes()
    return RedactedClip(
        data, len(times), blurred, sum(k is not None for k in kept), times[0], times[-1]
    )


def _anchor(times: Sequence[float], boxes: Sequence[FloatArray], keep: Keep) -> int | None:
    """The picture of the track's span whose face overlaps the evidence box best."""
    ref = np.asarray(keep.box, np.float32).reshape(1, 4)
    best, best_iou = None, FOLLOW_IOU
    for i, (t, b) in enumerate(zip(times, boxes, strict=True)):
        if not keep.from_s - 1e-3 <= t <= keep.to_s + 1e-3 or len(b) == 0:
            continue
        iou = float(box_iou(ref, b).max())
        if iou >= best_iou:
            best, best_iou = i, iou
    return best


def _rate_of(times: Sequence[float]) -> Fraction:
    span = times[-1] - times[0]
    if len(times) < 2 or span <= 0:
        return Fraction(25)
    return Fraction(round((len(times) - 1) / span * 100), 100)


def _resize(image: ImageBGR, w: int, h: int) -> ImageBGR:
    import cv2

    return np.asarray(cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA), np.uint8)
