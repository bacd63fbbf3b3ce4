"""How a recogniser's weights are stored and the height it reads at (issue 15), without torch:
float16 storage undone exactly, a graph made to read fewer rows or to give a step every 4
columns, and the shipped ``ppocrv6-plates`` read the same after the round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from citywatch.training.onnx_store import halved, set_column_step, set_input_height, unhalved
from citywatch.vision.plates.ppocr import default_model_path
from citywatch.vision.plates.recognisers import shipped_path


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    out: np.ndarray = sess.run(None, {"x": x})[0]
    return out


def _tiny(height: int = 48) -> onnx.ModelProto:
    """x [N, 3, H, W] -> 16x16 convolution of stride 16 (weights an initializer) -> plus a bias
    (a ``Constant``) -> average pool over the H/16 rows, 2 columns -> softmax."""
    rng = np.random.default_rng(7)
    w = numpy_helper.from_array(rng.normal(size=(5, 3, 16, 16)).astype(np.float32), "w")
    bias = numpy_helper.from_array(rng.normal(size=(1, 5, 1, 1)).astype(np.float32), "b")
    rows = height // 16
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[16, 16], strides=[16, 16]),
        helper.make_node("Constant", [], ["bias"], value=bias),
        helper.make_node("Add", ["c", "bias"], ["a"]),
        helper.make_node(
            "AveragePool", ["a"], ["p"], kernel_shape=[rows, 2], strides=[rows, 2], pads=[0] * 4
        ),
        helper.make_node("Softmax", ["p"], ["y"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, height, "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [w],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])


def test_halved_weights_come_back_exactly() -> None:
    model = _tiny()
    half = halved(model)
    assert sum(n.op_type == "Cast" for n in half.graph.node) == 2  # the initializer, the Constant
    back = unhalved(half)
    assert not any(n.op_type == "Cast" for n in back.graph.node)
    weights = {i.name: numpy_helper.to_array(i) for i in back.graph.initializer}
    assert set(weights) == {"w", "bias"} and all(v.dtype == np.float32 for v in weights.values())
    original = numpy_helper.to_array(model.graph.initializer[0])
    assert np.array_equal(weights["w"], original.astype(np.float16).astype(np.float32))
    x = np.random.default_rng(1).uniform(-1, 1, (2, 3, 48, 64)).astype(np.float32)
    assert np.array_equal(_run(back, x), _run(half, x))  # the same arithmetic, no cast left
    assert np.abs(_run(back, x) - _run(model, x)).max() < 0.02


def test_a_graph_never_halved_is_left_as_it_is() -> None:
    model = _tiny()
    back = unhalved(model)
    assert [n.op_type for n in back.graph.node] == [n.op_type for n in model.graph.node]
    assert [i.name for i in back.graph.initializer] == ["w"]


def test_input_height_sets_the_input_and_the_row_pooling() -> None:
    model = _tiny(48)
    set_input_height(model, 32, Path("tiny.onnx"))
    assert model.graph.input[0].type.tensor_type.shape.dim[2].dim_value == 32
    pool = next(n for n in model.graph.node if n.op_type == "AveragePool")
    attrs = {a.name: list(a.ints) for a in pool.attribute if a.ints}
    assert attrs["kernel_shape"] == [2, 2] and attrs["strides"] == [2, 2]
    x = np.random.default_rng(2).uniform(-1, 1, (1, 3, 32, 64)).astype(np.float32)
    assert _run(model, x).shape == (1, 5, 1, 2)  # one row out, as at 48
    assert np.allclose(_run(model, x), _run(_tiny(32), x), atol=1e-6)


@pytest.mark.parametrize(
    ("height", "shape", "error"),
    [
        (40, ["n", 3, 48, "w"], "40 is not a multiple of 16"),
        (32, ["n", 3, 48], "not [N, 3, H, W]"),
    ],
)
def test_input_height_refuses_what_it_cannot_do(height: int, shape: list, error: str) -> None:
    model = _tiny()
    del model.graph.input[:]
    model.graph.input.append(helper.make_tensor_value_info("x", TensorProto.FLOAT, shape))
    with pytest.raises(ValueError, match=r"odd\.onnx: .*" + error.replace("[", r"\[")):
        set_input_height(model, height, Path("odd.onnx"))


def test_shipped_fine_tune_reads_the_same_unhalved() -> None:
    path = shipped_path("ppocrv6-plates")
    model = onnx.load(str(path))
    back = unhalved(model)
    casts = [n for n in back.graph.node if n.op_type == "Cast" and n.input[0].endswith("_f16")]
    assert not casts
    assert len(back.graph.initializer) > 100
    x = np.random.default_rng(3).uniform(-1, 1, (1, 3, 48, 200)).astype(np.float32)
    assert np.abs(_run(back, x) - _run(model, x)).max() < 1e-5


def test_a_step_every_4_columns_doubles_the_steps_of_the_same_input() -> None:
    model = _tiny(48)
    x = np.random.default_rng(4).uniform(-1, 1, (1, 3, 48, 256)).astype(np.float32)
    before = _run(model, x)  # 256 columns: 16 after the convolution, pooled in twos to 8
    set_column_step(model, 4, Path("tiny.onnx"))
    after = _run(model, x)
    assert before.shape == (1, 5, 1, 8) and after.shape == (1, 5, 1, 16)
    set_column_step(model, 8, Path("tiny.onnx"))
    assert np.allclose(_run(model, x), before, atol=1e-6)


def test_a_step_every_4_columns_then_32_rows_reads_as_one_row() -> None:
    model = _tiny(48)
    set_column_step(model, 4, Path("tiny.onnx"))
    set_input_height(model, 32, Path("tiny.onnx"))
    x = np.random.default_rng(5).uniform(-1, 1, (1, 3, 32, 128)).astype(np.float32)
    assert _run(model, x).shape == (1, 5, 1, 8)


@pytest.mark.parametrize("step", [2, 6, 16])
def test_other_column_steps_are_refused(step: int) -> None:
    with pytest.raises(ValueError, match=rf"odd\.onnx: a step of {step} columns"):
        set_column_step(_tiny(), step, Path("odd.onnx"))


def test_a_graph_without_the_row_pool_is_refused() -> None:
    model = _tiny(48)
    set_input_height(model, 32, Path("tiny.onnx"))
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_value = 64  # the pool no longer fits
    with pytest.raises(ValueError, match="no average pool folding the last 4 rows"):
        set_column_step(model, 4, Path("odd.onnx"))


def test_an_open_input_height_is_taken_as_the_readers_48() -> None:
    model = _tiny(48)
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "h"  # as PP-OCRv4 leaves it
    set_input_height(model, 32, Path("open.onnx"))
    assert model.graph.input[0].type.tensor_type.shape.dim[2].dim_value == 32
    x = np.random.default_rng(6).uniform(-1, 1, (1, 3, 32, 64)).astype(np.float32)
    assert np.allclose(_run(model, x), _run(_tiny(32), x), atol=1e-6)


def test_pp_ocr_v4_made_to_read_32_rows_gives_one_row_of_steps() -> None:
    path = default_model_path()  # PP-OCRv4's recogniser, inside rapidocr-onnxruntime
    model = onnx.load(str(path))
    set_input_height(model, 32, path)
    x = np.random.default_rng(7).uniform(-1, 1, (1, 3, 32, 160)).astype(np.float32)
    assert _run(model, x).shape[:2] == (1, 20)  # one step per 8 columns, one row
