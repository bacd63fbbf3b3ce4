"""Frames converted to BGR only when something looks at more than their grey plane (issue 18:
an idle camera is nearly free): a still frame is never converted, and nothing is lost."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import SecretStr

from citywatch.config.camera import CameraConfig
from citywatch.demo.footage import make_demo_videos
from citywatch.sources.picture import AvPicture
from citywatch.sources.pyav import CameraSource
from citywatch.vision.masks import PrivacyMasker
from citywatch.vision.motion import MotionGate
from citywatch.vision.record import Frame, ImageBGR, Luma, RecordShapeError
from tests.accountability.fakes import GREEN, RED, fake_pipeline, scene


class StubPicture:
    """A decoder's picture over a BGR image; counts its conversions."""

    def __init__(self, image: ImageBGR, *, has_luma: bool = True) -> None:
        self._image = image
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        self._luma = Luma(grey, video_range=False) if has_luma else None
        self.conversions = 0

    @property
    def width(self) -> int:
        return int(self._image.shape[1])

    @property
    def height(self) -> int:
        return int(self._image.shape[0])

    def bgr(self) -> ImageBGR:
        self.conversions += 1
        return self._image.copy()

    def luma(self) -> Luma | None:
        return self._luma


def test_a_lazy_frame_converts_once_and_only_when_its_image_is_read() -> None:
    img = scene([(RED, 100, 100)])
    pic = StubPicture(img)
    frame = Frame("c", 7, 1.4, 1000.0, picture=pic)
    assert (frame.width, frame.height, frame.converted, pic.conversions) == (640, 360, False, 0)
    luma = frame.luma()
    assert luma is not None and luma.plane.shape == (360, 640)
    assert np.array_equal(frame.image, img) and frame.image is frame.image
    assert pic.conversions == 1 and frame.converted
    assert frame.luma() is None  # converted: the gate takes the BGR image from now on
    assert "size=640x360" in repr(frame) and "array" not in repr(frame)
    with pytest.raises(AttributeError, match="immutable"):
        frame.index = 8  # type: ignore[misc]


def test_an_eager_frame_is_as_before() -> None:
    img = scene([])
    frame = Frame("c", 0, 0.0, 1.0, img)
    assert frame.image is img and frame.converted and frame.luma() is None
    assert (frame.width, frame.height) == (640, 360)
    for bad in (np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32)):
        with pytest.raises(RecordShapeError, match="HxWx3 uint8"):
            Frame("c", 0, 0.0, 1.0, bad)
    with pytest.raises(RecordShapeError, match="either"):
        Frame("c", 0, 0.0, 1.0)
    with pytest.raises(RecordShapeError, match="either"):
        Frame("c", 0, 0.0, 1.0, img, picture=StubPicture(img))


def test_a_pickled_frame_carries_its_image() -> None:
    img = scene([(GREEN, 20, 30)])
    data = pickle.dumps(Frame("c", 3, 0.6, 5.0, picture=StubPicture(img)))
    back = pickle.loads(data)  # noqa: S301 (our own bytes)
    assert (back.camera_id, back.index, back.pts_s, back.wall_time) == ("c", 3, 0.6, 5.0)
    assert back.converted and np.array_equal(back.image, img)


def test_privacy_masks_work_on_the_converted_picture() -> None:
    img = scene([(RED, 100, 100)])
    pic = StubPicture(img)
    frame = Frame("c", 0, 0.0, 1.0, picture=pic)
    assert PrivacyMasker([]).apply_frame(frame) is frame and pic.conversions == 0
    masked = PrivacyMasker([[(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]]).apply_frame(frame)
    assert pic.conversions == 1 and masked.converted and masked.luma() is None
    assert masked.image[10, 5].tolist() == [0, 0, 0] and masked.index == frame.index


def _run(frames: list[Frame]) -> tuple[list[object], int]:
    pipeline, detector, _ = fake_pipeline()
    pipeline = dataclasses.replace(pipeline, motion=MotionGate())
    out: list[object] = []
    for f in frames:
        out.extend(pipeline.process(f)[1])
    out.extend(pipeline.flush())
    return out, detector.calls


def test_still_frames_are_never_converted_and_the_match_is_the_same() -> None:
    """20 still frames, then "ann" (red) walks in: the same sightings from lazy frames as from
    BGR ones, and only the frames with motion (and the gate's warm-up) were converted."""
    images = [scene([]) for _ in range(20)] + [scene([(RED, 40 + 6 * i, 120)]) for i in range(12)]
    eager, eager_calls = _run(
        [Frame("c", i, i / 5, 100 + i / 5, im) for i, im in enumerate(images)]
    )
    pictures = [StubPicture(im) for im in images]
    lazy, lazy_calls = _run(
        [Frame("c", i, i / 5, 100 + i / 5, picture=p) for i, p in enumerate(pictures)]
    )
    assert [type(s).__name__ for s in lazy] == [type(s).__name__ for s in eager]
    assert [getattr(s, "subject_name", None) for s in lazy] == ["ann"]
    assert lazy_calls == eager_calls
    converted = [i for i, p in enumerate(pictures) if p.conversions]
    assert all(p.conversions <= 1 for p in pictures)
    assert converted[:3] == [0, 1, 2]  # the gate's warm-up treats everything as moving
    assert not [i for i in converted if 3 <= i < 20]  # the still frames: never
    assert [i for i in converted if i >= 20] == list(range(20, 32))


def _hull(regions: np.ndarray) -> np.ndarray:
    return np.concatenate([regions[:, :2].min(axis=0), regions[:, 2:].max(axis=0)])


def test_the_gate_sees_the_same_motion_on_the_grey_plane(tmp_path: Path) -> None:
    """The decoder's luma is limited range (16-235): stretched, the gate finds on it what it
    finds on the converted BGR picture, frame by frame, on the demo's three scenes."""
    import av

    footage = make_demo_videos(tmp_path, seconds=4, fps=5, size=(640, 360))
    for cam in footage.videos:
        on_bgr, on_luma = MotionGate(), MotionGate()
        moving = 0
        with av.open(str(footage.path(cam))) as container:
            for vf in container.decode(video=0):
                picture = AvPicture(vf)
                luma = picture.luma()
                assert luma is not None and luma.video_range
                a, b = on_bgr.update(picture.bgr()), on_luma.update(luma)
                assert a.moving == b.moving and abs(a.fraction - b.fraction) < 0.01, (cam, a, b)
                if a.moving and not a.warmup:
                    moving += 1
                    # the same place (the regions may split differently): their hull
                    hull_a, hull_b = _hull(a.regions), _hull(b.regions)
                    assert np.abs(hull_a - hull_b).max() < 40, (a.regions, b.regions)
        assert moving >= 15, cam  # something walks or drives through each scene


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    footage = make_demo_videos(tmp_path_factory.mktemp("lazy"), seconds=0.6, fps=5, size=(320, 180))
    return footage.path("cam-street")


def test_the_source_hands_lazy_frames_whose_luma_is_the_decoders(clip: Path) -> None:
    source = CameraSource(CameraConfig(id="c", url=SecretStr(str(clip)), analyse_fps=5))
    frames = list(source.frames())
    assert len(frames) == 3 and not any(f.converted for f in frames)
    for f in frames:
        luma = f.luma()
        assert luma is not None and luma.video_range
        assert luma.plane.shape == (180, 320) and luma.plane.dtype == np.uint8
        assert not luma.plane.flags.writeable  # the decoder's memory: never written
        grey = cv2.cvtColor(f.image, cv2.COLOR_BGR2GRAY).astype(np.float32)
        # BT.601 limited range: Y = 16 + 219/255 of the full-range grey of the same picture
        assert float(np.abs(luma.plane - (16 + grey * 219 / 255)).mean()) < 2.0
        assert f.image.shape == (180, 320, 3) and f.converted and f.luma() is None


def test_a_picture_without_a_luma_plane_falls_back_to_bgr() -> None:
    import av

    frame = av.VideoFrame.from_ndarray(scene([]), format="bgr24")
    pic = AvPicture(frame)
    assert pic.luma() is None and pic.bgr().shape == (360, 640, 3)
    for fmt, video_range in (("yuv420p", True), ("yuvj420p", False), ("gray", False)):
        luma = AvPicture(frame.reformat(format=fmt)).luma()
        assert luma is not None and luma.plane.shape == (360, 640), fmt
        assert luma.video_range is video_range, fmt
