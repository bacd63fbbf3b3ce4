"""The shipped ``ppocrv6-plates`` trained further at another input height (issue 15: a reader
cheaper per plate): a few steps at 32 rows export to a file that declares 32, stores its
weights as float32 when asked, names what it was trained from, and that the plate reader loads at
32; heights the network cannot read at, and a height for a network that has none to choose,
are refused.  Skips without torch and onnx2torch (the ``train`` extra) or the fonts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from citywatch.training import plate_ppocr  # noqa: E402
from citywatch.training.plate_export import export_onnx  # noqa: E402
from citywatch.training.plate_render import load_fonts  # noqa: E402
from citywatch.training.plate_synth import PlateSynth  # noqa: E402
from citywatch.training.plate_train import (  # noqa: E402
    TrainingError,
    TrainSettings,
    build,
    train,
)
from citywatch.vision.plates.ppocr import CtcRecogniser  # noqa: E402
from citywatch.vision.plates.recognisers import shipped_path  # noqa: E402

pytestmark = pytest.mark.slow
TINY = TrainSettings(
    seed=3,
    steps=2,
    batch=2,
    eval_every=2,
    eval_samples=2,
    checkpoint_every=2,
    init="ppocrv6-plates",
    height=32,
)


@pytest.fixture(scope="module", autouse=True)
def _onnx2torch() -> None:
    try:
        plate_ppocr._import_onnx2torch()
    except plate_ppocr.PpocrError as err:
        pytest.skip(str(err))
    torch.set_num_threads(1)


@pytest.mark.parametrize(
    ("init", "height", "error"),
    [
        ("scratch", 32, "an input height is for a PP-OCR fine-tune"),
        ("plate-crnn", 48, "an input height is for a PP-OCR fine-tune"),
        ("ppocrv6-plates", 40, "input height 40: expected one of 32, 48, 64"),
        ("ppocrv6-plates", 16, "input height 16"),
    ],
)
def test_heights_it_cannot_train_at_are_refused(init: str, height: int, error: str) -> None:
    with pytest.raises(TrainingError, match=error):
        build(init, height)


@pytest.mark.parametrize(
    ("init", "step", "error"),
    [
        ("ppocr", 4, "a column step is for a PP-OCRv6 fine-tune, not 'ppocr'"),
        ("scratch", 4, "a column step is for a PP-OCRv6 fine-tune"),
        ("ppocrv6-plates", 2, "a step of 2 columns, expected 4 or 8"),
    ],
)
def test_column_steps_it_cannot_train_with_are_refused(init: str, step: int, error: str) -> None:
    with pytest.raises(TrainingError, match=error):
        build(init, None, step)


def test_a_step_every_4_columns_reads_twice_the_steps() -> None:
    x = torch.zeros(1, 3, 32, 160)
    steps = {}
    for step in (8, 4):
        arch = build("ppocrv6-plates", 32, step)
        assert arch.stride == step
        with torch.no_grad():
            steps[step] = arch.net(x).shape[1]
    assert (steps[8], steps[4]) == (20, 40)


def test_fine_tune_at_32_rows_exports_a_file_the_reader_loads_at_32(
    fonts_dir: Path, tmp_path: Path
) -> None:
    fonts = load_fonts(fonts_dir)
    synths = PlateSynth(fonts, seed=3, one_line=True), PlateSynth(fonts, seed=10_003, one_line=True)
    arch = build("ppocrv6-plates", 32)
    assert arch.height == 32 and arch.alone and len(arch.symbols) == 69
    last = train(TINY, *synths, tmp_path)
    assert last["step"] == 2
    path = export_onnx(
        tmp_path / "checkpoint.pt", tmp_path / "plate.onnx", plate_classes=True, half=False
    )
    source = shipped_path("ppocrv6-plates")
    size = path.stat().st_size
    assert 1.8 * source.stat().st_size < size < 2.2 * source.stat().st_size  # float32, 69 classes
    tuned = onnx.load(str(path))
    assert not any(n.op_type == "Cast" for n in tuned.graph.node)
    assert tuned.graph.input[0].type.tensor_type.shape.dim[2].dim_value == 32
    meta = {p.key: p.value for p in tuned.metadata_props}
    assert "ppocrv6-plates" in meta["data"] and "input height 32" in meta["data"]
    assert '"height": 32' in meta["training"]
    rec = CtcRecogniser(path)
    assert (rec.height, rec.rows, len(rec.characters)) == (32, 1, 69)
    (probs,) = rec.probabilities([synths[1].sample_at(0).image], stretch=1.0)
    assert len(probs) >= 10 and np.isfinite(probs.chars).all()
