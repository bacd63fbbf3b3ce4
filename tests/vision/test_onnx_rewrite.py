"""Exact rewrites of ONNX graphs: the same function, fewer passes over the feature maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from citywatch.vision.onnx_rewrite import simplified_bytes, simplify

RNG = np.random.default_rng(3)


def const(name: str, value: np.ndarray | float) -> onnx.NodeProto:
    tensor = numpy_helper.from_array(np.asarray(value, np.float32), name)
    return helper.make_node("Constant", [], [name], value=tensor)


def conv_block(
    *, scaled_output: bool = False, six: float = 6.0, bias: bool = True
) -> onnx.ModelProto:
    """x -> Conv (3x3, padded) -> * 0.7 + 0.2 -> hard-swish -> y; ``scaled_output`` also
    sends the scaled convolution (before its shift) to a second output: then it is not folded."""
    w = RNG.normal(size=(4, 3, 3, 3)).astype(np.float32)
    nodes = [
        const("w", w),
        helper.make_node("Conv", ["x", "w", "b"] if bias else ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        const("s", 0.7),
        helper.make_node("Mul", ["s", "c"], ["m"]),
        const("t", 0.2),
        helper.make_node("Add", ["m", "t"], ["a"]),
        const("three", 3.0),
        helper.make_node("Add", ["a", "three"], ["a3"]),
        const("zero", 0.0),
        const("sixc", six),
        helper.make_node("Clip", ["a3", "zero", "sixc"], ["cl"]),
        helper.make_node("Mul", ["a", "cl"], ["hm"]),
        const("six", 6.0),
        helper.make_node("Div", ["hm", "six"], ["y"]),
    ]
    if bias:
        nodes.insert(1, const("b", RNG.normal(size=4).astype(np.float32)))
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])]
    if scaled_output:
        outputs.append(helper.make_tensor_value_info("m", TensorProto.FLOAT, [1, 4, 8, 8]))
    graph = helper.make_graph(
        nodes,
        "block",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        outputs,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)])
    model.ir_version = 8
    return model


def run(model: onnx.ModelProto | bytes, x: np.ndarray) -> list[np.ndarray]:
    data = model if isinstance(model, bytes) else model.SerializeToString()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return list(session.run(None, {"x": x}))


@pytest.mark.parametrize(
    ("kwargs", "hard_swish", "conv_affine"),
    [
        ({}, 1, 1),
        ({"bias": False}, 1, 1),  # a bias is added to hold the shift
        ({"scaled_output": True}, 1, 0),  # the scaled result is needed elsewhere: not folded
        ({"six": 5.0}, 0, 1),  # clip(x + 3, 0, 5) / 6 is not a hard-swish
    ],
)
def test_rewrites_keep_the_function(kwargs: dict, hard_swish: int, conv_affine: int) -> None:
    model = conv_block(**kwargs)
    x = RNG.normal(scale=3.0, size=(1, 3, 8, 8)).astype(np.float32)
    rewritten, done = simplify(model)
    assert (done.hard_swish, done.conv_affine) == (hard_swish, conv_affine)
    before = [n.op_type for n in model.graph.node if n.op_type != "Constant"]
    after = [n.op_type for n in rewritten.graph.node if n.op_type != "Constant"]
    assert len(after) == len(before) - 2 * hard_swish - 2 * conv_affine
    for want, got in zip(run(model, x), run(rewritten, x), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert len(model.graph.node) == len(conv_block(**kwargs).graph.node)  # input untouched


def test_the_plate_text_detector_computes_the_same_maps(shared_data: Path) -> None:
    import cv2
    import rapidocr_onnxruntime

    path = Path(rapidocr_onnxruntime.__file__).parent / "models" / "ch_PP-OCRv4_det_infer.onnx"
    data, done = simplified_bytes(path)
    assert done.hard_swish >= 20 and done.conv_affine >= 20
    original = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rewritten = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    name = original.get_inputs()[0].name
    for photo in sorted((shared_data / "plates" / "images_us").glob("*.jpg"))[:3]:
        image = cv2.resize(cv2.imread(str(photo)), (640, 384), interpolation=cv2.INTER_AREA)
        x = (image.astype(np.float32) * (2 / 255) - 1).transpose(2, 0, 1)[None]
        want = original.run(None, {name: x})[0]
        got = rewritten.run(None, {name: x})[0]
        assert float(np.abs(got - want).max()) < 1e-4  # float rounding only


def test_sessions_opened_with_simplify_run_the_rewritten_graph(tmp_path: Path) -> None:
    from citywatch.vision.onnx_session import OnnxModelError, open_session

    path = tmp_path / "block.onnx"
    model = conv_block()
    onnx.save(model, str(path))
    x = RNG.normal(size=(1, 3, 8, 8)).astype(np.float32)
    session = open_session(path, what="test model", simplify=True)
    np.testing.assert_allclose(session.run(None, {"x": x})[0], run(model, x)[0], atol=1e-5)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(OnnxModelError, match="test model: cannot load ONNX model"):
        open_session(broken, what="test model", simplify=True)


def test_a_model_the_rewrite_fails_on_still_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from citywatch.vision import onnx_rewrite
    from citywatch.vision.onnx_session import open_session

    def fail(path: Path) -> tuple[bytes, object]:
        raise ValueError("unexpected graph")

    monkeypatch.setattr(onnx_rewrite, "simplified_bytes", fail)
    path = tmp_path / "block.onnx"
    onnx.save(conv_block(), str(path))
    with caplog.at_level("WARNING"):
        session = open_session(path, what="user model", simplify=True)
    assert session.run(None, {"x": np.zeros((1, 3, 8, 8), np.float32)})[0].shape == (1, 4, 8, 8)
    assert "user model: graph not rewritten" in caplog.text and "unexpected graph" in caplog.text
