"""The demo footage: decodes, is deterministic, and is good enough for the real models."""

from __future__ import annotations

import json
import re
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from citywatch.demo.footage import (
    DEMO_PLATE,
    OTHER_PLATE,
    DemoFootage,
    make_demo_videos,
    render_plate,
)
from citywatch.vision.record import ImageBGR

CAMS = ("cam-entrance", "cam-street", "cam-square")


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> DemoFootage:
    return make_demo_videos(tmp_path_factory.mktemp("demo"))


def _frames(path: Path) -> list[ImageBGR]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


@pytest.fixture(scope="module")
def decoded(footage: DemoFootage) -> dict[str, list[ImageBGR]]:
    return {cam: _frames(footage.path(cam)) for cam in CAMS}


def _alnum(text: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def test_three_videos_decode_with_the_right_frames_and_size(
    footage: DemoFootage, decoded: dict[str, list[ImageBGR]]
) -> None:
    assert set(footage.videos) == set(CAMS)
    for cam in CAMS:
        video = footage.videos[cam]
        assert video.path == footage.out_dir / f"{cam}.mp4"
        with av.open(str(video.path)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name in {"h264", "mpeg4"}
        frames = decoded[cam]
        assert len(frames) == video.frames == 80
        assert all(f.shape == (540, 960, 3) for f in frames)
        assert float(np.std(frames[40])) > 10  # a scene, not a blank


def test_ground_truth_is_written_and_consistent(footage: DemoFootage) -> None:
    doc = json.loads(footage.truth_path.read_text(encoding="utf-8"))
    assert doc["plate_text"] == footage.plate_text == DEMO_PLATE
    assert doc["other_plate_text"] == footage.other_plate_text == OTHER_PLATE
    assert _alnum(OTHER_PLATE) != _alnum(DEMO_PLATE)
    for cam in CAMS:
        assert len(doc["videos"][cam]["truth"]) == len(footage.videos[cam].truth)
    entrance, street, square = (footage.videos[c] for c in CAMS)
    assert not street.boxes("face") and not square.boxes("face")
    assert {t.label for t in street.boxes("plate")} == {DEMO_PLATE}
    assert {t.label for t in square.boxes("plate")} == {OTHER_PLATE}
    assert entrance.boxes("object") and square.boxes("object")  # the non-matching movers
    for video in footage.videos.values():
        for t in video.truth:
            x0, y0, x1, y1 = t.box
            assert 0 <= x0 < x1 <= 960 and 0 <= y0 < y1 <= 540


def test_face_and_plate_are_big_enough_for_two_seconds(footage: DemoFootage) -> None:
    fps = footage.videos["cam-entrance"].fps
    faces = footage.videos["cam-entrance"].boxes("face")
    big_faces = [t for t in faces if t.box[3] - t.box[1] >= 90]
    assert len(big_faces) >= 2 * fps
    plates = footage.videos["cam-street"].boxes("plate")
    wide_plates = [t for t in plates if t.box[2] - t.box[0] >= 140]
    assert len(wide_plates) >= 2 * fps


def test_generation_is_deterministic(tmp_path: Path) -> None:
    a = make_demo_videos(tmp_path / "a", seconds=0.6, fps=5, size=(320, 180), seed=3)
    b = make_demo_videos(tmp_path / "b", seconds=0.6, fps=5, size=(320, 180), seed=3)
    c = make_demo_videos(tmp_path / "c", seconds=0.6, fps=5, size=(320, 180), seed=4)
    for cam in CAMS:
        fa, fb, fc = (_frames(x.path(cam)) for x in (a, b, c))
        assert len(fa) == 3 and fa[0].shape == (180, 320, 3)
        assert all(np.array_equal(x, y) for x, y in zip(fa, fb, strict=True))
        assert not all(np.array_equal(x, y) for x, y in zip(fa, fc, strict=True))
        assert a.videos[cam].truth == b.videos[cam].truth
    assert np.array_equal(cv2.imread(str(a.subject_photo)), cv2.imread(str(b.subject_photo)))


def _mad(a: ImageBGR, b: ImageBGR) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def test_a_substream_is_the_same_frames_scaled_down(tmp_path: Path) -> None:
    """Asked for, each camera gets a smaller copy of the same frames (what the demo analyses);
    the main videos and the truth are what they are without it."""
    kw = {"seconds": 1.2, "fps": 5, "size": (320, 180), "seed": 3}
    one = make_demo_videos(tmp_path / "one", **kw)  # type: ignore[arg-type]
    two = make_demo_videos(tmp_path / "two", substream=(160, 90), **kw)  # type: ignore[arg-type]
    doc = json.loads(two.truth_path.read_text(encoding="utf-8"))
    for cam in CAMS:
        assert one.sub_path(cam) is None and one.videos[cam].sub_size is None
        sub_path = two.sub_path(cam)
        assert sub_path == two.out_dir / f"{cam}-sub.mp4" and sub_path.is_file()
        assert two.videos[cam].sub_size == (160, 90)
        assert doc["videos"][cam]["substream"] == {"file": f"{cam}-sub.mp4", "size": [160, 90]}
        assert two.videos[cam].truth == one.videos[cam].truth
        main, main_alone, sub = (_frames(p) for p in (two.path(cam), one.path(cam), sub_path))
        # the same pictures (rendering is not bit-exact from run to run: within 0.5 of 255)
        diffs = [_mad(a, b) for a, b in zip(main, main_alone, strict=True)]
        assert max(diffs) < 0.5, (cam, diffs)
        assert len(sub) == len(main) == 6 and all(f.shape == (90, 160, 3) for f in sub)
        scaled = [cv2.resize(f, (160, 90), interpolation=cv2.INTER_AREA) for f in main]
        for i, picture in enumerate(sub):
            errs = [_mad(picture, s) for s in scaled]
            assert errs[i] < 6 and errs[i] == min(errs), (cam, i, errs)
    assert (
        json.loads(one.truth_path.read_text(encoding="utf-8"))["videos"]["cam-street"]["substream"]
        is None
    )


@pytest.mark.parametrize("sub", [(320, 180), (480, 270), (158, 90), (160, 88), (161, 90)])
def test_a_substream_must_be_smaller_and_even(tmp_path: Path, sub: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="substream"):
        make_demo_videos(tmp_path, seconds=0.2, fps=5, size=(320, 180), substream=sub)
    assert not list(tmp_path.glob("*.mp4"))


def test_subject_photo_is_not_a_copy_of_the_video_face(
    footage: DemoFootage, decoded: dict[str, list[ImageBGR]]
) -> None:
    photo = cv2.imread(str(footage.subject_photo))
    assert photo is not None and footage.subject_photo.suffix == ".png"
    assert photo.shape[0] >= 150 and photo.shape[1] >= 150
    frame = decoded["cam-entrance"][60]
    x0, y0, x1, y1 = footage.videos["cam-entrance"].boxes("face")[60].box
    face = cv2.resize(frame[y0:y1, x0:x1], (64, 64)).astype(np.float32)
    ph, pw = photo.shape[:2]
    ref = cv2.resize(photo[ph // 5 : ph * 4 // 5, pw // 5 : pw * 4 // 5], (64, 64))
    assert float(np.abs(face - ref.astype(np.float32)).mean()) > 5


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="size"):
        make_demo_videos(tmp_path, size=(961, 540))
    with pytest.raises(ValueError, match="fps"):
        make_demo_videos(tmp_path, fps=0)
    with pytest.raises(ValueError, match="style"):
        render_plate("AB-12-CD", "XX")


@pytest.mark.parametrize(
    ("style", "shape"), [("NL", (110, 520)), ("EU", (110, 520)), ("US", (110, 220))]
)
def test_plate_shapes_and_colours(style: str, shape: tuple[int, int]) -> None:
    img = render_plate("CW-123-X", style, height=110)
    assert img.shape == (*shape, 3) and img.dtype == np.uint8
    colours, counts = np.unique(img.reshape(-1, 3), axis=0, return_counts=True)
    b, g, r = (int(v) for v in colours[counts.argmax()])  # the most common colour: background
    if style == "NL":
        assert r > 200 and g > 150 and b < 80  # yellow
    else:
        assert min(b, g, r) > 200  # white
    if style != "US":
        b, g, r = (int(v) for v in img[8, 12])  # the EU band
        assert b > 120 and r < 60


# ---------------------------------------------------------------- with the real models


@pytest.fixture(scope="module")
def ocr() -> object:
    from rapidocr_onnxruntime import RapidOCR

    # The default detector config upscales small images to a 736 px *minimum* side (about 1.3 s
    # per plate crop here); cap the *maximum* side instead.
    return RapidOCR(det_limit_type="max", det_limit_side_len=960)


def _read(ocr: object, img: ImageBGR) -> str:
    result, _ = ocr(img)  # type: ignore[operator]
    return "".join(_alnum(r[1]) for r in (result or []))


@pytest.mark.integration
@pytest.mark.parametrize(
    ("text", "style", "country"),
    [(DEMO_PLATE, "NL", None), (OTHER_PLATE, "EU", "SRB"), ("7CWD482", "US", None)],
)
def test_rendered_plates_read_back(ocr: object, text: str, style: str, country: str | None) -> None:
    plate = render_plate(text, style, height=56, country=country)
    pad = 14
    framed = cv2.copyMakeBorder(plate, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(90,) * 3)
    assert _alnum(text) in _read(ocr, framed)


@pytest.mark.integration
def test_plates_in_the_videos_read_back(
    ocr: object, footage: DemoFootage, decoded: dict[str, list[ImageBGR]]
) -> None:
    for cam, want in (("cam-street", DEMO_PLATE), ("cam-square", OTHER_PLATE)):
        frames = decoded[cam]
        truth = footage.videos[cam].boxes("plate")
        sample = truth[len(truth) // 3 :: 15]
        hits = 0
        for t in sample:
            x0, y0, x1, y1 = t.box
            crop = frames[t.frame][max(0, y0 - 10) : y1 + 10, max(0, x0 - 10) : x1 + 10]
            hits += _alnum(want) in _read(ocr, crop)
        assert hits >= len(sample) - 1, f"{cam}: {hits}/{len(sample)} plate crops read"


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def _faces(img: ImageBGR) -> list[tuple[int, int, int, int]]:
    from citywatch.vision.faces.yunet import YunetDetector

    found = YunetDetector(min_score=0.6).detect(img)
    return [(round(a), round(b), round(c), round(d)) for a, b, c, d in found.xyxy.tolist()]


@pytest.mark.integration
def test_face_detector_finds_the_face_where_the_truth_says(
    footage: DemoFootage, decoded: dict[str, list[ImageBGR]]
) -> None:
    frames = decoded["cam-entrance"]
    truth = {t.frame: t.box for t in footage.videos["cam-entrance"].boxes("face")}
    sample = list(range(0, len(frames), 16))
    matched = sum(any(_iou(f, truth[i]) >= 0.5 for f in _faces(frames[i])) for i in sample)
    assert matched >= 0.8 * len(sample)
    photo = cv2.imread(str(footage.subject_photo))
    assert len(_faces(photo)) == 1
    for cam in ("cam-street", "cam-square"):
        assert not any(_faces(f) for f in decoded[cam][::40])
