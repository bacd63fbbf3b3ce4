"""The last layer of a PP-OCR recogniser cut to the plate classes (no torch needed: ONNX only)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from citywatch.training.plate_classes import PruneError, plate_class_indices, prune_classes
from citywatch.vision.plates.ctc import ALPHABET
from citywatch.vision.plates.ppocr import CtcRecogniser, default_model_path


def _classes(model: onnx.ModelProto) -> list[str]:
    meta = {p.key: p.value for p in model.metadata_props}
    return ["<blank>", *meta["character"].splitlines(), " "]


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(sess.run(None, {sess.get_inputs()[0].name: x})[0])


@pytest.mark.parametrize(
    ("characters", "kept"),
    [
        # blank and space always kept; plate symbols in both cases and separators kept; the rest
        # (a CJK character, a diacritic, a digit-like symbol) dropped
        (
            ["<blank>", "中", *ALPHABET, "a", "Š", "-", "①", " "],
            ["<blank>", *ALPHABET, "a", "-", " "],
        ),
        (["<blank>", *ALPHABET, "·", "@", " "], ["<blank>", *ALPHABET, "·", " "]),
    ],
)
def test_plate_class_indices_keeps_what_a_plate_reader_reads(
    characters: list[str], kept: list[str]
) -> None:
    assert [characters[i] for i in plate_class_indices(characters)] == kept


def test_a_class_list_without_every_plate_symbol_is_refused() -> None:
    chars = ["<blank>", *ALPHABET.replace("Q", ""), " "]
    with pytest.raises(PruneError, match="lack plate symbols Q"):
        plate_class_indices(chars)


def test_the_cut_shipped_recogniser_reads_as_the_full_one_normalised_over_the_kept_classes() -> (
    None
):
    full = onnx.load(str(default_model_path()))
    chars = _classes(full)
    keep = plate_class_indices(chars)
    cut = prune_classes(full, keep, chars)
    assert len(keep) < 80 < len(chars)
    assert _classes(cut) == [chars[i] for i in keep]
    x = np.random.default_rng(3).uniform(-1, 1, (2, 3, 48, 160)).astype(np.float32)
    p_full, p_cut = _run(full, x), _run(cut, x)
    assert p_cut.shape == (*p_full.shape[:2], len(keep))
    want = p_full[..., keep] / p_full[..., keep].sum(axis=-1, keepdims=True)
    assert np.abs(p_cut - want).max() < 1e-5
    assert len(cut.SerializeToString()) < 0.8 * len(full.SerializeToString())


def test_the_cut_model_loads_in_the_plate_reader(tmp_path: object) -> None:
    from pathlib import Path

    full = onnx.load(str(default_model_path()))
    chars = _classes(full)
    path = Path(str(tmp_path)) / "cut.onnx"
    onnx.save(prune_classes(full, plate_class_indices(chars), chars), str(path))
    rec = CtcRecogniser(path)
    assert rec.characters[0] == "<blank>" and rec.characters[-1] == " "
    assert set(ALPHABET) <= set(rec.characters) and "中" not in rec.characters


def _linear_softmax(*, bias: bool = True, softmax: bool = True) -> onnx.ModelProto:
    w = numpy_helper.from_array(np.ones((4, 5), np.float32), "w")
    b = numpy_helper.from_array(np.zeros(5, np.float32), "b")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"])]
    last = "m"
    if bias:
        nodes.append(helper.make_node("Add", ["m", "b"], ["a"]))
        last = "a"
    if softmax:
        nodes.append(helper.make_node("Softmax", [last], ["y"], axis=-1))
    else:
        nodes.append(helper.make_node("Relu", [last], ["y"]))
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 5])],
        [w, b],
    )
    return helper.make_model(graph)


@pytest.mark.parametrize(
    ("model", "keep", "message"),
    [
        (_linear_softmax(softmax=False), [0, 4], "not made by a Softmax"),
        (_linear_softmax(bias=False), [0, 4], "no Add"),
        (_linear_softmax(), [1, 4], "start with the blank"),
        (_linear_softmax(), [0, 3], "end with the space"),
    ],
)
def test_a_model_of_another_shape_is_refused_with_the_reason(
    model: onnx.ModelProto, keep: list[int], message: str
) -> None:
    with pytest.raises(PruneError, match=message):
        prune_classes(model, keep, ["<blank>", "A", "B", "C", " "])


def test_a_class_list_that_does_not_match_the_layer_is_refused() -> None:
    with pytest.raises(PruneError, match="5 classes, the list 4"):
        prune_classes(_linear_softmax(), [0, 3], ["<blank>", "A", "B", " "])
