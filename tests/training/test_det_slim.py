"""The plate detector's full 3x3 convolutions made depthwise-separable (no torch needed)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from citywatch.training.det_slim import make_separable, separable_candidates, separable_pair
from citywatch.vision.plates.build import PLATE_DETECTOR


def _const(name: str, value: np.ndarray) -> onnx.NodeProto:
    return helper.make_node(
        "Constant", [], [name], value=numpy_helper.from_array(value.astype(np.float32), name)
    )


def _graph(weight: np.ndarray, bias: np.ndarray, stem: np.ndarray) -> onnx.ModelProto:
    """x -> a stride-2 stem conv (3 channels in) -> a full 3x3 conv with bias -> y."""
    nodes = [
        _const("stem.w", stem),
        _const("full.w", weight),
        _const("full.b", bias),
        helper.make_node(
            "Conv", ["x", "stem.w"], ["s"], name="stem", kernel_shape=[3, 3],
            pads=[1, 1, 1, 1], strides=[2, 2],
        ),
        helper.make_node(
            "Conv", ["s", "full.w", "full.b"], ["y"], name="full", kernel_shape=[3, 3],
            pads=[1, 1, 1, 1], strides=[1, 1],
        ),
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6, 8, 8])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _run(proto: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    out: np.ndarray = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    return out


def test_a_kernel_of_rank_one_per_input_channel_is_factorised_exactly() -> None:
    rng = np.random.default_rng(1)
    u, v = rng.normal(size=(6, 4)), rng.normal(size=(4, 9))
    weight = np.einsum("oi,ik->oik", u, v).reshape(6, 4, 3, 3).astype(np.float32)
    depthwise, pointwise = separable_pair(weight)
    assert depthwise.shape == (4, 1, 3, 3) and pointwise.shape == (6, 4, 1, 1)
    again = np.einsum("oi,ihw->oihw", pointwise[:, :, 0, 0], depthwise[:, 0])
    np.testing.assert_allclose(again, weight, rtol=1e-4, atol=1e-5)


def test_a_general_kernel_gets_its_best_rank_one_slices() -> None:
    weight = np.random.default_rng(2).normal(size=(5, 3, 3, 3)).astype(np.float32)
    depthwise, pointwise = separable_pair(weight)
    for i in range(3):
        got = np.outer(pointwise[:, i, 0, 0], depthwise[i, 0].ravel())
        s = np.linalg.svd(weight[:, i].reshape(5, 9), compute_uv=False)
        # Eckart-Young: the error left is the rest of the spectrum
        assert np.linalg.norm(weight[:, i].reshape(5, 9) - got) == pytest.approx(
            np.sqrt((s[1:] ** 2).sum()), rel=1e-4
        )


def test_the_graph_computes_the_same_where_the_factorisation_is_exact() -> None:
    rng = np.random.default_rng(3)
    u, v = rng.normal(size=(6, 8)), rng.normal(size=(8, 9))
    weight = np.einsum("oi,ik->oik", u, v).reshape(6, 8, 3, 3)
    proto = _graph(weight, rng.normal(size=6), rng.normal(size=(8, 3, 3, 3)))
    x = rng.normal(size=(1, 3, 16, 16)).astype(np.float32)
    want = _run(proto, x)
    assert separable_candidates(proto) == ["full"]  # the 3-channel, stride-2 stem is not
    assert make_separable(proto) == ["full"]
    convs = [n for n in proto.graph.node if n.op_type == "Conv"]
    assert [n.name for n in convs] == ["stem", "full.dw", "full.pw"]
    assert {a.name: a.i for a in convs[1].attribute}["group"] == 8
    assert "full.w" not in {o for n in proto.graph.node for o in n.output}  # dropped
    onnx.checker.check_model(proto)
    np.testing.assert_allclose(_run(proto, x), want, rtol=1e-3, atol=1e-3)


def test_a_name_that_is_not_a_full_3x3_convolution_is_refused() -> None:
    rng = np.random.default_rng(4)
    proto = _graph(rng.normal(size=(6, 8, 3, 3)), rng.normal(size=6), rng.normal(size=(8, 3, 3, 3)))
    with pytest.raises(ValueError, match="stem"):
        make_separable(proto, ["stem"])


def test_the_shipped_detector_has_five_such_convolutions_and_still_runs_made_separable() -> None:
    proto = onnx.load(str(PLATE_DETECTOR))
    names = separable_candidates(proto)
    assert len(names) == 5
    x = np.random.default_rng(5).uniform(-1, 1, (1, 3, 96, 128)).astype(np.float32)
    before = _run(proto, x)
    make_separable(proto)
    after = _run(proto, x)
    assert after.shape == before.shape
    assert float(after.min()) >= 0.0 and float(after.max()) <= 1.0  # still a probability map
    assert separable_candidates(proto) == []
