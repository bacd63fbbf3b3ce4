"""The SCRFD-style ONNX detector: decoding, letterboxing, landmarks and errors (tiny graphs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from citywatch.config.faces import FaceDetectorConfig
from citywatch.vision.faces.base import FaceDetector
from citywatch.vision.faces.onnx_scrfd import OnnxScrfdDetector, anchor_centres
from citywatch.vision.faces.registry import FaceBackendError, build_detector
from citywatch.vision.onnx_session import OnnxModelError
from tests.vision.faces import onnx_graphs


def test_anchor_centres_are_row_major_with_anchors_together() -> None:
    c = anchor_centres(2, 3, 8, 2)
    assert c.shape == (12, 2)
    assert c[:4].tolist() == [[0, 0], [0, 0], [8, 0], [8, 0]]
    assert c[6].tolist() == [0, 8]


def test_decode_places_boxes_and_points_by_stride(tmp_path: Path) -> None:
    det = OnnxScrfdDetector(onnx_graphs.scrfd(tmp_path / "s.onnx"), min_score=0.5)
    outs = []
    for s in (8, 16, 32):
        k = (64 // s) ** 2 * 2
        outs.append(np.zeros((k, 1), np.float32))
    outs += [np.zeros(((64 // s) ** 2 * 2, 4), np.float32) for s in (8, 16, 32)]
    outs += [np.zeros(((64 // s) ** 2 * 2, 10), np.float32) for s in (8, 16, 32)]
    row = (2 * 8 + 3) * 2 + 1  # stride 8, place y=2 x=3, second anchor: centre (24, 16)
    outs[0][row] = 0.9
    outs[3][row] = [1, 2, 3, 4]
    outs[6][row] = [0.5, -0.5] * 5
    boxes, scores, points = det.decode(outs)
    np.testing.assert_allclose(boxes, [[16, 0, 48, 48]])
    np.testing.assert_allclose(scores, [0.9])
    np.testing.assert_allclose(points.reshape(5, 2), [[28, 12]] * 5)
    outs[1] = outs[1][:-1]  # a stride's rows do not fit the input size
    with pytest.raises(OnnxModelError, match="stride 16 outputs have 31 scores"):
        det.decode(outs)


def test_detects_a_bright_patch_in_frame_pixels(tmp_path: Path) -> None:
    det = OnnxScrfdDetector(onnx_graphs.scrfd(tmp_path / "s.onnx"), min_score=0.9)
    assert isinstance(det, FaceDetector) and det.input_hw == (64, 64)
    img = np.zeros((96, 128, 3), np.uint8)  # letterboxed at scale 0.5 into 64x64
    img[32:64, 64:96] = 255
    faces = det.detect(img)
    assert len(faces) >= 1 and faces.landmarks is not None
    assert faces.landmarks.shape == (len(faces), 5, 2)
    cx = (faces.xyxy[:, 0] + faces.xyxy[:, 2]) / 2
    cy = (faces.xyxy[:, 1] + faces.xyxy[:, 3]) / 2
    assert ((cx > 60) & (cx < 100) & (cy > 28) & (cy < 68)).all()  # on the patch, frame pixels
    assert (faces.score >= 0.9).all()
    # dlib order: points 0-1 on the eye at larger x, 2-3 on the other, nose base below.
    lm = faces.landmarks[0]
    assert lm[0:2, 0].mean() > lm[2:4, 0].mean() and lm[4, 1] > lm[0:4, 1].mean()
    empty = det.detect(np.zeros((64, 64, 3), np.uint8))
    assert len(empty) == 0 and empty.landmarks is not None and empty.landmarks.shape == (0, 5, 2)
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        det.detect(np.zeros((64, 64), np.uint8))


def test_misshapen_models_are_named(tmp_path: Path) -> None:
    with pytest.raises(OnnxModelError, match="not found"):
        OnnxScrfdDetector(tmp_path / "absent.onnx")
    with pytest.raises(OnnxModelError, match=r"expected 9 outputs.*got 6"):
        OnnxScrfdDetector(onnx_graphs.scrfd(tmp_path / "nokps.onnx", with_kps=False))
    onnx_graphs.identity(tmp_path / "gray.onnx", [1, 1, 64, 64])
    with pytest.raises(OnnxModelError, match=r"expected one input \[1,3,H,W\]"):
        OnnxScrfdDetector(tmp_path / "gray.onnx")


def test_registry_and_config(tmp_path: Path) -> None:
    path = onnx_graphs.scrfd(tmp_path / "det_500m.onnx")
    cfg = FaceDetectorConfig(type="onnx-scrfd", model_path=path, min_score=0.6)
    det = build_detector(cfg)
    assert det.name == "onnx-scrfd"
    with pytest.raises(ValidationError, match="needs model_path"):
        FaceDetectorConfig(type="onnx-scrfd")
    with pytest.raises(ValidationError, match="multiple of 32"):
        FaceDetectorConfig(type="onnx-scrfd", model_path=path, input_size=100)
    with pytest.raises(FaceBackendError, match="could not be built"):
        build_detector(FaceDetectorConfig(type="onnx-scrfd", model_path=tmp_path / "x.onnx"))
