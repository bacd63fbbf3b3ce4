"""Fine-tuning the shipped PP-OCRv4 recogniser (issue 15's other route): converted to torch it
reads rendered plates as onnxruntime does at each plate's own width; a few fine-tuning steps
export to an ONNX file with the original's graph and contract that the plate reader loads; a run
folder of another ``init`` is refused; the one-line generator draws no stacked plate.  Skips
without torch and onnx2torch (the ``train`` extra) or without the fonts in ../shared/data."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from citywatch.training import plate_ppocr  # noqa: E402
from citywatch.training.plate_export import export_onnx  # noqa: E402
from citywatch.training.plate_render import load_fonts  # noqa: E402
from citywatch.training.plate_synth import PlateSynth  # noqa: E402
from citywatch.training.plate_train import (  # noqa: E402
    TrainingError,
    TrainSettings,
    load_checkpoint,
    train,
)
from citywatch.vision.plates.ctc import ALPHABET  # noqa: E402
from citywatch.vision.plates.ppocr import (  # noqa: E402
    CtcRecogniser,
    line_tensor,
    line_width,
    min_width_for,
)

pytestmark = pytest.mark.slow
TINY = TrainSettings(
    seed=3, steps=2, batch=2, eval_every=2, eval_samples=2, checkpoint_every=2, init="ppocr"
)


@pytest.fixture(scope="module")
def converted() -> tuple[plate_ppocr.PpocrNet, plate_ppocr.PpocrClasses]:
    try:
        plate_ppocr._import_onnx2torch()
    except plate_ppocr.PpocrError as err:
        pytest.skip(str(err))
    torch.set_num_threads(1)
    return plate_ppocr.load_ppocr()


@pytest.fixture(scope="module")
def synths(fonts_dir: Path) -> tuple[PlateSynth, PlateSynth]:
    fonts = load_fonts(fonts_dir)
    return PlateSynth(fonts, seed=3, one_line=True), PlateSynth(fonts, seed=10_003, one_line=True)


def test_classes_are_the_models_own(
    converted: tuple[plate_ppocr.PpocrNet, plate_ppocr.PpocrClasses],
) -> None:
    _, classes = converted
    assert len(classes.characters) == 6625 and classes.characters[0] == "<blank>"
    assert classes.characters[-1] == " " and classes.space == 6624
    codes = classes.encode("ZG 12")
    assert [classes.characters[k] for k in codes] == ["Z", "G", " ", "1", "2"]
    symbols = classes.symbols()
    assert "".join(symbols[k] for k in codes) == "ZG12"
    assert sorted({s for s in symbols if s}) == sorted(ALPHABET)
    with pytest.raises(ValueError, match="not a plate symbol"):
        classes.encode("Z-1")


def test_conversion_reads_as_onnxruntime(
    converted: tuple[plate_ppocr.PpocrNet, plate_ppocr.PpocrClasses],
    synths: tuple[PlateSynth, PlateSynth],
) -> None:
    net, _ = converted
    net.eval()
    sess = ort.InferenceSession(str(plate_ppocr.source_path()), providers=["CPUExecutionProvider"])
    widths, worst = set(), 0.0
    for i in range(6):
        image = synths[1].sample_at(i).image
        for stretch in (1.0, 1.4):
            width = line_width(image, stretch, 48)
            widths.add(width)
            x = line_tensor([image], width, 48, min_width_for(48))
            want = sess.run(None, {"x": x})[0]
            with torch.no_grad():
                got = torch.softmax(net(torch.from_numpy(x)), dim=2).numpy()
            assert got.shape == want.shape
            worst = max(worst, float(np.abs(got - want).max()))
    assert len(widths) > 3  # a dynamic width
    assert worst < 1e-4


def test_fine_tuned_export_keeps_the_contract(
    synths: tuple[PlateSynth, PlateSynth],
    converted: tuple[plate_ppocr.PpocrNet, plate_ppocr.PpocrClasses],
    tmp_path: Path,
) -> None:
    last = train(TINY, *synths, tmp_path)
    assert last["step"] == 2 and 0.0 <= last["val_exact"] <= 1.0
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["settings"]["init"] == "ppocr"
    path = export_onnx(tmp_path / "checkpoint.pt", tmp_path / "plate.onnx")
    original = onnx.load(str(plate_ppocr.source_path()))
    tuned = onnx.load(str(path))
    assert path.stat().st_size < 0.55 * plate_ppocr.source_path().stat().st_size  # float16
    casts = [n for n in tuned.graph.node if n.op_type == "Cast" and n.input[0].endswith("_f16")]
    plain = [n for n in tuned.graph.node if n not in casts]
    assert [n.op_type for n in plain] == [n.op_type for n in original.graph.node]
    assert [i.name for i in tuned.graph.input] == [i.name for i in original.graph.input]
    assert [o.name for o in tuned.graph.output] == [o.name for o in original.graph.output]
    meta = {p.key: p.value for p in tuned.metadata_props}
    assert meta["citywatch_model"] == "plate-ppocr" and meta["trained_steps"] == "2"

    def weights(model: onnx.ModelProto) -> dict[str, np.ndarray]:
        return {
            n.output[0].removesuffix("_f16"): onnx.numpy_helper.to_array(n.attribute[0].t)
            for n in model.graph.node
            if n.op_type == "Constant"
        }

    before, after = weights(original), weights(tuned)
    halves = [k for k, v in after.items() if v.dtype == np.float16]
    assert len(halves) > 100 and set(after) == set(before)
    moved = sum(  # beyond float16 rounding: trained
        not np.array_equal(before[k].astype(np.float16), after[k]) for k in halves
    )
    assert moved > 50
    # WiSE-FT: half the fine-tuned weights, half the original's
    mixed = export_onnx(tmp_path / "checkpoint.pt", tmp_path / "half.onnx", blend=0.5)
    half = weights(onnx.load(str(mixed)))
    assert {p.key: p.value for p in onnx.load(str(mixed)).metadata_props}["blend"] == "0.5"
    for k in halves:
        want = (before[k].astype(np.float32) + after[k].astype(np.float32)) / 2
        assert np.allclose(half[k].astype(np.float32), want, rtol=2e-3, atol=2e-3), k
    rec = CtcRecogniser(path)
    assert (rec.height, rec.rows, len(rec.characters)) == (48, 1, 6625)
    (probs,) = rec.probabilities([synths[1].sample_at(0).image], stretch=1.4)
    assert len(probs) >= 20 and np.isfinite(probs.chars).all()


def test_run_folder_of_another_init_is_refused(
    synths: tuple[PlateSynth, PlateSynth], tmp_path: Path
) -> None:
    train(replace(TINY, init="scratch", steps=1), *synths, tmp_path)
    with pytest.raises(TrainingError, match="other settings \\(init"):
        train(replace(TINY, steps=1), *synths, tmp_path)


def test_one_line_generator_draws_no_stacked_plate(
    synths: tuple[PlateSynth, PlateSynth], shared_data: Path
) -> None:
    both = PlateSynth.from_folder(shared_data / "plates" / "fonts", seed=3)
    assert any(len(both.sample_at(i).lines) == 2 for i in range(60))
    assert all(len(synths[0].sample_at(i).lines) <= 1 for i in range(60))
