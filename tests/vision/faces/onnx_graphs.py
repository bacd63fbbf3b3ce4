"""Tiny ONNX graphs with the input/output contracts of real face models (nothing downloaded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def save(path: Path, nodes: list, inputs: list, outputs: list, inits: list) -> Path:
    graph = helper.make_graph(nodes, path.stem, inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def arcface(path: Path, *, dim: int = 512, batch: str | int = "N", size: int = 112) -> np.ndarray:
    """[N,3,size,size] -> mean colour of the left half of the crop @ W (3 x dim) -> [N,dim].
    Returns W."""
    w = np.random.default_rng(7).normal(size=(3, dim)).astype(np.float32)
    nodes = [
        helper.make_node("Slice", ["crops", "s0", "s1", "ax"], ["half"]),
        helper.make_node("GlobalAveragePool", ["half"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "w"], ["embedding"]),
    ]
    inits = [
        numpy_helper.from_array(np.array([0], np.int64), "s0"),
        numpy_helper.from_array(np.array([size // 2], np.int64), "s1"),
        numpy_helper.from_array(np.array([3], np.int64), "ax"),
        numpy_helper.from_array(w, "w"),
    ]
    save(
        path,
        nodes,
        [helper.make_tensor_value_info("crops", TensorProto.FLOAT, [batch, 3, size, size])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [batch, dim])],
        inits,
    )
    return w


def arcface_reference(crops_rgb: np.ndarray, w: np.ndarray) -> np.ndarray:
    x = (crops_rgb.astype(np.float32) - 127.5) / 127.5
    return x[:, :, : crops_rgb.shape[2] // 2].mean(axis=(1, 2)) @ w


def identity(path: Path, shape: list[object], out_shape: list[object] | None = None) -> Path:
    return save(
        path,
        [helper.make_node("Identity", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape or shape)],
        [],
    )


#: SCRFD key point offsets (in strides) of the tiny detector: the ArcFace template around the
#: anchor centre, one stride from the middle to the crop edge.
KPS_OFFSETS = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    np.float32,
)


def scrfd(path: Path, *, size: int = 64, anchors: int = 2, with_kps: bool = True) -> Path:
    """[1,3,size,size] -> SCRFD outputs for strides 8/16/32.  Score of a place: how bright the
    stride x stride patch under it is (0 black .. ~1 white); box: one stride on every side;
    key points: the ArcFace template around the centre."""
    nodes, inits, outs = [], [], []
    kps = ((KPS_OFFSETS - 56.0) / 56.0).reshape(-1)
    for kind, width in (("score", 1), ("bbox", 4), ("kps", 10)):
        if kind == "kps" and not with_kps:
            continue
        for s in (8, 16, 32):
            n = anchors * width
            name = f"{kind}_{s}"
            if kind == "score":
                weight = np.full((n, 3, s, s), 0.5 / (3 * s * s), np.float32)
                bias = np.full(n, 0.5, np.float32)
            else:
                weight = np.zeros((n, 3, s, s), np.float32)
                bias = np.tile(np.ones(4, np.float32) if kind == "bbox" else kps, anchors)
            inits += [
                numpy_helper.from_array(weight, f"w_{name}"),
                numpy_helper.from_array(bias.astype(np.float32), f"b_{name}"),
                numpy_helper.from_array(np.array([-1, width], np.int64), f"shape_{name}"),
            ]
            nodes += [
                helper.make_node(
                    "Conv", ["input", f"w_{name}", f"b_{name}"], [f"c_{name}"], strides=[s, s]
                ),
                helper.make_node("Transpose", [f"c_{name}"], [f"t_{name}"], perm=[0, 2, 3, 1]),
                helper.make_node("Reshape", [f"t_{name}", f"shape_{name}"], [name]),
            ]
            k = (size // s) ** 2 * anchors
            outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [k, width]))
    return save(
        path,
        nodes,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
        outs,
        inits,
    )
