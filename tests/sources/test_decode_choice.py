"""Decode only what is analysed (issue 18): the decoder setting chosen per camera."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from pydantic import SecretStr

from citywatch.config.camera import CameraConfig
from citywatch.sources.decode import StreamFacts, choose_decode, h264_is_reference
from citywatch.sources.pyav import CameraSource


def facts(fps: float, gop: int, ref_share: float | None) -> StreamFacts:
    return StreamFacts("h264", 1280, 720, fps, gop, ref_share)


@pytest.mark.parametrize(
    ("stream", "fps", "want"),
    [
        (facts(25, 50, 1.0), 5, "DEFAULT"),  # every picture a reference (no B-frames)
        (facts(25, 50, 0.5), 5, "NONREF"),  # references at 12.5/s >= 2 x 5
        (facts(25, 50, 0.5), 8, "DEFAULT"),  # 12.5/s < 2 x 8: the spacing would suffer
        (facts(10, 10, 0.41), 5, "DEFAULT"),  # the quiet scene: 4.1 references/s
        (facts(25, 5, 0.5), 5, "NONKEY"),  # a keyframe every 0.2 s covers 5 fps
        (facts(25, 5, 0.5), 6, "NONREF"),
        (facts(25, 0, None), 5, "DEFAULT"),  # nothing known yet (not H.264, or too soon)
        (facts(0, 50, 0.5), 5, "DEFAULT"),  # no frame rate: no skip
    ],
)
def test_choose_decode(stream: StreamFacts, fps: float, want: str) -> None:
    got = choose_decode(stream, fps)
    assert got.skip == want and got.threads == 1 and got.why


def test_keyframes_only_is_obeyed() -> None:
    assert choose_decode(facts(25, 50, 1.0), 5, keyframes_only=True).skip == "NONKEY"


@pytest.mark.parametrize(
    ("data", "prefixed", "want"),
    [
        (b"\x00\x00\x00\x01\x67\x42" + b"\x00\x00\x00\x01\x65\x88", False, True),  # SPS, IDR
        (b"\x00\x00\x01\x01\x9e", False, False),  # a non-reference slice (nal_ref_idc 0)
        (b"\x00\x00\x01\x41\x9a", False, True),  # a reference P slice
        (b"\x00\x00\x00\x02\x01\x9e", True, False),  # length-prefixed, non-reference
        (b"\x00\x00\x01\x02" + b"\x41" * 258, True, True),  # a length that looks like 001
        (b"\x00\x00\x00\x02\x06\x05", True, None),  # SEI only: no slice
    ],
)
def test_h264_reference_from_the_slice_header(
    data: bytes, prefixed: bool, want: bool | None
) -> None:
    assert h264_is_reference(data, prefixed) is want


def _encode(path: Path, bframes: int) -> Path:
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 320, 180, "yuv420p"
        s.options = {"g": "50", "bf": str(bframes), "b-pyramid": "none", "preset": "veryfast"}
        rng = np.random.default_rng(1)
        base = rng.integers(0, 255, (180, 320, 3), np.uint8)
        for i in range(150):
            img = np.roll(base, i * 2, axis=1)
            out.mux(s.encode(av.VideoFrame.from_ndarray(img, format="bgr24")))
        out.mux(s.encode(None))
    return path


@pytest.mark.parametrize(
    ("bframes", "want"), [(0, "every picture ("), (1, "reference pictures only")]
)
def test_the_source_reports_its_choice_in_health(tmp_path: Path, bframes: int, want: str) -> None:
    video = _encode(tmp_path / f"b{bframes}.mp4", bframes)
    cam = CameraConfig(id="c", url=SecretStr(str(video)), analyse_fps=5)
    src = CameraSource(cam)
    frames = list(src.frames())
    assert len(frames) == 30  # 6 s at 5 fps, whatever is skipped
    gaps = np.diff([f.pts_s for f in frames])
    assert gaps.max() <= 0.2 + 1 / 25 + 1e-6  # evenly spaced still
    assert want in src.health.decode and "1 thread" in src.health.decode
    if bframes:
        assert src.health.frames_decoded < 150  # the non-reference pictures were skipped
