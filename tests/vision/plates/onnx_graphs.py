"""Tiny ONNX graphs with the input/output contract of YOLO-style plate detectors (nothing
downloaded)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from tests.vision.faces.onnx_graphs import save


def yolo(
    path: Path,
    *,
    layout: Literal["rows", "columns", "raw"] = "rows",
    classes: tuple[float, ...] = (),
    size: int = 64,
    stride: int = 16,
    symbolic: bool = False,
) -> Path:
    """[1,3,size,size] -> one candidate per stride x stride cell (row-major), its box the cell
    (input pixels), its brightness (mean of the cell, 0 black .. 1 white) the objectness (rows,
    then constant ``classes`` scores) or brightness x ``classes`` as class scores (columns).
    ``raw`` outputs the [1,1,G,G] brightness map itself (the wrong rank).  ``symbolic``
    declares the input's H and W symbolic (the graph still only runs at ``size``)."""
    g = size // stride
    n = g * g
    gy, gx = np.divmod(np.arange(n, dtype=np.float32), g)
    boxes = np.stack([(gx + 0.5) * stride, (gy + 0.5) * stride] + [np.full(n, stride)] * 2, 1)
    k = len(classes)
    inits = [
        numpy_helper.from_array(np.full((1, 3, stride, stride), 1 / (3 * stride**2), "f4"), "w"),
        numpy_helper.from_array(np.array([1, -1, 1], np.int64), "shape"),
        numpy_helper.from_array(boxes[None].astype(np.float32), "boxes"),
    ]
    nodes = [
        helper.make_node("Conv", ["images", "w"], ["bright"], strides=[stride, stride]),
        helper.make_node("Reshape", ["bright", "shape"], ["obj"]),
    ]
    if layout == "rows":
        parts = ["boxes", "obj"]
        if k:
            cls = np.broadcast_to(np.array(classes, np.float32), (1, n, k))
            inits.append(numpy_helper.from_array(np.ascontiguousarray(cls), "cls"))
            parts.append("cls")
        nodes.append(helper.make_node("Concat", parts, ["output0"], axis=2))
    elif layout == "columns":
        inits.append(numpy_helper.from_array(np.array([[classes]], np.float32), "cls_w"))
        nodes += [
            helper.make_node("Mul", ["obj", "cls_w"], ["cls"]),
            helper.make_node("Concat", ["boxes", "cls"], ["cand"], axis=2),
            helper.make_node("Transpose", ["cand"], ["output0"], perm=[0, 2, 1]),
        ]
    else:
        nodes.append(helper.make_node("Identity", ["bright"], ["output0"]))
    hw: list[int | str] = ["h", "w"] if symbolic else [size, size]
    rank = 4 if layout == "raw" else 3
    return save(
        path,
        nodes,
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, *hw])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [None] * rank)],
        inits,
    )


def add(path: Path, shapes: list[list[int]]) -> Path:
    """One input per shape (all summed): a model with the wrong inputs."""
    names = [f"x{i}" for i in range(len(shapes))]
    nodes = [helper.make_node("Identity", [names[0]], ["y"])]
    if len(names) == 2:
        nodes = [helper.make_node("Add", names, ["y"])]
    return save(
        path,
        nodes,
        [
            helper.make_tensor_value_info(nm, TensorProto.FLOAT, s)
            for nm, s in zip(names, shapes, strict=True)
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shapes[0])],
        [],
    )


def no_input(path: Path) -> Path:
    """A constant output and no input at all."""
    value = numpy_helper.from_array(np.zeros((1, 16, 5), np.float32), "v")
    return save(
        path,
        [helper.make_node("Constant", [], ["y"], value=value)],
        [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 5])],
        [],
    )


def bright_map(path: Path, *, level: float = 0.2, gain: float = 20.0, blur: int = 7) -> Path:
    """A DB-style detector's contract: ``x`` [N, 3, H, W] (BGR scaled to -1..1, any size) ->
    a probability map [N, 1, H, W] that is high where the picture, averaged over ``blur``
    pixels, is brighter than ``level`` (a white plate on a dull street reads as one plate,
    its dark characters and all)."""
    inits = [
        numpy_helper.from_array(np.array(level, np.float32), "level"),
        numpy_helper.from_array(np.array(gain, np.float32), "gain"),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["grey"], axes=[1], keepdims=1),
        helper.make_node(
            "AveragePool",
            ["grey"],
            ["soft"],
            kernel_shape=[blur, blur],
            pads=[blur // 2] * 4,
            count_include_pad=0,
        ),
        helper.make_node("Sub", ["soft", "level"], ["above"]),
        helper.make_node("Mul", ["above", "gain"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["prob"]),
    ]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])]
    outputs = [helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["n", 1, "h", "w"])]
    return save(path, nodes, inputs, outputs, inits)
