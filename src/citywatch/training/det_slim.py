"""A cheaper plate detector: its full 3x3 convolutions made depthwise-separable.

In PP-OCRv4's DB text detector (and ``plate-det``, fine-tuned from it) five full 3x3
convolutions, 96 channels in and 24 out, sit after the backbone: the neck's output convolution
at each of its four scales and the head's first.  The two at a quarter of the input's size are
46 % of the network's multiply-adds (345 M of 748 M at 320x416), for 24 output channels.
:func:`make_separable` replaces each by a depthwise 3x3 convolution (one filter per input
channel) followed by a 1x1 convolution (MobileNet's factorisation), about a ninth of the work,
initialised from the original kernel: for every input channel ``i`` the original's ``[24, 9]``
slice is approximated by its first singular pair, the depthwise filter ``sqrt(s) v`` and the
1x1 column ``sqrt(s) u``.  The approximation is rough (70-80 % relative error on the shipped
weights), so the network is then trained again (``citywatch train plate-detector
--separable``); the graph keeps the original's contract (input ``x``, the probability map out)
and its weights as ``Constant`` nodes, so :func:`~citywatch.training.plate_det.export_det`
writes trained weights back into it.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from citywatch.training.onnx_store import is_constant


def _attrs(node: onnx.NodeProto) -> dict[str, object]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def separable_pair(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``weight`` ``[out, in, kh, kw]`` as a depthwise ``[in, 1, kh, kw]`` and a pointwise
    ``[out, in, 1, 1]`` kernel whose composition is its best rank-one-per-input-channel
    approximation (exact where every input channel's slice has rank one)."""
    out_ch, in_ch, kh, kw = weight.shape
    depthwise = np.zeros((in_ch, 1, kh, kw), np.float32)
    pointwise = np.zeros((out_ch, in_ch, 1, 1), np.float32)
    for i in range(in_ch):
        u, s, vt = np.linalg.svd(weight[:, i].reshape(out_ch, kh * kw), full_matrices=False)
        root = np.sqrt(s[0])
        depthwise[i, 0] = (vt[0] * root).reshape(kh, kw)
        pointwise[:, i, 0, 0] = u[:, 0] * root
    return depthwise, pointwise


def separable_candidates(proto: onnx.ModelProto) -> list[str]:
    """The names of ``proto``'s full (ungrouped) 3x3 convolutions past the stem: more than 3
    input channels, stride 1, weights in a ``Constant`` node."""
    consts = {n.output[0]: n for n in proto.graph.node if is_constant(n)}
    names = []
    for node in proto.graph.node:
        if node.op_type != "Conv" or node.input[1] not in consts:
            continue
        a = _attrs(node)
        w = numpy_helper.to_array(consts[node.input[1]].attribute[0].t)
        strides = a.get("strides", [1, 1])
        if (
            w.ndim == 4
            and w.shape[2:] == (3, 3)
            and a.get("group", 1) == 1
            and w.shape[1] > 3
            and list(strides) == [1, 1]  # type: ignore[call-overload]
        ):
            names.append(node.name)
    return names


def make_separable(proto: onnx.ModelProto, names: list[str] | None = None) -> list[str]:
    """Replace (in place) the convolutions ``names`` (default :func:`separable_candidates`)
    by depthwise + pointwise pairs initialised by :func:`separable_pair`; the bias, if any,
    moves to the pointwise one.  Returns the names replaced; ``ValueError`` naming one that
    is not such a convolution."""
    allowed = separable_candidates(proto)
    chosen = allowed if names is None else list(names)
    bad = [n for n in chosen if n not in allowed]
    if bad:
        raise ValueError(f"not a full 3x3 convolution of this graph: {', '.join(bad)}")
    consts = {n.output[0]: n for n in proto.graph.node if is_constant(n)}
    nodes: list[onnx.NodeProto] = []
    for node in proto.graph.node:
        if node.name not in chosen:
            nodes.append(node)
            continue
        weight = numpy_helper.to_array(consts[node.input[1]].attribute[0].t)
        depthwise, pointwise = separable_pair(weight)
        a = _attrs(node)
        dw_name, pw_name = f"{node.input[1]}.dw", f"{node.input[1]}.pw"
        mid = f"{node.output[0]}.dw"
        nodes += [
            helper.make_node(
                "Constant", [], [dw_name], value=numpy_helper.from_array(depthwise, dw_name)
            ),
            helper.make_node(
                "Constant", [], [pw_name], value=numpy_helper.from_array(pointwise, pw_name)
            ),
            helper.make_node(
                "Conv", [node.input[0], dw_name], [mid], name=f"{node.name}.dw",
                kernel_shape=[3, 3], pads=a.get("pads", [1, 1, 1, 1]),
                dilations=a.get("dilations", [1, 1]), strides=[1, 1], group=weight.shape[1],
            ),
            helper.make_node(
                "Conv", [mid, pw_name, *node.input[2:]], list(node.output),
                name=f"{node.name}.pw", kernel_shape=[1, 1], pads=[0, 0, 0, 0],
                strides=[1, 1], group=1,
            ),
        ]  # fmt: skip
    used = {i for n in nodes for i in n.input}
    kept = [n for n in nodes if not (is_constant(n) and n.output[0] not in used)]
    del proto.graph.node[:]
    proto.graph.node.extend(kept)
    return chosen
