"""The YOLO-style ONNX plate detector: NMS, letterboxing, output decoding, regions and errors
(tiny graphs, nothing downloaded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnxruntime.capi.onnxruntime_pybind11_state import Fail
from pydantic import ValidationError

from citywatch.config.plates import PlateDetectorConfig
from citywatch.vision.plates.base import PlateDetector, WholePlateDetector, WindowRefiner
from citywatch.vision.plates.yolo import (
    DetectorModelError,
    RefinedDetector,
    YoloPlateDetector,
    decode_output,
    letterbox,
    nms,
)
from citywatch.vision.record import Detections, FloatArray, ImageBGR
from tests.vision.plates import onnx_graphs

GREY = 114 / 255


def test_nms_merges_overlaps_best_first_and_keeps_disjoint() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10]], "f4")
    scores = np.array([0.8, 0.9, 0.5, 0.7], "f4")  # IoU(0, 1) = 81 / 119 = 0.68
    assert nms(boxes, scores, 0.45) == [1, 2]
    assert nms(boxes, scores, 0.7) == [1, 0, 2]  # 0 and 3 coincide: only the better stays
    assert nms(boxes[2:3], scores[2:3], 0.45) == [0]
    assert nms(np.zeros((0, 4), "f4"), np.zeros(0, "f4"), 0.45) == []


@pytest.mark.parametrize(
    ("hw", "size", "block", "expected"),
    [
        ((64, 128), (64, 64), (32, 16, 64, 48), (0.5, 0, 16)),  # landscape: pad above/below
        ((128, 64), (64, 64), (16, 32, 48, 64), (0.5, 16, 0)),  # portrait: pad left/right
        ((32, 32), (96, 64), (8, 8, 24, 24), (2.0, 16, 0)),  # upscaled into a wide input
    ],
)
def test_letterbox_geometry_grey_padding_and_rgb(
    hw: tuple[int, int],
    size: tuple[int, int],
    block: tuple[int, int, int, int],
    expected: tuple[float, float, float],
) -> None:
    (h, w), (width, height), (x0, y0, x1, y1) = hw, size, block
    img = np.empty((h, w, 3), np.uint8)
    img[:] = (10, 20, 30)  # BGR
    img[y0:y1, x0:x1] = 255
    blob, scale, px, py = letterbox(img, width, height)
    assert blob.shape == (1, 3, height, width) and blob.dtype == np.float32
    assert (scale, px, py) == pytest.approx(expected)
    # the white block, mapped back with (x - pad) / scale, lands on its frame pixels
    ys, xs = np.nonzero(blob[0, 0] > 0.5)
    back = [(xs.min() - px) / scale, (ys.min() - py) / scale]
    back += [(xs.max() + 1 - px) / scale, (ys.max() + 1 - py) / scale]
    assert back == pytest.approx([x0, y0, x1, y1])
    # RGB order (a background pixel inside the picture), grey 114 everywhere outside it
    bg = blob[0, :, int(py) + 1, int(px) + 1]
    np.testing.assert_allclose(bg, [30 / 255, 20 / 255, 10 / 255], atol=1e-6)
    inside = np.zeros((height, width), bool)
    inside[int(py) : height - int(py), int(px) : width - int(px)] = True
    np.testing.assert_allclose(blob[0][:, ~inside], GREY, atol=1e-6)
    assert inside.sum() == round(h * scale) * round(w * scale)


def test_decode_rows_objectness_times_class_and_threshold() -> None:
    rows = np.array(
        [[[50, 40, 20, 10, 0.9, 0.2, 0.8], [10, 10, 4, 4, 0.9, 0.5, 0.1], [0, 0, 2, 2, 0.3, 1, 1]]],
        "f4",
    )
    # 7 values per candidate > 3 candidates: auto would read this as columns, so say rows
    xyxy, scores = decode_output(rows, "rows", 0.4)
    np.testing.assert_allclose(xyxy, [[40, 35, 60, 45], [8, 8, 12, 12]])
    np.testing.assert_allclose(scores, [0.72, 0.45], rtol=1e-6)
    xyxy, scores = decode_output(rows, "rows", 0.5)
    np.testing.assert_allclose(scores, [0.72], rtol=1e-6)
    assert xyxy.shape == (1, 4) and xyxy.dtype == np.float32
    # K = 0: the objectness alone; auto reads [1, N, 5] with N > 5 as rows
    k0 = np.zeros((1, 8, 5), "f4")
    k0[0, 3] = [30, 20, 10, 6, 0.6]
    xyxy, scores = decode_output(k0, "auto", 0.5)
    np.testing.assert_allclose(xyxy, [[25, 17, 35, 23]])
    np.testing.assert_allclose(scores, [0.6])


def test_decode_columns_best_class_and_auto() -> None:
    cand = np.zeros((1, 8, 6), "f4")  # 8 candidates x (box, 2 classes)
    cand[0, 2] = [30, 20, 10, 6, 0.2, 0.7]
    cand[0, 5] = [60, 60, 8, 8, 0.3, 0.1]
    cols = cand.transpose(0, 2, 1)  # [1, 6, 8]
    for layout in ("columns", "auto"):
        xyxy, scores = decode_output(cols, layout, 0.25)
        np.testing.assert_allclose(xyxy, [[25, 17, 35, 23], [56, 56, 64, 64]])
        np.testing.assert_allclose(scores, [0.7, 0.3])
    _, scores = decode_output(cols, "auto", 0.5)
    np.testing.assert_allclose(scores, [0.7])
    # the same numbers read as rows would be something else entirely (objectness x class)
    rows = np.zeros((1, 8, 6), "f4")
    rows[0, 2] = [30, 20, 10, 6, 0.5, 0.7]
    _, scores = decode_output(rows, "auto", 0.25)
    np.testing.assert_allclose(scores, [0.35], rtol=1e-6)


@pytest.mark.parametrize(
    ("shape", "layout", "message"),
    [
        ((1, 1, 4, 4), "auto", r"expected \[1, N, 5\+K\] or \[1, 4\+K, N\], got \(1, 1, 4, 4\)"),
        ((2, 10, 6), "auto", r"got \(2, 10, 6\)"),
        ((1, 10, 4), "rows", r"\(rows\): needs 4 box values \+ objectness, got 4"),
        ((1, 4, 10), "auto", r"\(columns\): needs 4 box values \+ >= 1 class, got 4"),
    ],
)
def test_decode_names_wrong_shapes(shape: tuple[int, ...], layout: str, message: str) -> None:
    with pytest.raises(DetectorModelError, match=message):
        decode_output(np.zeros(shape, "f4"), layout, 0.5)  # type: ignore[arg-type]


def frame_with_patch(portrait: bool, value: int = 255) -> tuple[ImageBGR, list[float]]:
    """A frame letterboxed at scale 0.5 into 64x64 and a patch filling one 16 px cell of it."""
    if portrait:  # 128x96: pad 8 left/right; cell (2, 1) = frame x 48..80, y 32..64
        img, box = np.zeros((128, 96, 3), np.uint8), [48.0, 32, 80, 64]
    else:  # 96x128: pad 8 above/below; cell (2, 1) = frame x 64..96, y 16..48
        img, box = np.zeros((96, 128, 3), np.uint8), [64.0, 16, 96, 48]
    img[int(box[1]) : int(box[3]), int(box[0]) : int(box[2])] = value
    return img, box


@pytest.mark.parametrize("portrait", [False, True])
@pytest.mark.parametrize(
    ("layout", "classes", "score"),
    [("rows", (), 1.0), ("rows", (0.3, 0.9), 0.9), ("columns", (1.0,), 1.0)],
)
def test_detects_a_bright_patch_in_frame_pixels(
    tmp_path: Path, portrait: bool, layout: str, classes: tuple[float, ...], score: float
) -> None:
    model = onnx_graphs.yolo(tmp_path / "p.onnx", layout=layout, classes=classes)  # type: ignore[arg-type]
    det = YoloPlateDetector(model, score_thresh=0.5)
    assert isinstance(det, PlateDetector) and det.name == "yolo"
    img, box = frame_with_patch(portrait)
    found = det.detect(img)
    np.testing.assert_allclose(found.xyxy, [box])
    np.testing.assert_allclose(found.score, [score], rtol=1e-5)
    assert (found.track_id == -1).all()
    assert len(det.detect(np.zeros_like(img))) == 0


def test_regions_are_letterboxed_on_their_own(tmp_path: Path) -> None:
    det = YoloPlateDetector(onnx_graphs.yolo(tmp_path / "p.onnx"), score_thresh=0.5)
    frame = np.zeros((200, 300, 3), np.uint8)
    frame[66:98, 164:196] = 255  # in region A (128x96 at 100,50: scale 0.5, pad 8 above)
    frame[128:144, 262:278] = 255  # in region B (64x48 at 230,120: scale 1, pad 8 above)
    frame[0:32, 0:32] = 255  # in no region
    regions = np.array(
        [
            [100, 50, 228, 146],
            [230.7, 120.6, 293.2, 167.1],  # widened to whole pixels: 230,120 .. 294,168
            [5, 5, 10, 10],  # too small to search
            [400, 300, 500, 400],  # outside the frame
        ],
        np.float32,
    )
    found = det.detect(frame, regions)
    np.testing.assert_allclose(found.xyxy, [[164, 66, 196, 98], [262, 128, 278, 144]])
    np.testing.assert_allclose(found.score, [1, 1], rtol=1e-5)
    # the whole 300 px frame in 64 px: each patch covers a fraction of a cell, none is found
    assert len(det.detect(frame)) == 0
    assert len(det.detect(frame, np.zeros((0, 4), np.float32))) == 0


def test_fixed_and_symbolic_input_sizes(tmp_path: Path) -> None:
    img, box = frame_with_patch(portrait=False)
    fixed = YoloPlateDetector(onnx_graphs.yolo(tmp_path / "f.onnx"), input_size=640)
    np.testing.assert_allclose(fixed.detect(img).xyxy, [box])  # the model's 64 wins over 640
    sym = onnx_graphs.yolo(tmp_path / "s.onnx", symbolic=True)
    np.testing.assert_allclose(YoloPlateDetector(sym, input_size=64).detect(img).xyxy, [box])
    # at 128 the brightness map has (128/16)^2 = 64 cells, the graph's boxes 16: it was used
    with pytest.raises(Fail, match="64 and 16"):
        YoloPlateDetector(sym, input_size=128).detect(img)


def test_misshapen_models_are_named(tmp_path: Path) -> None:
    with pytest.raises(DetectorModelError, match="plate detector model: model file not found"):
        YoloPlateDetector(tmp_path / "absent.onnx")
    grey = onnx_graphs.add(tmp_path / "grey.onnx", [[1, 1, 64, 64]])
    with pytest.raises(DetectorModelError, match=r"expected one input \[1, 3, H, W\].*1, 1, 64"):
        YoloPlateDetector(grey)
    two = onnx_graphs.add(tmp_path / "two.onnx", [[1, 3, 64, 64], [1, 3, 64, 64]])
    with pytest.raises(DetectorModelError, match=r"expected one input.*'x0'.*'x1'"):
        YoloPlateDetector(two)
    raw = YoloPlateDetector(onnx_graphs.yolo(tmp_path / "raw.onnx", layout="raw"))
    with pytest.raises(DetectorModelError, match=r"got \(1, 1, 4, 4\)"):
        raw.detect(frame_with_patch(portrait=False)[0])


def test_a_model_without_inputs_is_named(tmp_path: Path) -> None:
    with pytest.raises(DetectorModelError, match="expected one input"):
        YoloPlateDetector(onnx_graphs.no_input(tmp_path / "const.onnx"))


def test_from_config_and_config_validation(tmp_path: Path) -> None:
    model = onnx_graphs.yolo(tmp_path / "plates.onnx", layout="columns", classes=(1.0,))
    img, box = frame_with_patch(portrait=True, value=200)  # score 200 / 255 = 0.78
    strict = PlateDetectorConfig(type="yolo", model=model, score_thresh=0.9, output="columns")
    assert len(YoloPlateDetector.from_config(strict).detect(img)) == 0
    loose = YoloPlateDetector.from_config(PlateDetectorConfig(type="yolo", model=model))
    found = loose.detect(img)  # default threshold 0.35
    np.testing.assert_allclose(found.xyxy, [box])
    np.testing.assert_allclose(found.score, [200 / 255], rtol=1e-5)
    with pytest.raises(ValidationError, match=r"'yolo' needs plates\.detector\.model"):
        PlateDetectorConfig(type="yolo")
    with pytest.raises(DetectorModelError, match=r"plates\.detector\.model is not set"):
        YoloPlateDetector.from_config(PlateDetectorConfig())
    absent = PlateDetectorConfig(type="yolo", model=tmp_path / "absent.onnx")
    with pytest.raises(DetectorModelError, match="not found"):
        YoloPlateDetector.from_config(absent)


def test_missing_providers_fall_back_to_the_cpu(tmp_path: Path) -> None:
    model = onnx_graphs.yolo(tmp_path / "p.onnx")
    det = YoloPlateDetector(model, providers=["CUDAExecutionProvider"], score_thresh=0.5)
    assert det.providers[0] == "CPUExecutionProvider"
    assert "CUDAExecutionProvider" not in det.providers  # this machine has no GPU build
    img, box = frame_with_patch(portrait=False)
    np.testing.assert_allclose(det.detect(img).xyxy, [box])


class FakeDetector:
    name = "fake-plates"

    def __init__(self) -> None:
        self.calls: list[tuple[ImageBGR, FloatArray | None]] = []

    def detect(self, image: ImageBGR, regions: FloatArray | None = None) -> Detections:
        self.calls.append((image, regions))
        return Detections.from_boxes([[1, 2, 3, 4]], [0.9])


class FakeRefiner:
    def __init__(self) -> None:
        self.calls: list[tuple[ImageBGR, FloatArray, int, int | None]] = []

    def refine(
        self, image: ImageBGR, windows: FloatArray, *, margin: int = 0, height: int | None = None
    ) -> Detections:
        self.calls.append((image, windows, margin, height))
        return Detections.from_boxes([[5, 6, 7, 8]], [0.4])


def test_refined_detector_forwards_detect_and_refine() -> None:
    detector, refiner = FakeDetector(), FakeRefiner()
    both = RefinedDetector(detector, refiner)
    assert isinstance(both, PlateDetector) and isinstance(both, WindowRefiner)
    assert both.name == "fake-plates"
    img = np.zeros((8, 8, 3), np.uint8)
    regions = np.array([[0, 0, 4, 4]], np.float32)
    np.testing.assert_allclose(both.detect(img, regions).xyxy, [[1, 2, 3, 4]])
    assert len(detector.calls) == 1 and detector.calls[0][0] is img
    assert detector.calls[0][1] is regions and not refiner.calls
    windows = np.array([[1, 1, 6, 6]], np.float32)
    np.testing.assert_allclose(both.refine(img, windows, margin=3).xyxy, [[5, 6, 7, 8]])
    assert len(refiner.calls) == 1 and len(detector.calls) == 1
    assert refiner.calls[0][0] is img and refiner.calls[0][1] is windows
    assert refiner.calls[0][2] == 3 and refiner.calls[0][3] is None
    both.refine(img, windows, height=160)
    assert refiner.calls[1][2:] == (0, 160)
    # its boxes are whole plates: the stage may search a window without a line larger
    assert isinstance(both, WholePlateDetector) and both.finds_whole_plates
