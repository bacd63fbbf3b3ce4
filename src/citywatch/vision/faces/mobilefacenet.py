"""MobileFaceNet (``FaceEmbedder`` back end ``mobilefacenet``): a second opinion beside dlib.

The network is foamliu's PyTorch MobileFaceNet exported to ONNX (``models/MobileFaceNet.onnx``,
shipped inside the package with its licence and origin: ``models/SOURCE.md``; 4 MB, 128-d).
It was trained on a refined MS-Celeb-1M, a data set Microsoft withdrew in 2019 (the model
card says so).

Its input convention is written nowhere in the file, so it was measured: the 720 aligned
112x112 crops of ``faces/identities`` (ArcFace alignment), 10-fold verification accuracy with
each candidate preprocessing (same folds, ``eval.faces.verification``):

=====  ==================  ==================  ============
order  (x - 127.5) / 127.5  (x - 127.5) / 128   x / 255
=====  ==================  ==================  ============
RGB    **0.9640**          0.9633              0.9365
BGR    0.9480              0.9482              0.9140
=====  ==================  ==================  ============

so faces go in as **RGB, (x - 127.5) / 127.5** (the training repository's
``Normalize(mean 0.5, std 0.5)`` on 0..1 pixels), aligned to the 5-point ArcFace template: the
same contract as :class:`~citywatch.vision.faces.onnx_arcface.OnnxArcFaceEmbedder`, which runs
it.

The exported graph has a fixed batch of one (input ``input0`` ``[1,3,112,112]``, output
``output0`` ``[1,128]``, the last step a ``Reshape`` to ``[1, -1]``).  :func:`batched_graph`
rewrites, in memory, the batch of input and output to a free ``N`` and that reshape to
``[0, -1]`` (keep the batch): every other operator is a convolution, clip, add or ReLU, which
treat each face apart, so a batch gives each face exactly what it gets alone (checked by the
tests).  A file that does not have this shape loads as it is and is run one face at a time.
"""

from __future__ import annotations

import logging
from importlib.resources import files
from pathlib import Path

import numpy as np

from citywatch.vision.faces.onnx_arcface import OnnxArcFaceEmbedder

log = logging.getLogger(__name__)

PACKAGED_MODEL = "MobileFaceNet.onnx"
PACKAGED_SHA256 = "b7120c095d60094f28a4a54ba6a8bf51b297a6273fb40ef6350dfec1f63d9507"
NAME = "mobilefacenet"


def packaged_model() -> Path:
    return Path(str(files("citywatch.vision.faces") / "models" / PACKAGED_MODEL))


def batched_graph(path: Path) -> bytes | None:
    """The graph of ``path`` with a free batch (see the module docstring), or None when it is
    not the fixed-batch layout this rewrite knows (then it runs one face at a time)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    if len(graph.input) != 1 or len(graph.output) != 1:
        return None
    reshapes = [n for n in graph.node if n.op_type == "Reshape"]
    if len(reshapes) != 1 or reshapes[0].output[0] != graph.output[0].name:
        return None
    shape_name = reshapes[0].input[1]
    const = [n for n in graph.node if n.op_type == "Constant" and n.output[0] == shape_name]
    if len(const) != 1 or not const[0].attribute:
        return None
    value = numpy_helper.to_array(const[0].attribute[0].t)
    if value.tolist() != [1, -1]:
        return None
    if any(
        n.op_type not in ("Conv", "Clip", "Add", "Relu", "Constant", "Reshape") for n in graph.node
    ):
        return None  # an operator that might mix faces across the batch
    const[0].attribute[0].t.CopyFrom(numpy_helper.from_array(np.array([0, -1], np.int64)))
    for tensor in (graph.input[0], graph.output[0]):
        tensor.type.tensor_type.shape.dim[0].dim_param = "N"
    return bytes(model.SerializeToString())


def mobilefacenet(
    model_path: Path | None = None,
    *,
    threads: int = 1,
    providers: list[str] | None = None,
    flip: bool = True,
    batch_size: int = 16,
) -> OnnxArcFaceEmbedder:
    """The MobileFaceNet embedder: the shipped model, or a file of the same layout."""
    path = Path(model_path) if model_path is not None else packaged_model()
    graph = batched_graph(path) if path.is_file() else None
    if graph is None and path.is_file():
        log.info("%s: batch not rewritten, faces run one at a time", path)
    return OnnxArcFaceEmbedder(
        path,
        threads=threads,
        providers=providers,
        flip=flip,
        batch_size=batch_size,
        graph=graph,
        name=NAME,
    )
