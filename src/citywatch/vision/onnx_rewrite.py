"""Exact algebraic rewrites of shipped ONNX graphs that onnxruntime does not make itself.

PaddleOCR's exporter writes PP-LCNetV3 networks (the PP-OCRv4 text detector) with every
hard-swish spelt out as four element-wise operators (``x * clip(x + 3, 0, 6) / 6``) and every
"learnable affine" after a convolution as a scalar multiply and add, each run as its own pass
over the feature map.  :func:`simplify` rewrites them:

* hard-swish -> ``x * HardSigmoid(x)`` (alpha 1/6, beta 1/2: the same function, two passes
  instead of four, and no opset change);
* ``Conv -> Mul(s) -> Add(b)`` with scalar ``s`` and ``b`` -> one ``Conv`` with its weights
  times ``s`` and its bias ``bias * s + b`` (exact: the affine acts on the convolution's
  output, after its zero padding).

Only patterns whose intermediate results feed nothing else are rewritten, so the graph computes
the same function; outputs differ from the original by float rounding only (the test checks the
detector's probability maps on real photos).  The model files are never changed on disk.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper


@dataclass
class Rewrites:
    """How many patterns :func:`simplify` rewrote."""

    hard_swish: int = 0
    conv_affine: int = 0

    @property
    def total(self) -> int:
        return self.hard_swish + self.conv_affine


@dataclass
class _Graph:
    """Look-ups over one graph: constants, producers and consumers of each value."""

    graph: Any
    constants: dict[str, np.ndarray] = field(default_factory=dict)
    producer: dict[str, Any] = field(default_factory=dict)
    users: dict[str, list[Any]] = field(default_factory=dict)
    outputs: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        for init in self.graph.initializer:
            self.constants[init.name] = numpy_helper.to_array(init)
        for node in self.graph.node:
            for name in node.output:
                self.producer[name] = node
            for name in node.input:
                self.users.setdefault(name, []).append(node)
            if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
                self.constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        self.outputs = {o.name for o in self.graph.output}

    def scalar(self, name: str) -> float | None:
        value = self.constants.get(name)
        if value is None or value.size != 1:
            return None
        return float(value.reshape(-1)[0])

    def is_scalar(self, name: str, expected: float) -> bool:
        value = self.scalar(name)
        return value is not None and abs(value - expected) <= 1e-6 * max(1.0, abs(expected))

    def only_user(self, name: str, op_type: str) -> Any | None:
        """The one node that reads ``name``, when it is an ``op_type`` and ``name`` is no
        graph output."""
        users = self.users.get(name, [])
        if name in self.outputs or len(users) != 1 or users[0].op_type != op_type:
            return None
        return users[0]


def _other(node: Any, name: str) -> str:
    """The input of a two-input node that is not ``name``."""
    a, b = node.input
    return b if a == name else a


def _hard_swishes(g: _Graph) -> Iterable[tuple[str, list[Any], str]]:
    """(x, the four nodes, the output) of each ``x * clip(x + 3, 0, 6) / 6``."""
    for add in list(g.graph.node):
        if add.op_type != "Add" or len(add.input) != 2:
            continue
        three = next((i for i in add.input if g.is_scalar(i, 3.0)), None)
        if three is None:
            continue
        x = _other(add, three)
        clip = g.only_user(add.output[0], "Clip")
        if clip is None or len(clip.input) != 3:
            continue
        if not (g.is_scalar(clip.input[1], 0.0) and g.is_scalar(clip.input[2], 6.0)):
            continue
        mul = g.only_user(clip.output[0], "Mul")
        if mul is None or _other(mul, clip.output[0]) != x:
            continue
        div = g.only_user(mul.output[0], "Div")
        if div is None or div.input[0] != mul.output[0] or not g.is_scalar(div.input[1], 6.0):
            continue
        yield x, [add, clip, mul, div], div.output[0]


def _conv_affines(g: _Graph) -> Iterable[tuple[Any, float, float, list[Any], str]]:
    """(conv, scale, shift, [mul, add], output) of each ``Conv * s + b`` with scalar s, b."""
    for conv in list(g.graph.node):
        if conv.op_type != "Conv" or conv.input[1] not in g.constants:
            continue
        if len(conv.input) > 2 and conv.input[2] not in g.constants:
            continue
        scaled = _scalar_step(g, conv.output[0], "Mul")
        if scaled is None:
            continue
        mul, scale = scaled
        shifted = _scalar_step(g, mul.output[0], "Add")
        if shifted is None:
            continue
        add, shift = shifted
        yield conv, scale, shift, [mul, add], add.output[0]


def _scalar_step(g: _Graph, value: str, op_type: str) -> tuple[Any, float] | None:
    """The only node reading ``value`` and its other input's scalar, when that node is an
    ``op_type`` with a scalar other input."""
    node = g.only_user(value, op_type)
    if node is None:
        return None
    k = g.scalar(_other(node, value))
    return None if k is None else (node, k)


def simplify(model: onnx.ModelProto) -> tuple[onnx.ModelProto, Rewrites]:
    """A copy of ``model`` with the patterns of the module doc rewritten, and their counts."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    done = Rewrites()
    graph = out.graph
    g = _Graph(graph)
    drop: set[int] = set()
    replace: dict[int, list[Any]] = {}
    for x, nodes, y in _hard_swishes(g):
        sig = f"{y}__hard_sigmoid"
        replace[id(nodes[-1])] = [
            helper.make_node("HardSigmoid", [x], [sig], alpha=1.0 / 6.0, beta=0.5),
            helper.make_node("Mul", [x, sig], [y]),
        ]
        drop.update(id(n) for n in nodes[:-1])
        done.hard_swish += 1
    for conv, scale, shift, nodes, y in _conv_affines(g):
        if any(id(n) in drop or id(n) in replace for n in (conv, *nodes)):
            continue  # part of a hard-swish already rewritten
        weight = g.constants[conv.input[1]].astype(np.float32) * np.float32(scale)
        channels = weight.shape[0]
        bias = (
            g.constants[conv.input[2]].astype(np.float32)
            if len(conv.input) > 2
            else np.zeros(channels, np.float32)
        )
        bias = bias * np.float32(scale) + np.float32(shift)
        w_name, b_name = f"{y}__folded_w", f"{y}__folded_b"
        graph.initializer.extend(
            [numpy_helper.from_array(weight, w_name), numpy_helper.from_array(bias, b_name)]
        )
        folded = onnx.NodeProto()
        folded.CopyFrom(conv)
        del folded.input[:]
        folded.input.extend([conv.input[0], w_name, b_name])
        del folded.output[:]
        folded.output.append(y)
        replace[id(conv)] = [folded]
        drop.update(id(n) for n in nodes)
        done.conv_affine += 1
    nodes = []
    for node in graph.node:
        if id(node) in drop:
            continue
        nodes.extend(replace.get(id(node), [node]))
    if done.total:  # constants and initializers only the rewritten nodes read
        read = {name for node in nodes for name in node.input} | g.outputs
        nodes = [n for n in nodes if n.op_type != "Constant" or n.output[0] in read]
        kept = [i for i in graph.initializer if i.name in read]
        del graph.initializer[:]
        graph.initializer.extend(kept)
    del graph.node[:]
    graph.node.extend(nodes)
    if done.total:
        onnx.checker.check_model(out)
    return out, done


def simplified_bytes(path: Path) -> tuple[bytes | None, Rewrites]:
    """The serialised :func:`simplify` of the model at ``path``; None where nothing was
    rewritten (load the file itself)."""
    model, done = simplify(onnx.load(str(path)))
    return (model.SerializeToString() if done.total else None), done
