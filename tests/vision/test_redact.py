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


# --- exact edges (issue 21, mutation testing) ---------------------------------------------


def test_keep_the_first_face_and_blur_the_rest():
    img = _noise()
    out = blur_faces(img, BOXES, keep=0)
    assert np.array_equal(out[20:60, 20:60], img[20:60, 20:60])
    assert not np.array_equal(out[50:100, 150:200], img[50:100, 150:200])


def test_keep_must_name_one_of_the_boxes():
    for keep in (2, -1):
        with pytest.raises(IndexError) as err:
            blur_faces(_noise(), BOXES, keep=keep)
        assert str(err.value) == f"blur_faces: keep={keep} but there are 2 boxes"


def test_faces_at_the_right_and_bottom_edges_are_blurred_inside_the_image():
    img = _noise()
    boxes = np.array([[270, 20, 300, 50], [20, 170, 50, 200], [280, 180, 300, 200]], np.float32)
    out = blur_faces(img, boxes)
    assert out.shape == img.shape
    for x1, y1, x2, y2 in boxes.astype(int):
        assert not np.array_equal(out[y1:y2, x1:x2], img[y1:y2, x1:x2])


def test_no_growth_blurs_the_box_and_nothing_around_it():
    img = _noise()
    out = blur_faces(img, BOXES[:1], grow=0.0)
    assert not np.array_equal(out[20:60, 20:60], img[20:60, 20:60])
    outside = np.ones(img.shape[:2], bool)
    outside[20:60, 20:60] = False
    assert np.array_equal(out[outside], img[outside])


def test_an_empty_box_is_skipped_and_a_one_pixel_box_still_blurred():
    img = _noise()
    for empty in ([[30, 20, 30, 40]], [[30, 20, 50, 20]]):
        assert np.array_equal(blur_faces(img, np.array(empty, np.float32), grow=0.0), img)
    for thin in ([[30, 20, 31, 40]], [[30, 20, 50, 21]]):
        x1, y1, x2, y2 = thin[0]
        out = blur_faces(img, np.array(thin, np.float32), grow=0.0)
        assert not np.array_equal(out[y1:y2, x1:x2], img[y1:y2, x1:x2])


def test_a_small_face_is_blurred_too():
    img = _noise()
    out = blur_faces(img, np.array([[100, 100, 110, 110]], np.float32), grow=0.0)
    assert not np.array_equal(out[100:110, 100:110], img[100:110, 100:110])


def test_one_block_makes_the_face_one_flat_colour_the_mean_of_its_pixels():
    img = _noise()
    for blocks in (1, 0):
        face = blur_faces(img, BOXES[:1], grow=0.0, blocks=blocks)[20:60, 20:60].astype(float)
        assert np.ptp(face.reshape(-1, 3), axis=0).max() == 0
        mean = img[20:60, 20:60].reshape(-1, 3).mean(axis=0)
        assert np.abs(face[0, 0] - mean).max() <= 1


def test_a_face_is_pixelated_both_ways():
    """As many blocks down a square face as across it: the blurred face varies both ways."""
    img = _noise()
    face = blur_faces(img, BOXES[:1], grow=0.0, blocks=40)[20:60, 20:60].astype(float)
    assert np.ptp(face, axis=0).max() > 0 and np.ptp(face, axis=1).max() > 0


def test_a_hard_edge_inside_a_face_is_smoothed_away():
    """Half black, half white, two blocks: the smoothing kernel is as wide as a block, so
    neighbouring pixels differ by at most 32 of 255 (no block edge is left to read), and the
    blocks are hard-edged before it: the outer quarter of each block keeps its colour."""
    img = np.zeros((60, 80, 3), np.uint8)
    img[:, 40:] = 255
    out = blur_faces(img, np.array([[20, 10, 60, 50]], np.float32), grow=0.0, blocks=2)
    face = out[10:50, 20:60].astype(int)
    assert np.abs(np.diff(face, axis=1)).max() <= 32
    assert face[:, :10].max() == 0 and face[:, -10:].min() == 255
