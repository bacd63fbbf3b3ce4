"""Fine-tuning PP-OCRv6 small, the US default recogniser (issue 15): its ``SAME_UPPER`` padding
written out reads as before; converted to torch it reads rendered plates as onnxruntime does;
its stem and first stage are frozen and the rest trains; a few fine-tuning steps (each crop read
alone, as at run time) export to an ONNX file with the original's graph, initializers stored as
float16, and contract, which the plate reader loads.  Skips without torch and onnx2torch (the
``train`` extra), without the fonts in ../shared/data, or where PP-OCRv6 small is not prepared
(``citywatch models prepare``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper  # noqa: E402

from citywatch.training import plate_ppocr  # noqa: E402
from citywatch.training.plate_export import export_onnx  # noqa: E402
from citywatch.training.plate_render import load_fonts  # noqa: E402
from citywatch.training.plate_synth import PlateSynth  # noqa: E402
from citywatch.training.plate_train import (  # noqa: E402
    TrainSettings,
    build,
    load_checkpoint,
    train,
)
from citywatch.vision.plates.ppocr import (  # noqa: E402
    CtcRecogniser,
    line_tensor,
    line_width,
    min_width_for,
)
from tests.conftest import require  # noqa: E402

pytestmark = pytest.mark.slow
TINY = TrainSettings(
    seed=3, steps=2, batch=2, eval_every=2, eval_samples=2, checkpoint_every=2, init="ppocrv6"
)


def _onnx2torch() -> None:
    try:
        plate_ppocr._import_onnx2torch()
    except plate_ppocr.PpocrError as err:
        pytest.skip(str(err))


@pytest.fixture(scope="module")
def v6_path() -> Path:
    _onnx2torch()
    try:
        path = plate_ppocr.source_of("ppocrv6")
    except plate_ppocr.PpocrError as err:
        require(False, str(err))
    assert path is not None
    return path


@pytest.fixture(scope="module")
def converted(v6_path: Path) -> tuple[plate_ppocr.PpocrNet, plate_ppocr.PpocrClasses]:
    torch.set_num_threads(1)
    return plate_ppocr.load_ppocr(v6_path)


@pytest.fixture(scope="module")
def synths(fonts_dir: Path) -> tuple[PlateSynth, PlateSynth]:
    fonts = load_fonts(fonts_dir)
    return PlateSynth(fonts, seed=3, one_line=True), PlateSynth(fonts, seed=10_003, one_line=True)


def _pool_and_conv(auto_pad: str, stride: int) -> onnx.ModelProto:
    """x -> 2x2 convolution -> 2x2 max pooling, both padded ``auto_pad``, then a softmax."""
    rng = np.random.default_rng(5)
    w = onnx.numpy_helper.from_array(rng.normal(size=(4, 3, 2, 2)).astype(np.float32), "w")
    nodes = [
        helper.make_node(
            "Conv", ["x", "w"], ["c"], kernel_shape=[2, 2], strides=[stride] * 2, auto_pad=auto_pad
        ),
        helper.make_node(
            "MaxPool", ["c"], ["p"], kernel_shape=[2, 2], strides=[1, 1], auto_pad=auto_pad
        ),
        helper.make_node("Softmax", ["p"], ["y"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "same_upper",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 9])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [w],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    out: np.ndarray = sess.run(None, {"x": x})[0]
    return out


def test_same_upper_padding_written_out_reads_as_before() -> None:
    model = _pool_and_conv("SAME_UPPER", 1)
    x = np.random.default_rng(6).normal(size=(1, 3, 6, 9)).astype(np.float32)
    want = _run(model, x)
    for node in model.graph.node:
        plate_ppocr._explicit_pads(node)
    attrs = {a.name: helper.get_attribute_value(a) for a in model.graph.node[0].attribute}
    assert "auto_pad" not in attrs and attrs["pads"] == [0, 0, 1, 1]  # the extra pixel at the end
    got = _run(model, x)
    assert got.shape == want.shape == (1, 4, 6, 9)
    np.testing.assert_allclose(got, want, atol=1e-6)
    with pytest.raises(plate_ppocr.PpocrError, match="strides"):
        plate_ppocr._explicit_pads(_pool_and_conv("SAME_UPPER", 2).graph.node[0])


def test_v6_classes_and_conversion_read_as_onnxruntime(
    converted: tuple[plate_ppocr.PpocrNet, plate_ppocr.PpocrClasses],
    synths: tuple[PlateSynth, PlateSynth],
    v6_path: Path,
) -> None:
    net, classes = converted
    assert len(classes.characters) == 18_710 and classes.space == 18_709
    assert "".join(classes.symbols()[k] for k in classes.encode("8B 5Z")) == "8B5Z"
    net.eval()
    sess = ort.InferenceSession(str(v6_path), providers=["CPUExecutionProvider"])
    widths, worst = set(), 0.0
    for i in range(4):
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
    assert len(widths) > 3
    assert worst < 1e-4


def test_v6_stem_and_first_stage_frozen_the_rest_trains(v6_path: Path) -> None:
    arch = build("ppocrv6")
    assert arch.alone and arch.height == 48 and arch.rows == 1
    grads = {n: p.requires_grad for n, p in arch.net.graph.named_parameters()}
    assert not grads["Conv/0.weight"] and not grads["Conv/7.weight"]
    assert not grads["Conv/1.1.weight"]  # a padded stem convolution, inside (pad, conv)
    assert grads["Conv/8.weight"] and grads["Conv/54.weight"]
    frozen = [n for n, g in grads.items() if not g]
    assert any(n.startswith("initializers.") for n in frozen)  # the stem's biases too
    assert 0 < len(frozen) < len(grads) // 4


def test_v6_fine_tuned_export_keeps_the_contract(
    synths: tuple[PlateSynth, PlateSynth], v6_path: Path, tmp_path: Path
) -> None:
    last = train(TINY, *synths, tmp_path)
    assert last["step"] == 2 and 0.0 <= last["val_exact"] <= 1.0
    assert load_checkpoint(tmp_path / "checkpoint.pt")["settings"]["init"] == "ppocrv6"
    path = export_onnx(tmp_path / "checkpoint.pt", tmp_path / "plate.onnx")
    original, tuned = onnx.load(str(v6_path)), onnx.load(str(path))
    assert path.stat().st_size < 0.55 * v6_path.stat().st_size  # float16
    casts = [n for n in tuned.graph.node if n.op_type == "Cast" and n.input[0].endswith("_f16")]
    plain = [n for n in tuned.graph.node if n not in casts]
    assert [n.op_type for n in plain] == [n.op_type for n in original.graph.node]
    assert [i.name for i in tuned.graph.input] == [i.name for i in original.graph.input]
    assert [o.name for o in tuned.graph.output] == [o.name for o in original.graph.output]
    meta = {p.key: p.value for p in tuned.metadata_props}
    assert meta["citywatch_model"] == "plate-ppocrv6" and "PP-OCRv6 small" in meta["data"]
    before = {t.name: onnx.numpy_helper.to_array(t) for t in original.graph.initializer}
    after = {
        t.name.removesuffix("_f16"): onnx.numpy_helper.to_array(t) for t in tuned.graph.initializer
    }
    halves = [k for k, v in after.items() if v.dtype == np.float16]
    assert len(halves) > 100 and set(after) == set(before)
    moved = sum(not np.array_equal(before[k].astype(np.float16), after[k]) for k in halves)
    assert moved > 50  # trained beyond float16 rounding
    assert np.array_equal(before["conv2d_68.w_0"].astype(np.float16), after["conv2d_68.w_0"])
    rec = CtcRecogniser(path)
    assert (rec.height, rec.rows, len(rec.characters)) == (48, 1, 18_710)
    (probs,) = rec.probabilities([synths[1].sample_at(0).image], stretch=1.4)
    assert len(probs) >= 20 and np.isfinite(probs.chars).all()
