"""Face chips: unit checks of the geometry, and equality with dlib's get_face_chip on real faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from citywatch.vision.faces.chips import (
    TEMPLATE_5,
    ChipInputError,
    _pyramid_down,
    extract_chips,
)
from tests.conftest import require


def _template_landmarks(size: int = 150, padding: float = 0.25, offset=(0.0, 0.0)) -> np.ndarray:
    pts = (padding + TEMPLATE_5) / (2 * padding + 1) * size + np.asarray(offset)
    return pts[None]  # float64: float32 would move points by ~1e-6 px, enough to flip truncation


def _random_image(rows: int = 220, cols: int = 260, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (rows, cols, 3), dtype=np.uint8)


def _assert_close(a: np.ndarray, b: np.ndarray) -> None:
    """Equal up to dlib's truncation: a sample 1e-14 px short of a pixel gives 199.999... -> 199
    (on random noise any geometric error would show as differences of tens of levels)."""
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    assert diff.max() <= 1, f"max difference {diff.max()}"


def test_template_landmarks_sample_the_pixel_grid() -> None:
    # Landmarks on dlib's template: scale 1, no rotation.  dlib's centred rectangle is one pixel
    # narrower than the chip, so the chip starts half a pixel in: with the template put at
    # (19.5, 19.5) every sample lands on a pixel and the chip is a plain crop (in RGB).  (Kept
    # off the image edge: there, 1e-14 of float noise decides between a pixel and black.)
    img = _random_image()
    chip = extract_chips(img, _template_landmarks(offset=(19.5, 19.5)))[0]
    assert chip.shape == (150, 150, 3)
    _assert_close(chip, img[20:170, 20:170, ::-1])
    # At (20, 20) each chip pixel is the mean of a 2x2 block, truncated.
    chip = extract_chips(img, _template_landmarks(offset=(20.0, 20.0)))[0]
    block = img[20:171, 20:171, ::-1].astype(np.float64)
    mean4 = (block[:-1, :-1] + block[1:, :-1] + block[:-1, 1:] + block[1:, 1:]) / 4
    _assert_close(chip, np.floor(mean4 + 1e-9).astype(np.uint8))


def test_integer_shift_of_image_and_landmarks_gives_the_same_chip() -> None:
    img = _random_image(300, 320, seed=1)
    lm = _template_landmarks() * 1.1 + 20  # scaled by 1.1, so real interpolation happens
    shifted = np.zeros_like(img)
    shifted[7:, 11:] = img[:-7, :-11]
    a = extract_chips(img, lm)[0]
    b = extract_chips(shifted, lm + np.array([11, 7], np.float32))[0]
    _assert_close(a, b)


def test_face_outside_the_image_is_black_there() -> None:
    img = np.full((200, 200, 3), 200, np.uint8)
    lm = _template_landmarks(offset=(-100.0, 0.0))  # left 100 columns fall outside
    chip = extract_chips(img, lm)[0]
    assert (chip[:, :95] == 0).all()
    assert (chip[:, 105:148] == 200).all()
    far = extract_chips(img, _template_landmarks(offset=(5000.0, 5000.0)))[0]
    assert not far.any()


def test_large_face_goes_through_the_pyramid_and_keeps_flat_colour() -> None:
    img = np.full((1500, 1500, 3), (10, 120, 250), np.uint8)
    lm = _template_landmarks() * 6 + 300  # face ~6x the chip, mid-image: two pyramid levels
    chip = extract_chips(img, lm)[0]
    assert (chip == np.array([250, 120, 10], np.uint8)).all()


def test_pyramid_down_matches_dlib_shape_and_filter() -> None:
    img = np.zeros((20, 31, 3), np.uint8)
    img[10, 12] = 255  # one bright pixel, centred under output (4, 5) (input = 2*out + 2)
    down = _pyramid_down(img)
    assert down.shape == ((20 - 3) // 2, (31 - 3) // 2, 3)
    assert down[4, 5, 0] == 255 * 36 // 256  # centre tap 6*6/256
    assert down[4, 4, 0] == 255 * 6 // 256  # neighbouring output: taps 1*6 (|dx| = 2)
    assert _pyramid_down(np.zeros((8, 40, 3), np.uint8)).shape == (0, 0, 3)


def test_empty_and_bad_inputs() -> None:
    img = _random_image()
    assert extract_chips(img, np.zeros((0, 5, 2), np.float32)).shape == (0, 150, 150, 3)
    with pytest.raises(ChipInputError, match=r"\(N, 5, 2\)"):
        extract_chips(img, np.zeros((1, 68, 2), np.float32))
    with pytest.raises(ChipInputError, match="uint8 BGR"):
        extract_chips(img.astype(np.float32), _template_landmarks())  # type: ignore[arg-type]
    with pytest.raises(ChipInputError, match="NaN"):
        extract_chips(img, np.full((1, 5, 2), np.nan, np.float32))


# ---------------------------------------------------------------------------------------------
# Against dlib


@pytest.fixture(scope="module")
def dlib_tools():  # type: ignore[no-untyped-def]
    try:
        import dlib
    except ImportError:
        require(False, "package dlib (dlib-bin) is not installed")
    from citywatch.vision.faces.dlib_onnx_cache import default_dat_path

    models = default_dat_path().parent
    predictor = models / "shape_predictor_5_face_landmarks.dat"
    require(predictor.is_file(), f"dlib 5-point model missing at {predictor}")
    return dlib, dlib.get_frontal_face_detector(), dlib.shape_predictor(str(predictor))


def _faces(dlib_tools, rgb: np.ndarray):  # type: ignore[no-untyped-def]
    _dlib, detector, predictor = dlib_tools
    for rect in detector(rgb, 1):
        shape = predictor(rgb, rect)
        yield shape, np.array([[p.x, p.y] for p in shape.parts()], np.float32)


@pytest.mark.integration
def test_chips_equal_dlib_get_face_chip(shared_data: Path, dlib_tools) -> None:  # type: ignore[no-untyped-def]
    import cv2

    dlib = dlib_tools[0]
    examples = shared_data / "faces/watchlist_video/examples"
    cases: list[tuple[str, np.ndarray]] = []
    for name in ("obama-240p.jpg", "two_people.jpg", "lin-manuel-miranda.png"):
        cases.append((name, cv2.imread(str(examples / name))))
    obama = cv2.imread(str(examples / "obama.jpg"))
    cases.append(("obama x2.2 (pyramid)", cv2.resize(obama, None, fx=2.2, fy=2.2)))
    cases.append(("obama cut at the face", obama[:, 410:]))
    centre = (obama.shape[1] / 2, obama.shape[0] / 2)
    rot = cv2.warpAffine(obama, cv2.getRotationMatrix2D(centre, 25, 1.0), obama.shape[1::-1])
    cases.append(("obama rotated 25 deg", rot))

    checked = 0
    for name, bgr in cases:
        assert bgr is not None, name
        bgr = np.ascontiguousarray(bgr)
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        for shape, lm in _faces(dlib_tools, rgb):
            ref = dlib.get_face_chip(rgb, shape, size=150, padding=0.25)
            mine = extract_chips(bgr, lm[None])[0]
            diff = np.abs(mine.astype(np.int16) - ref.astype(np.int16))
            assert diff.mean() < 0.5, f"{name}: mean abs diff {diff.mean():.3f}"
            assert diff.max() <= 2, f"{name}: max abs diff {diff.max()}"
            checked += 1
    assert checked >= 6
