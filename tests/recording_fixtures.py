"""Generated H.264 footage and a fake face detector for the clip and recording tests."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from citywatch.vision.record import Detections

W, H, FPS = 320, 240, 25
#: two "faces" on every picture: the matched person's and a passer-by's
FACE_A = (20.0, 60.0, 100.0, 140.0)
FACE_B = (200.0, 60.0, 280.0, 140.0)


def checkers(h: int, w: int, cell: int = 4) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.where(((yy // cell) + (xx // cell)) % 2 == 0, 235, 20).astype(np.uint8)


def picture(i: int) -> np.ndarray:
    img = np.full((H, W, 3), 110, np.uint8)
    img[:, :, 0] = (i * 7) % 255  # changes with time: every picture differs
    for x1, y1, x2, y2 in (FACE_A, FACE_B):
        pat = checkers(int(y2 - y1), int(x2 - x1))
        img[int(y1) : int(y2), int(x1) : int(x2)] = pat[:, :, None]
    return img


def write_h264(path: Path, seconds: float = 8.0, gop: int = FPS) -> Path:
    """``seconds`` of W x H H.264 at FPS, a keyframe every ``gop`` pictures."""
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0", "bframes": "0"}
        for i in range(int(seconds * FPS)):
            out.mux(s.encode(av.VideoFrame.from_ndarray(picture(i), format="bgr24")))
        out.mux(s.encode(None))
    return path


class FixedFaces:
    """A face detector that finds FACE_A and FACE_B on every picture."""

    name = "fixed"

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image: np.ndarray) -> Detections:
        self.calls += 1
        return Detections(
            xyxy=np.array([FACE_A, FACE_B], np.float32),
            score=np.array([0.9, 0.9], np.float32),
            track_id=np.array([-1, -1], np.int64),
        )


def detail(image: np.ndarray, box: tuple[float, float, float, float]) -> float:
    """Standard deviation of the grey pixels inside ``box`` (a checkerboard: ~100; blurred: ~0)."""
    x1, y1, x2, y2 = (int(v) for v in box)
    return float(image[y1 + 8 : y2 - 8, x1 + 8 : x2 - 8].astype(np.float32).mean(axis=2).std())


def read_frames(path: Path) -> tuple[str, list[np.ndarray], float]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(s)]
        return s.codec_context.name, frames, float((c.duration or 0) / 1e6)
