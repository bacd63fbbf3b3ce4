"""A decoded PyAV picture handed on unconverted: BGR when something asks for it, its luma
plane as the decoder holds it (what the motion gate reads of a still frame)."""

from __future__ import annotations

import av
import numpy as np

from citywatch.vision.record import ImageBGR, Luma

#: Pixel formats whose first plane is the picture's luma, one byte per pixel.
LUMA_FIRST = frozenset(
    {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21", "gray"}
)


class AvPicture:
    """A decoded PyAV picture as a :class:`~citywatch.vision.record.Picture`: BGR on demand,
    its luma plane as it is (a view of the decoder's buffer)."""

    __slots__ = ("_frame",)

    def __init__(self, frame: av.VideoFrame) -> None:
        self._frame = frame

    @property
    def width(self) -> int:
        return int(self._frame.width)

    @property
    def height(self) -> int:
        return int(self._frame.height)

    def bgr(self) -> ImageBGR:
        return np.asarray(self._frame.to_ndarray(format="bgr24"), dtype=np.uint8)

    def luma(self) -> Luma | None:
        frame = self._frame
        name = frame.format.name
        if name not in LUMA_FIRST:
            return None
        plane = frame.planes[0]
        rows = np.frombuffer(memoryview(plane), np.uint8)[: plane.line_size * frame.height]
        full = name.startswith("yuvj") or name == "gray" or _full_range(frame)
        view = rows.reshape(frame.height, plane.line_size)[:, : frame.width]
        view.flags.writeable = False  # the decoder's own memory (its reference pictures)
        return Luma(view, not full)


def _full_range(frame: av.VideoFrame) -> bool:
    """The picture says its samples use the full 0-255 range (FFmpeg's AVCOL_RANGE_JPEG)."""
    return int(getattr(frame, "color_range", 0) or 0) == 2
