import numpy as np
import pytest

from citywatch.vision.redact import blur_faces, grown_boxes


def _noise(h=200, w=300):
    return np.random.default_rng(0).integers(0, 256, (h, w, 3), np.uint8)


BOXES = np.array([[20, 20, 60, 60], [150, 50, 200, 100]], np.float32)


def test_every_face_blurred_and_input_untouched():
    img = _noise()
    before = img.copy()
    out = blur_faces(img, BOXES)
    assert np.array_equal(img, before)
    for x1, y1, x2, y2 in BOXES.astype(int):
        face_in, face_out = img[y1:y2, x1:x2].astype(float), out[y1:y2, x1:x2].astype(float)
        # Noise has high local variance; a blurred face has almost none left.
        assert (
            np.abs(np.diff(face_out, axis=1)).mean() < 0.2 * np.abs(np.diff(face_in, axis=1)).mean()
        )
    assert np.array_equal(out[150:, :], img[150:, :])  # far from any face: unchanged


def test_kept_face_stays_sharp():
    img = _noise()
    out = blur_faces(img, BOXES, keep=1)
    assert np.array_equal(out[50:100, 150:200], img[50:100, 150:200])
    assert not np.array_equal(out[20:60, 20:60], img[20:60, 20:60])


def test_keep_out_of_range_is_an_error():
    with pytest.raises(IndexError, match="keep=5"):
        blur_faces(_noise(), BOXES, keep=5)


def test_grown_boxes_are_clipped():
    out = grown_boxes(np.array([[0, 0, 10, 10], [280, 180, 300, 200]], np.float32), 300, 200, 0.5)
    assert out.tolist() == [[0, 0, 15, 15], [270, 170, 300, 200]]


def test_no_faces_is_a_copy():
    img = _noise()
    out = blur_faces(img, np.zeros((0, 4), np.float32))
    assert np.array_equal(out, img) and out is not img
