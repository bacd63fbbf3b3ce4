"""The LPD-YuNet decoding that ``bench/models_plates.py --detectors`` measures (issue 15): priors
as OpenCV zoo makes them, corners to boxes back in frame pixels, and a clear error for a model
of the wrong shape.  The real model is not in the repository: a tiny graph with its outputs
stands in (and the real one where ``var/models/lpd_yunet`` holds it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bench.plate_detectors import found
from bench.plate_lpd_yunet import SHA256, LpdYunetDetector, priors, sha256_of
from onnx import TensorProto, helper, numpy_helper

from citywatch.vision.plates.yolo import DetectorModelError
from tests.vision.faces.onnx_graphs import save
from tests.vision.plates.onnx_graphs import yolo

REPO = Path(__file__).resolve().parents[3]
REAL = REPO / "var" / "models" / "lpd_yunet" / "license_plate_detection_lpd_yunet_2023mar.onnx"
PHOTO = REPO / ".." / "shared" / "data" / "plates" / "images_eu" / "eu1.jpg"


def test_priors_match_the_zoo_model_at_320x240() -> None:
    p = priors(240, 320)
    assert p.shape == (4385, 4)  # the rows of the zoo model's outputs at its 320x240 input
    np.testing.assert_allclose(p[0], [4 / 320, 4 / 240, 10 / 320, 10 / 240])
    np.testing.assert_allclose(p[2], [4 / 320, 4 / 240, 24 / 320, 24 / 240])
    np.testing.assert_allclose(
        p[-1], [(4 + 0.5) * 64 / 320, (2 + 0.5) * 64 / 240, 256 / 320, 256 / 240]
    )


def lpd_graph(path: Path, size: int = 64) -> Path:
    """Outputs of LPD-YuNet's shape for a ``size`` square input, constant: prior 0 a plate with
    corners (2, 2) (12, 2) (12, 8) (2, 8) at score 0.9, prior 1 one at score 0.2."""
    n = len(priors(size, size))
    loc = np.zeros((n, 14), np.float32)
    # prior 0: centre (4, 4), size 10 px: an offset of v moves a corner v * 0.1 * 10 = v px
    loc[0, 4:6], loc[0, 6:8], loc[0, 10:12], loc[0, 12:14] = (-2, -2), (8, -2), (8, 4), (-2, 4)
    loc[1, 4:14] = loc[0, 4:14]
    conf = np.tile(np.array([[1.0, 0.0]], np.float32), (n, 1))
    conf[0], conf[1] = (0.1, 0.9), (0.96, 0.04)
    iou = np.zeros((n, 1), np.float32)
    iou[0], iou[1] = 0.9, 1.0
    inits = [
        numpy_helper.from_array(a, f"{k}_c")
        for k, a in (("loc", loc), ("conf", conf), ("iou", iou))
    ]
    nodes = [helper.make_node("Identity", [f"{k}_c"], [k]) for k in ("loc", "conf", "iou")]
    return save(
        path,
        nodes,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
        [
            helper.make_tensor_value_info(k, TensorProto.FLOAT, [n, c])
            for k, c in (("loc", 14), ("conf", 2), ("iou", 1))
        ],
        inits,
    )


def test_corners_become_a_box_in_frame_pixels(tmp_path: Path) -> None:
    det = LpdYunetDetector(lpd_graph(tmp_path / "lpd.onnx"), max_side=64, score_thresh=0.5)
    found_ = det.detect(np.zeros((128, 128, 3), np.uint8))  # scaled by 0.5 to 64x64
    np.testing.assert_allclose(found_.xyxy, [[4, 4, 24, 16]], atol=1e-4)
    np.testing.assert_allclose(found_.score, [0.9], atol=1e-6)
    low = LpdYunetDetector(tmp_path / "lpd.onnx", max_side=64, score_thresh=0.1)
    assert len(low.detect(np.zeros((128, 128, 3), np.uint8))) == 1  # the same box, NMS


def test_output_rows_not_matching_the_priors_is_an_error(tmp_path: Path) -> None:
    det = LpdYunetDetector(lpd_graph(tmp_path / "lpd.onnx"), max_side=64)
    with pytest.raises(DetectorModelError, match="priors expected"):
        det.detect(np.zeros((64, 128, 3), np.uint8))  # a 64x32 input has other priors


def test_a_model_of_the_wrong_shape_is_named(tmp_path: Path) -> None:
    wrong = yolo(tmp_path / "yolo.onnx")
    with pytest.raises(DetectorModelError, match=r"yolo\.onnx: expected outputs loc"):
        LpdYunetDetector(wrong)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(lpd_graph(tmp_path / "ok.onnx").read_bytes()[:50])
    with pytest.raises(DetectorModelError, match=r"broken\.onnx: cannot read"):
        LpdYunetDetector(broken)
    with pytest.raises(DetectorModelError, match="does not exist"):
        LpdYunetDetector(tmp_path / "missing.onnx")


def test_found_needs_half_the_plate_covered_by_a_box_not_much_wider() -> None:
    truth = (100.0, 100.0, 200.0, 140.0)
    assert found(np.array([[100, 100, 200, 140]], np.float32), truth) == (True, True)
    # the characters' line inside the plate: covers 60 %, IoU 0.6
    assert found(np.array([[105, 112, 195, 139]], np.float32), truth)[0]
    assert found(np.array([[100, 100, 140, 140]], np.float32), truth) == (False, False)
    # a whole car holding the plate: covers it, but far too wide
    assert found(np.array([[0, 0, 400, 300]], np.float32), truth) == (False, False)
    assert found(np.zeros((0, 4), np.float32), truth) == (False, False)


@pytest.mark.skipif(not REAL.is_file() or not PHOTO.is_file(), reason="no LPD-YuNet or photos")
def test_the_real_model_finds_a_plate_on_a_real_photo() -> None:
    from citywatch.vision.images import load_image

    assert sha256_of(REAL) == SHA256
    det = LpdYunetDetector(REAL, max_side=640, score_thresh=0.3)
    boxes = det.detect(load_image(PHOTO))
    # eu1.txt: the plate at x 396, y 340, 203 x 46
    assert found(boxes.xyxy, (396.0, 340.0, 599.0, 386.0))[0]
