"""Training the plate recogniser (issue 15), a few steps on tiny batches: seeded and resumable
(an interrupted run resumed ends with the weights of an uninterrupted one), a truncated
checkpoint named, the export read by the ONNX recogniser.  Skips without torch (the ``train``
extra is not part of ``make test``) or without the fonts in ../shared/data."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from citywatch.training.plate_export import blend_weights, export_onnx  # noqa: E402
from citywatch.training.plate_render import load_fonts  # noqa: E402
from citywatch.training.plate_synth import PlateSynth  # noqa: E402
from citywatch.training.plate_train import (  # noqa: E402
    Progress,
    TrainingError,
    TrainSettings,
    load_checkpoint,
    train,
)
from citywatch.vision.plates.ppocr import CtcRecogniser  # noqa: E402

pytestmark = pytest.mark.slow
TINY = TrainSettings(seed=3, steps=4, batch=3, eval_every=2, eval_samples=3, checkpoint_every=2)


class Stop(Exception):
    pass


@pytest.fixture(scope="module")
def synths(fonts_dir: Path) -> tuple[PlateSynth, PlateSynth]:
    fonts = load_fonts(fonts_dir)
    return PlateSynth(fonts, seed=3), PlateSynth(fonts, seed=10_003)


def test_interrupted_run_resumes_to_the_same_weights(
    synths: tuple[PlateSynth, PlateSynth], tmp_path: Path
) -> None:
    torch.set_num_threads(1)
    straight = tmp_path / "straight"
    last = train(TINY, *synths, straight)
    assert last["step"] == 4 and 0.0 <= last["val_exact"] <= 1.0

    def stop_at_2(p: Progress) -> None:
        if p.step == 2:
            raise Stop

    resumed = tmp_path / "resumed"
    with pytest.raises(Stop):
        train(TINY, *synths, resumed, on_step=stop_at_2)
    assert load_checkpoint(resumed / "checkpoint.pt")["step"] == 2
    train(TINY, *synths, resumed)
    a = load_checkpoint(straight / "checkpoint.pt")
    b = load_checkpoint(resumed / "checkpoint.pt")
    assert a["step"] == b["step"] == 4
    for name, tensor in a["model"].items():
        assert torch.allclose(tensor.float(), b["model"][name].float(), atol=1e-6), name
    lines = (resumed / "log.jsonl").read_text().splitlines()
    assert len(lines) == 2  # steps 2 and 4


def test_stop_at_makes_a_checkpoint_between_the_regular_ones_on_the_same_schedule(
    synths: tuple[PlateSynth, PlateSynth], tmp_path: Path
) -> None:
    torch.set_num_threads(1)
    straight = tmp_path / "straight"
    train(TINY, *synths, straight)
    run = tmp_path / "run"
    last = train(TINY, *synths, run, stop_at=3)  # checkpoints fall every 2 steps
    assert last["step"] == 3 and "val_exact" in last  # measured where it stopped
    assert load_checkpoint(run / "checkpoint.pt")["step"] == 3
    train(TINY, *synths, run)  # on to the end of the 4-step schedule
    a = load_checkpoint(straight / "checkpoint.pt")
    b = load_checkpoint(run / "checkpoint.pt")
    assert b["step"] == 4
    for name, tensor in a["model"].items():
        assert torch.allclose(tensor.float(), b["model"][name].float(), atol=1e-6), name


@pytest.mark.parametrize("stop_at", [0, 5])
def test_stop_at_outside_the_schedule_is_refused(
    synths: tuple[PlateSynth, PlateSynth], tmp_path: Path, stop_at: int
) -> None:
    with pytest.raises(TrainingError, match=f"stop at step {stop_at}: expected 1..4"):
        train(TINY, *synths, tmp_path / "run", stop_at=stop_at)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_resume_with_other_settings_is_refused(
    synths: tuple[PlateSynth, PlateSynth], tmp_path: Path
) -> None:
    train(replace(TINY, steps=2), *synths, tmp_path)
    with pytest.raises(TrainingError, match="other settings \\(seed"):
        train(replace(TINY, steps=2, seed=4), *synths, tmp_path)


def test_a_changed_stroke_share_is_refused_on_resume(
    synths: tuple[PlateSynth, PlateSynth], tmp_path: Path
) -> None:
    train(replace(TINY, steps=2), *synths, tmp_path)
    with pytest.raises(TrainingError, match="other settings \\(stroke_share"):
        train(replace(TINY, steps=2, stroke_share=0.5), *synths, tmp_path)


def test_blend_averages_floating_weights_and_keeps_counters() -> None:
    original = {"w": torch.tensor([0.0, 2.0]), "n": torch.tensor(3)}
    tuned = {"w": torch.tensor([4.0, 6.0]), "n": torch.tensor(7)}
    half = blend_weights(original, tuned, 0.5)
    assert torch.equal(half["w"], torch.tensor([2.0, 4.0])) and int(half["n"]) == 7
    quarter = blend_weights(original, tuned, 0.25)
    assert torch.equal(quarter["w"], torch.tensor([1.0, 3.0]))
    assert torch.equal(blend_weights(original, tuned, 1.0)["w"], tuned["w"])
    with pytest.raises(TrainingError, match="other weights"):
        blend_weights({"w": original["w"]}, tuned, 0.5)
    with pytest.raises(TrainingError, match="weight w is \\(3,\\), originally \\(2,\\)"):
        blend_weights(original, {**tuned, "w": torch.zeros(3)}, 0.5)


def test_a_blend_of_a_scratch_checkpoint_or_out_of_range_is_refused(
    synths: tuple[PlateSynth, PlateSynth], tmp_path: Path
) -> None:
    torch.set_num_threads(1)
    train(replace(TINY, steps=1), *synths, tmp_path / "run")
    ckpt = tmp_path / "run" / "checkpoint.pt"
    with pytest.raises(TrainingError, match="trained from scratch"):
        export_onnx(ckpt, tmp_path / "x.onnx", blend=0.5)
    with pytest.raises(TrainingError, match=r"blend 0\.0: expected"):
        export_onnx(ckpt, tmp_path / "x.onnx", blend=0.0)
    assert not (tmp_path / "x.onnx").exists()


def test_truncated_checkpoint_is_named(
    synths: tuple[PlateSynth, PlateSynth], tmp_path: Path
) -> None:
    train(replace(TINY, steps=2), *synths, tmp_path)
    ckpt = tmp_path / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    with pytest.raises(TrainingError, match="cannot be read \\(truncated") as err:
        train(replace(TINY, steps=2), *synths, tmp_path)
    assert str(ckpt) in str(err.value)
    with pytest.raises(TrainingError, match=str(ckpt)):
        export_onnx(ckpt, tmp_path / "m.onnx")


def test_export_is_read_by_the_onnx_recogniser(
    synths: tuple[PlateSynth, PlateSynth], tmp_path: Path
) -> None:
    train(replace(TINY, steps=2), *synths, tmp_path)
    path = export_onnx(tmp_path / "checkpoint.pt", tmp_path / "plate.onnx")
    rec = CtcRecogniser(path)
    assert (rec.height, rec.rows) == (32, 2)
    (probs,) = rec.probabilities([synths[0].sample_at(0).image])
    assert len(probs) > 3 and float(probs.chars.sum(axis=1).max()) <= 1.0 + 1e-5


def test_plate_classes_on_a_scratch_checkpoint_is_refused(
    synths: tuple[PlateSynth, PlateSynth], tmp_path: Path
) -> None:
    torch.set_num_threads(1)
    train(replace(TINY, steps=1), *synths, tmp_path / "run")
    with pytest.raises(TrainingError, match="for a fine-tuned PP-OCR"):
        export_onnx(tmp_path / "run" / "checkpoint.pt", tmp_path / "x.onnx", plate_classes=True)
    assert not (tmp_path / "x.onnx").exists()


def test_the_shipped_plate_crnn_is_trained_further_from_its_own_weights(
    synths: tuple[PlateSynth, PlateSynth], tmp_path: Path
) -> None:
    """``init plate-crnn``: the exported file's weights (batch norms folded) become a network
    that reads as the file does, keeps its batch norms fixed while it trains, and exports back
    with the real share it learned from named."""
    import numpy as np
    import onnxruntime as ort

    from citywatch.training.plate_model import HEIGHT, Exported, from_exported
    from citywatch.vision.plates.recognisers import shipped_path

    shipped = shipped_path("plate-crnn")
    net = from_exported(shipped).train()
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and not any(m.training for m in norms)
    x = torch.randn(2, 3, HEIGHT, 120)
    sess = ort.InferenceSession(str(shipped), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        want = Exported(net.eval()).forward(x).numpy()
    assert np.abs(sess.run(None, {"x": x.numpy()})[0] - want).max() < 1e-4

    torch.set_num_threads(1)
    settings = replace(TINY, init="plate-crnn", lr=5e-4, real="crops", real_share=0.25)
    last = train(settings, *synths, tmp_path / "run")
    assert last["step"] == 4
    onnx_path = export_onnx(tmp_path / "run" / "checkpoint.pt", tmp_path / "ft.onnx")
    rec = CtcRecogniser(onnx_path)
    assert rec.rows == 2
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    assert "0.25 of the samples real crops" in meta["data"]
    assert "fine-tuned from the shipped plate-crnn" in meta["data"]
    with pytest.raises(TrainingError, match="real_share"):
        train(replace(settings, real_share=0.5), *synths, tmp_path / "run")


def test_a_file_that_is_no_plate_crnn_export_is_named(tmp_path: Path) -> None:
    from citywatch.training.plate_model import from_exported
    from citywatch.vision.plates.recognisers import shipped_path

    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(ValueError, match=r"bad\.onnx"):
        from_exported(bad)
    with pytest.raises(ValueError, match="not a plate-crnn export"):
        from_exported(shipped_path("ppocrv6-plates"))
