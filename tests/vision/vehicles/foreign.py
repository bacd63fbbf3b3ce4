"""A detector file of the wrong class count: a GFL-shaped graph with 20 classes (a VOC
model), made here with onnx (no download)."""

from __future__ import annotations

from pathlib import Path


def write_voc_detector(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    outs, nodes = [], []
    for i, rows in enumerate((1600, 400, 100, 25)):
        for kind, cols in (("cls", 20), ("box", 32)):
            name = f"{kind}{i}"
            shape = helper.make_tensor(f"{name}_shape", TensorProto.INT64, [3], [1, rows, cols])
            nodes.append(helper.make_node("Expand", ["zero", f"{name}_c"], [name]))
            outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, rows, cols]))
            nodes.insert(0, helper.make_node("Constant", [], [f"{name}_c"], value=shape))
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["image"], ["zero"], keepdims=0), *nodes],
        "voc",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 320, 320])],
        outs,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path
