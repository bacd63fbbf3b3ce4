"""Training the plate detector (issue 15): the targets mark shrunk plates and nothing else,
plates too small to learn from are left out of the loss, a converted detector exports back to
ONNX with its own dynamic graph and the trained weights, and a short run trains.  Skips
without torch and onnx2torch (the ``train`` extra) or without the fonts in ../shared/data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from citywatch.training.plate_det import (  # noqa: E402
    MIN_PLATE_PX,
    SIDE,
    DetData,
    DetSettings,
    DetTrainError,
    Frame,
    db_loss,
    distil_loss,
    export_checkpoint,
    export_det,
    load_det,
    shrunk,
    train_det,
)
from citywatch.training.plate_render import load_fonts  # noqa: E402

pytestmark = pytest.mark.slow


def _frame(boxes: tuple[tuple[float, float, float, float], ...]) -> Frame:
    rng = np.random.default_rng(5)
    image = rng.integers(60, 120, (450, 800, 3), dtype=np.uint8)  # a dull scene
    return Frame("drive_a.mp4#t=1", image, boxes)


def test_a_plate_is_shrunk_as_dbnet_shrinks_it() -> None:
    box = np.array([[0, 0], [100, 0], [100, 20], [0, 20]], np.float32)
    inner = shrunk(box)
    assert inner is not None
    # D = A (1 - 0.4^2) / L = 2000 * 0.84 / 240 = 7 px off every side
    assert inner[:, 0].min() == pytest.approx(7, abs=0.6)
    assert inner[:, 1].max() == pytest.approx(13, abs=0.6)
    assert shrunk(np.zeros((4, 2), np.float32)) is None


def test_targets_mark_plates_and_leave_tiny_ones_out_of_the_loss(fonts_dir: Path) -> None:
    big = (300.0, 300.0, 420.0, 330.0)  # 30 px high in the frame
    tiny = (600.0, 100.0, 610.0, 102.0)  # 2 px: no plate to learn from at any crop scale
    data = DetData([_frame((big, tiny))], load_fonts(fonts_dir), seed=2)
    seen_tiny_masked = 0
    for i in range(12):
        img, target, mask = data.sample(i)
        assert img.shape == (SIDE, SIDE, 3) and target.shape == mask.shape == (SIDE, SIDE)
        assert set(np.unique(target)) <= {0.0, 1.0} and set(np.unique(mask)) <= {0.0, 1.0}
        assert not np.any((target > 0) & (mask == 0))  # a plate pixel is always learned from
        seen_tiny_masked += int(np.any(mask == 0))
        again = data.sample(i)
        assert np.array_equal(again[0], img) and np.array_equal(again[1], target)  # seeded
    assert seen_tiny_masked >= 1
    assert MIN_PLATE_PX > 2


def test_a_converted_detector_exports_its_trained_weights_into_the_original_graph(
    tmp_path: Path,
) -> None:
    net = load_det()
    trainable = [p for p in net.parameters() if p.requires_grad]
    frozen = [p for p in net.parameters() if not p.requires_grad]
    assert trainable and frozen  # the stem is kept, as are the upsampling's scales
    assert all(p.numel() != 4 or p.detach().tolist()[:2] != [1.0, 1.0] for p in trainable)
    with torch.no_grad():
        for p in trainable:
            p.add_(0.01 * torch.randn_like(p))
    out = export_det(net, tmp_path / "det.onnx")
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).uniform(-1, 1, (1, 3, SIDE, SIDE)).astype(np.float32)
    with torch.no_grad():
        want = net.eval()(torch.from_numpy(x)).numpy()
    assert np.abs(sess.run(None, {"x": x})[0] - want).max() < 1e-4
    # the original's graph: any picture size, not the size it was checked at
    assert sess.run(None, {"x": x[:, :, :224, :]})[0].shape == (1, 1, 224, SIDE)


def test_a_run_trains_checkpoints_resumes_and_exports(fonts_dir: Path, tmp_path: Path) -> None:
    data = DetData([_frame(((300.0, 300.0, 420.0, 330.0),))], load_fonts(fonts_dir), seed=3)
    steps: list[int] = []
    losses: list[float] = []

    def log(step: int, loss: float) -> None:
        steps.append(step)
        losses.append(loss)

    two = DetSettings(seed=3, steps=2, batch=2, drives=("drive_a",))
    train_det(data, two, tmp_path / "run", progress=log, checkpoint_every=1)
    assert steps == [1, 2] and all(np.isfinite(losses))
    ckpt = tmp_path / "run" / "checkpoint.pt"
    assert torch.load(ckpt, map_location="cpu", weights_only=False)["step"] == 2
    train_det(data, two, tmp_path / "run", progress=log)  # finished: nothing more to do
    assert steps == [1, 2]
    with pytest.raises(DetTrainError, match="other settings"):
        train_det(data, DetSettings(seed=4, steps=2, batch=2), tmp_path / "run")
    out = export_checkpoint(ckpt, tmp_path / "det.onnx")
    assert (
        ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).get_inputs()[0].name
        == "x"
    )
    ckpt.write_bytes(b"truncated")
    with pytest.raises(DetTrainError, match="checkpoint"):
        export_checkpoint(ckpt, tmp_path / "again.onnx")


def test_a_separable_run_from_a_given_detector_trains_and_exports_into_its_own_graph(
    fonts_dir: Path, tmp_path: Path
) -> None:
    import onnx

    from citywatch.vision.plates.build import PLATE_DETECTOR

    data = DetData([_frame(((300.0, 300.0, 420.0, 330.0),))], load_fonts(fonts_dir), seed=3)
    one = DetSettings(
        seed=3, steps=1, batch=2, drives=("drive_a",), init=str(PLATE_DETECTOR),
        separable=True, distil=0.5,
    )  # fmt: skip
    train_det(data, one, tmp_path / "run")
    source = tmp_path / "run" / "source.onnx"
    kinds = [n.name for n in onnx.load(str(source)).graph.node if n.op_type == "Conv"]
    assert sum(name.endswith(".dw") for name in kinds) == 5
    with pytest.raises(DetTrainError, match="other settings"):  # not the same run
        train_det(data, DetSettings(**{**one.__dict__, "separable": False}), tmp_path / "run")
    out = export_checkpoint(tmp_path / "run" / "checkpoint.pt", tmp_path / "sep.onnx")
    exported = [n.name for n in onnx.load(str(out)).graph.node if n.op_type == "Conv"]
    assert exported == kinds  # the trained weights, written into the separable graph


def test_the_loss_is_lower_for_the_right_map() -> None:
    target = torch.zeros(1, SIDE, SIDE)
    target[0, 100:110, 50:150] = 1
    mask = torch.ones(1, SIDE, SIDE)
    right = target[:, None] * 0.999 + 0.0005
    wrong = 1 - right
    assert float(db_loss(right, target, mask)) < 0.2 < float(db_loss(wrong, target, mask))


def test_the_distillation_loss_is_lowest_for_the_teachers_own_map() -> None:
    want = torch.zeros(1, 1, 64, 64)
    want[..., 20:30, 10:50] = 0.9
    wider = torch.zeros_like(want)
    wider[..., 18:32, 6:54] = 0.9  # the same plate reaching further
    assert float(distil_loss(want, want)) < float(distil_loss(wider, want))
    assert float(distil_loss(want, want)) < float(distil_loss(torch.zeros_like(want), want))


def test_an_unreadable_detector_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "det.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(DetTrainError, match=r"det\.onnx"):
        load_det(bad)


def test_dashcam_frames_load_with_their_boxes_by_drive(tmp_path: Path) -> None:
    import cv2

    for split, name in (("train", "day_1.mp4#t=5"), ("valid", "night_2.mp4#t=9")):
        (tmp_path / split / "annots").mkdir(parents=True)
        (tmp_path / split / "images").mkdir(parents=True)
        cv2.imwrite(
            str(tmp_path / split / "images" / f"{name}.jpg"), np.zeros((720, 1280, 3), np.uint8)
        )
        box = "<xmin>100</xmin><ymin>200</ymin><xmax>260</xmax><ymax>240</ymax>"
        xml = f"<annotation><object><bndbox>{box}</bndbox></object></annotation>"
        (tmp_path / split / "annots" / f"{name}.xml").write_text(xml)
    from citywatch.training.plate_det import CACHE_SIDE, ro_frames

    frames = ro_frames(tmp_path, ["day_1"])
    assert [f.drive for f in frames] == ["day_1"]
    s = CACHE_SIDE / 1280
    assert np.allclose(frames[0].boxes, [(100 * s, 200 * s, 260 * s, 240 * s)])
    assert max(frames[0].image.shape[:2]) == CACHE_SIDE
    assert len(ro_frames(tmp_path)) == 2
    with pytest.raises(DetTrainError, match="annots"):
        ro_frames(tmp_path / "train" / "images")
