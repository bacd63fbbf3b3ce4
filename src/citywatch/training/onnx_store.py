"""How a recogniser's weights are stored in its ONNX file, and the input height it reads at
(issue 15; only ONNX is needed, no torch).

:func:`halved` stores a graph's float32 weights as float16, each cast back where it is used
(half the file, the same float32 arithmetic); :func:`unhalved` undoes it exactly, so a shipped
fine-tune can be trained further and its weights written back by name.
:func:`set_input_height` makes a PP-OCR graph read another number of rows (its input declared
that high and the pooling that folds the last rows into one sized to match), and
:func:`set_column_step` gives it an output step every 4 input columns instead of 8 (that
pooling no longer halves the width: more steps per character for a crop read fewer rows high).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from citywatch.vision.plates.ppocr import HEIGHT

HALF_TOLERANCE = 0.02  # most a probability may move when the weights are stored as float16


def halved(proto: onnx.ModelProto) -> onnx.ModelProto:
    """``proto`` with its float weights (``Constant`` nodes or initializers of more than one
    value) stored as float16, each cast back to float32 where it is used: half the file, the
    same float32 arithmetic (onnxruntime folds the casts when it loads the model)."""
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    nodes = []
    kept = []
    for init in out.graph.initializer:  # PP-OCRv6's weights are initializers
        weights = numpy_helper.to_array(init)
        if weights.dtype == np.float32 and weights.size > 1:
            half = numpy_helper.from_array(weights.astype(np.float16), f"{init.name}_f16")
            kept.append(half)
            nodes.append(
                helper.make_node("Cast", [half.name], [init.name], to=onnx.TensorProto.FLOAT)
            )
        else:
            kept.append(init)
    del out.graph.initializer[:]
    out.graph.initializer.extend(kept)
    for node in out.graph.node:
        value = numpy_helper.to_array(node.attribute[0].t) if is_constant(node) else None
        if value is not None and value.dtype == np.float32 and value.size > 1:
            name = node.output[0]
            half = numpy_helper.from_array(value.astype(np.float16), f"{name}_f16")
            nodes.append(helper.make_node("Constant", [], [f"{name}_f16"], value=half))
            nodes.append(
                helper.make_node("Cast", [f"{name}_f16"], [name], to=onnx.TensorProto.FLOAT)
            )
        else:
            nodes.append(node)
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    return out


def unhalved(proto: onnx.ModelProto) -> onnx.ModelProto:
    """:func:`halved` undone: each float16 weight cast to float32 where it is used becomes the
    float32 initializer it names again (exact; a halved ``Constant`` comes back as an
    initializer), so a shipped fine-tune (stored halved) can be trained further and written
    back by name."""
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    graph = out.graph
    halves = {i.name: i for i in graph.initializer}
    for node in graph.node:
        if is_constant(node):
            halves[node.output[0]] = node.attribute[0].t
    nodes, restored, used = [], [], set()
    for node in graph.node:
        src = node.input[0] if node.op_type == "Cast" and len(node.input) == 1 else ""
        tensor = halves.get(src)
        if tensor is not None and tensor.data_type == onnx.TensorProto.FLOAT16:
            weights = numpy_helper.to_array(tensor).astype(np.float32)
            restored.append(numpy_helper.from_array(weights, node.output[0]))
            used.add(src)
        else:
            nodes.append(node)
    kept = [n for n in nodes if not (is_constant(n) and n.output[0] in used)]
    del graph.node[:]
    graph.node.extend(kept)
    inits = [i for i in graph.initializer if i.name not in used] + restored
    del graph.initializer[:]
    graph.initializer.extend(inits)
    return out


def is_constant(node: onnx.NodeProto) -> bool:
    return node.op_type == "Constant" and [a.name for a in node.attribute] == ["value"]


def _declared_rows(proto: onnx.ModelProto) -> int:
    """The rows the graph reads: the fixed ``H`` of its ``[N, 3, H, W]`` input, where ``H`` is
    left open (PP-OCRv4) the 48 the plate reader feeds it (``ppocr.HEIGHT``), and 0 for an
    input of another rank."""
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 4:
        return 0
    return int(dims[2].dim_value) if dims[2].HasField("dim_value") else HEIGHT


def _row_pool(proto: onnx.ModelProto, height: int) -> onnx.NodeProto | None:
    """PP-OCR's average pool that folds the backbone's last rows into one (``[H/16, 2]``) in a
    graph that reads ``height`` rows, or None."""
    rows = height // 16
    for node in proto.graph.node:
        if node.op_type == "AveragePool":
            attrs = {a.name: a for a in node.attribute}
            if attrs["kernel_shape"].ints[0] == attrs["strides"].ints[0] == rows:
                return node
    return None


def set_input_height(proto: onnx.ModelProto, height: int, path: Path) -> None:
    """The graph made to read ``height`` rows (a multiple of 16): its input declared that high
    (the reader takes its input height from this dimension) and the pooling that folds the
    backbone's last rows into one (PP-OCR's ``[H/16, 2]`` average pool) sized to match."""
    before = _declared_rows(proto)
    if not before:
        raise ValueError(f"{path}: the recogniser's input is not [N, 3, H, W]")
    if height % 16:
        raise ValueError(f"{path}: input height {height} is not a multiple of 16")
    pool = _row_pool(proto, before)
    if pool is not None:
        attrs = {a.name: a for a in pool.attribute}
        attrs["kernel_shape"].ints[0] = attrs["strides"].ints[0] = height // 16
    dim = proto.graph.input[0].type.tensor_type.shape.dim[2]
    dim.Clear()
    dim.dim_value = height


def set_column_step(proto: onnx.ModelProto, step: int, path: Path) -> None:
    """One output step every ``step`` input columns (4 or 8; PP-OCR's own is 8): the pool that
    folds the last rows into one pools 1 column (4) or 2 (8); nothing after it is strided, so
    the output has that many more steps and the weights stay valid."""
    if step not in (4, 8):
        raise ValueError(f"{path}: a step of {step} columns, expected 4 or 8")
    rows = _declared_rows(proto)
    pool = _row_pool(proto, rows)
    if pool is None:
        raise ValueError(f"{path}: no average pool folding the last {rows // 16} rows into one")
    attrs = {a.name: a for a in pool.attribute}
    attrs["kernel_shape"].ints[1] = attrs["strides"].ints[1] = step // 4
