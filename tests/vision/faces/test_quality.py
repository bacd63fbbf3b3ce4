import cv2
import numpy as np
import pytest

from citywatch.config.faces import FacesConfig
from citywatch.vision.faces.chips import TEMPLATE_5
from citywatch.vision.faces.quality import (
    face_sides,
    frontal_score,
    laplacian_variance,
    quality_filter,
    score_quality,
    sharpness_score,
    size_score,
    usable,
)
from citywatch.vision.record import Detections

# dlib's mean face at 100 px: a perfectly frontal set of 5 points.
FRONTAL = (TEMPLATE_5 * 100).astype(np.float32)


def _textured(size: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (size // 4, size // 4, 3), dtype=np.uint8)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_NEAREST)


@pytest.mark.parametrize(
    ("side", "expected"),
    [(0, 0.0), (25, 0.25), (50, 0.5), (100, 1.0), (400, 1.0)],
)
def test_size_score_table(side, expected):
    assert size_score(np.array([side], np.float32))[0] == pytest.approx(expected)


def test_face_sides_is_the_shorter_side():
    assert face_sides(np.array([[0, 0, 40, 60], [10, 10, 90, 30]], np.float32)).tolist() == [40, 20]


@pytest.mark.parametrize(("variance", "low", "high"), [(0, 0, 0), (5, 0.05, 0.15), (200, 0.95, 1)])
def test_sharpness_score_table(variance, low, high):
    assert low <= sharpness_score(np.array([variance], np.float32))[0] <= high


def test_blur_lowers_laplacian_variance_at_every_face_size():
    for size in (40, 120, 400):
        img = _textured(size)
        box = np.array([[0, 0, size, size]], np.float32)
        sharp = laplacian_variance(img, box)[0]
        soft = laplacian_variance(cv2.GaussianBlur(img, (0, 0), size / 25), box)[0]
        assert sharp > 4 * soft, size


def test_box_outside_image_has_zero_sharpness():
    img = _textured(50)
    assert laplacian_variance(img, np.array([[60, 60, 90, 90]], np.float32))[0] == 0


def _at(points: np.ndarray, x: float, y: float) -> np.ndarray:
    return points + np.array([x, y], np.float32)


def _turn(points: np.ndarray, nose_dx: float = 0.0, nose_dy: float = 0.0) -> np.ndarray:
    p = points.copy()
    p[4] += [nose_dx, nose_dy]
    return p


@pytest.mark.parametrize(
    ("landmarks", "low", "high"),
    [
        (FRONTAL, 0.99, 1.0),
        (FRONTAL[::-1][[4, 3, 2, 1, 0]], 0.99, 1.0),  # same points, order kept: still frontal
        (_turn(FRONTAL, nose_dx=10), 0.5, 0.8),  # yawed: nose off the middle
        (_turn(FRONTAL, nose_dx=30), 0.0, 0.01),  # profile-like
        (_turn(FRONTAL, nose_dy=-25), 0.0, 0.5),  # head tilted far back
        (np.repeat(FRONTAL[:1], 5, axis=0), 0.0, 0.0),  # degenerate: every point the same
    ],
)
def test_frontal_score_table(landmarks, low, high):
    assert low <= frontal_score(landmarks[None])[0] <= high


def test_frontal_score_ignores_roll():
    angle = np.deg2rad(30)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    rolled = (FRONTAL - 50) @ rot.T + 50
    assert frontal_score(rolled[None])[0] == pytest.approx(frontal_score(FRONTAL[None])[0], 1e-4)


def _dets(boxes, scores, landmarks=None):
    return Detections.from_boxes(boxes, scores, landmarks=landmarks)


def test_score_quality_zeroes_small_faces_and_keeps_them():
    img = _textured(400)
    lm = np.stack([_at(FRONTAL, 100, 100), _at(FRONTAL * 0.2, 10, 10)])
    dets = _dets([[100, 100, 200, 200], [10, 10, 30, 30]], [0.9, 0.9], lm)
    out = score_quality(dets, img, FacesConfig(min_face_px=32))
    assert len(out) == 2
    assert out.quality is not None
    assert out.quality[0] > 0.5
    assert out.quality[1] == 0.0


def test_min_sharpness_floor_zeroes_soft_faces():
    img = _textured(400)
    img[:, 200:] = cv2.GaussianBlur(img[:, 200:], (0, 0), 8)
    dets = _dets([[50, 50, 150, 150], [250, 50, 350, 150]], [0.9, 0.9])
    out = score_quality(dets, img, FacesConfig(min_sharpness=20))
    assert out.quality is not None
    assert out.quality[0] > 0 and out.quality[1] == 0


def test_quality_filter_drops_low_quality_and_keeps_fields_in_step():
    img = _textured(400)
    lm = np.stack([_at(FRONTAL, 100, 100), _at(_turn(FRONTAL, nose_dx=40), 250, 100)])
    dets = _dets([[100, 100, 200, 200], [250, 100, 350, 200]], [0.95, 0.95], lm)
    out = quality_filter(dets, img, FacesConfig(min_quality=0.3))
    assert len(out) == 1
    assert out.xyxy[0].tolist() == [100, 100, 200, 200]
    assert out.landmarks is not None
    np.testing.assert_allclose(out.landmarks[0], lm[0], rtol=1e-6)


def test_usable_needs_quality():
    dets = _dets([[0, 0, 50, 50]], [0.9])
    assert usable(dets, FacesConfig()).tolist() == [False]
    assert usable(dets.with_quality(np.array([0.5], np.float32)), FacesConfig()).tolist() == [True]
    assert usable(dets.with_quality(np.array([0.1], np.float32)), FacesConfig()).tolist() == [False]


def test_empty_detections():
    out = quality_filter(Detections.empty(), _textured(50), FacesConfig())
    assert len(out) == 0 and out.quality is not None
