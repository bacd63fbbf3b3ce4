"""A PP-OCR recogniser cut down to the classes a plate reader uses (issue 15).

PP-OCR's recognisers end in one linear layer over every character they know (PP-OCRv4 6,625,
PP-OCRv6 small 18,710) and a softmax.  A plate reader looks at 36 plate symbols (upper and lower
case), a few separators, the space and the CTC blank; the rest of that last layer is 42 % of
PP-OCRv6 small's weights and most of its per-column arithmetic.  :func:`plate_class_indices`
says which classes to keep and :func:`prune_classes` keeps only their rows of the last layer:
the softmax then runs over the kept classes (the same logits, normalised over fewer classes), and
the ``character`` metadata lists the kept characters, so
:class:`~citywatch.vision.plates.ppocr.CtcRecogniser` loads the file as it loads the original.

Only ONNX is needed (no torch): the graph's output softmax is followed back through
``Identity`` nodes to ``Add(MatMul(x, W), b)``, with ``W`` ``[C_in, C]`` and ``b`` ``[C]`` stored
as initializers (PP-OCRv6) or ``Constant`` nodes (PP-OCRv4).
"""

from __future__ import annotations

from collections.abc import Sequence

import onnx
from onnx import numpy_helper

from citywatch.vision.plates.ctc import ALPHABET
from citywatch.vision.plates.ppocr import SEPARATORS


class PruneError(ValueError):
    """The model's last layer is not the linear-then-softmax this cut expects."""


def plate_class_indices(characters: Sequence[str]) -> list[int]:
    """Of a recogniser's classes (blank first, space last, as ``CtcRecogniser`` lists them), the
    ones a plate reader uses, in order: the blank, every plate symbol in upper and lower case,
    the separators, the space."""
    wanted = set(ALPHABET) | {c.lower() for c in ALPHABET if c.isalpha()} | set(SEPARATORS)
    last = len(characters) - 1
    keep = [i for i, ch in enumerate(characters) if i in (0, last) or ch in wanted]
    missing = sorted(set(ALPHABET) - {characters[i] for i in keep})
    if missing:
        raise PruneError(f"the recogniser's classes lack plate symbols {''.join(missing)}")
    return keep


def _tensor_of(proto: onnx.ModelProto, name: str) -> onnx.TensorProto | None:
    for t in proto.graph.initializer:
        if t.name == name:
            return t
    for node in proto.graph.node:
        if node.op_type == "Constant" and node.output[0] == name:
            return node.attribute[0].t
    return None


def _last_layer(proto: onnx.ModelProto) -> tuple[onnx.TensorProto, onnx.TensorProto]:
    """The weight ``[C_in, C]`` and bias ``[C]`` of the linear layer before the output softmax."""
    producer = {out: node for node in proto.graph.node for out in node.output}
    node = producer.get(proto.graph.output[0].name)
    if node is None or node.op_type != "Softmax":
        raise PruneError("the model's output is not made by a Softmax")
    name = node.input[0]
    while (node := producer.get(name)) is not None and node.op_type == "Identity":
        name = node.input[0]
    if node is None or node.op_type != "Add":
        raise PruneError("no Add (the last layer's bias) before the output Softmax")
    matmul = next((producer[i] for i in node.input if i in producer), None)
    bias = next((t for i in node.input if (t := _tensor_of(proto, i)) is not None), None)
    if matmul is None or matmul.op_type != "MatMul" or bias is None:
        raise PruneError("the last layer is not MatMul then Add of a stored bias")
    weight = _tensor_of(proto, matmul.input[1])
    if weight is None or len(weight.dims) != 2 or weight.dims[1] != bias.dims[-1]:
        raise PruneError("the last layer's weight is not a stored [C_in, C] matrix")
    return weight, bias


def prune_classes(
    proto: onnx.ModelProto, keep: Sequence[int], characters: Sequence[str]
) -> onnx.ModelProto:
    """A copy of ``proto`` whose output has only the classes ``keep`` (indices into
    ``characters``: blank first, space last, both kept), its ``character`` metadata listing the
    kept characters between them."""
    if not keep or keep[0] != 0 or keep[-1] != len(characters) - 1:
        raise PruneError("the kept classes must start with the blank and end with the space")
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    weight, bias = _last_layer(out)
    if weight.dims[1] != len(characters):
        raise PruneError(f"the last layer has {weight.dims[1]} classes, the list {len(characters)}")
    w, b = numpy_helper.to_array(weight), numpy_helper.to_array(bias)
    weight.CopyFrom(numpy_helper.from_array(w[:, list(keep)].copy(), weight.name))
    bias.CopyFrom(numpy_helper.from_array(b[..., list(keep)].copy(), bias.name))
    dims = out.graph.output[0].type.tensor_type.shape.dim
    if dims:
        dims[-1].Clear()
        dims[-1].dim_value = len(keep)
    del out.graph.value_info[:]  # shapes inferred for the full class count
    meta = {p.key: p.value for p in out.metadata_props}
    meta["character"] = "\n".join(characters[i] for i in keep[1:-1])
    meta["classes_kept"] = f"{len(keep)} of {len(characters)} (plate symbols, separators)"
    del out.metadata_props[:]
    for k, v in meta.items():
        entry = out.metadata_props.add()
        entry.key, entry.value = k, v
    return out
