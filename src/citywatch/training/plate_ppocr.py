"""The shipped PP-OCR recogniser as a trainable torch network (issue 15's fine-tuning route).

:func:`load_ppocr` turns a PP-OCR style recogniser in ONNX (by default the PP-OCRv4 recogniser
inside ``rapidocr-onnxruntime``: input ``[N, 3, 48, W]`` BGR scaled to -1..1, output
``[N, W/8, 6625]`` probabilities, its characters in the ``character`` metadata) into a torch
module with ``onnx2torch``: the graph's weights become trainable parameters, its last softmax
is dropped (the module returns logits, for CTC loss), and its few batch norms keep the
statistics they learned (:class:`PpocrNet` leaves them in eval mode while training).
:func:`ppocr_classes` gives the model's classes (blank, its characters, a space) and where
each plate symbol sits among them.  :func:`export_ppocr` writes a trained network back to
ONNX with the original's contract (input ``x``, softmax output over the same classes, the
same ``character`` metadata), so :class:`~citywatch.vision.plates.ppocr.CtcRecogniser` and
``plates.reader.rec_model`` load it as they load the original.

Needs ``torch`` and ``onnx2torch`` (the ``train`` extra).  The paddle2onnx export stores the
weights as ``Constant`` nodes and leaves some shapes unknown; both are set right here before
``onnx2torch`` reads the graph.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from citywatch.vision.plates.ctc import ALPHABET
from citywatch.vision.plates.ppocr import HEIGHT, default_model_path

SPACE = " "
STRIDE = 8  # input pixels of width per output step
# the stem and the stages up to 128 channels of PP-OCRv4's PPLCNetV3 backbone (convolutions
# 0-11 and the stem's batch norm): strokes and edges learned from real text, kept as they are
# (and no backward pass through the widest feature maps: a third less time per step)
FROZEN = (*(f"p2o/Conv/{i}." for i in range(12)), "p2o/BatchNormalization/0.")


class PpocrError(RuntimeError):
    """The PP-OCR model cannot be converted; the message names the file."""


@dataclass(frozen=True)
class PpocrClasses:
    """A PP-OCR model's classes: ``characters`` (blank first, a space last), the class of each
    plate symbol (upper case) and of the space."""

    characters: tuple[str, ...]
    symbol_class: dict[str, int]
    space: int

    def encode(self, label: str) -> list[int]:
        """Class indices of a label (a space: the space class)."""
        out = []
        for ch in label:
            k = self.space if ch == SPACE else self.symbol_class.get(ch)
            if k is None:
                raise ValueError(f"label {label!r}: {ch!r} is not a plate symbol")
            out.append(k)
        return out

    def symbols(self) -> list[str]:
        """Per class, the plate symbol it reads ('' for blank, separators and everything else;
        a lower-case letter reads as its capital, as the reader takes it)."""
        upper = set(ALPHABET)
        chars = self.characters
        return [c.upper() if i > 0 and c.upper() in upper else "" for i, c in enumerate(chars)]


def ppocr_classes(model: onnx.ModelProto, path: Path) -> PpocrClasses:
    meta = {p.key: p.value for p in model.metadata_props}
    if "character" not in meta:
        raise PpocrError(f"PP-OCR model {path} has no 'character' metadata")
    chars = ("<blank>", *meta["character"].splitlines(), SPACE)
    index: dict[str, int] = {}
    for i, ch in enumerate(chars[1:], start=1):
        index.setdefault(ch, i)
    missing = [c for c in ALPHABET if c not in index]
    if missing:
        raise PpocrError(f"PP-OCR model {path} lacks plate symbols {''.join(missing)}")
    return PpocrClasses(chars, {c: index[c] for c in ALPHABET}, len(chars) - 1)


def _import_onnx2torch() -> Any:
    """``onnx2torch``, also where ``torchvision`` is installed but its compiled ops do not load
    (a CUDA build of torchvision beside a CPU build of torch): onnx2torch imports it only for
    the NonMaxSuppression and RoiAlign converters, which no recogniser uses."""
    try:
        import onnx2torch
    except ImportError as err:
        if "onnx2torch" in str(err):
            raise PpocrError(
                "fine-tuning PP-OCR needs onnx2torch: pip install -e '.[train]'"
            ) from None
        raise
    except (RuntimeError, OSError):  # torchvision's compiled ops failed to register
        for name in [m for m in sys.modules if m.split(".")[0] in ("torchvision", "onnx2torch")]:
            del sys.modules[name]
        stub = types.ModuleType("torchvision")
        ops = types.ModuleType("torchvision.ops")
        ops.roi_align = ops.nms = None  # type: ignore[attr-defined]
        stub.ops = ops  # type: ignore[attr-defined]
        sys.modules["torchvision"], sys.modules["torchvision.ops"] = stub, ops
        import onnx2torch
    return onnx2torch


def _prepared(model: onnx.ModelProto) -> onnx.ModelProto:
    """The graph with its ``Constant`` weights as initializers, without its last softmax (the
    output becomes logits), and every convolution's output known to be 4-D."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    nodes = []
    for node in graph.node:
        if node.op_type == "Constant" and [a.name for a in node.attribute] == ["value"]:
            tensor = onnx.TensorProto()
            tensor.CopyFrom(node.attribute[0].t)
            tensor.name = node.output[0]
            graph.initializer.append(tensor)
        else:
            nodes.append(node)
    last = nodes[-1]
    if last.op_type != "Softmax" or last.output[0] != graph.output[0].name:
        raise PpocrError("the recogniser's graph does not end in a softmax")
    logits = last.input[0]
    nodes = nodes[:-1]
    del graph.node[:]
    graph.node.extend(nodes)
    graph.output[0].name = logits
    convs = {n.output[0] for n in nodes if n.op_type == "Conv"}
    kept = [v for v in graph.value_info if v.name not in convs]
    del graph.value_info[:]
    graph.value_info.extend(kept)
    for name in sorted(convs):
        graph.value_info.append(
            onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, ["n", "c", "h", "w"])
        )
    return out


def _trainable(module: nn.Module) -> None:
    """Floating-point constants of more than one value (weights, biases, layer norms) become
    parameters; scalars (scales, epsilons) and integer shapes stay buffers."""
    for owner in list(module.modules()):
        for name, buf in list(owner.named_buffers(recurse=False)):
            if isinstance(owner, nn.modules.batchnorm._BatchNorm):
                continue
            if buf is not None and buf.is_floating_point() and buf.numel() > 1:
                delattr(owner, name)
                owner.register_parameter(name, nn.Parameter(buf.detach().clone()))


class PpocrNet(nn.Module):
    """A PP-OCR recogniser converted to torch: ``forward`` returns logits ``[N, T, classes]``.
    Its batch norms stay in eval mode (their learned statistics) while the rest trains.
    ``onnx_names``: the ONNX tensor each parameter came from (where :func:`export_ppocr`
    writes it back)."""

    def __init__(self, graph: nn.Module, onnx_names: dict[str, str]) -> None:
        super().__init__()
        self.graph = graph
        self.onnx_names = onnx_names

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.graph(x)
        return out

    def train(self, mode: bool = True) -> PpocrNet:
        super().train(mode)
        for m in self.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
        return self


def freeze_early(net: PpocrNet) -> int:
    """Stop training the :data:`FROZEN` layers; returns how many parameters still train."""
    for name, p in net.graph.named_parameters():
        if name.startswith(FROZEN):
            p.requires_grad_(False)
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def source_path(path: Path | None = None) -> Path:
    """The PP-OCR model fine-tuning starts from (default: PP-OCRv4 in rapidocr-onnxruntime)."""
    return Path(path) if path is not None else default_model_path()


def load_ppocr(path: Path | None = None) -> tuple[PpocrNet, PpocrClasses]:
    """The recogniser at ``path`` as a trainable :class:`PpocrNet`, and its classes."""
    src = source_path(path)
    try:
        model = onnx.load(str(src))
    except Exception as err:  # protobuf's DecodeError, OSError, ...
        raise PpocrError(f"PP-OCR model {src} cannot be read: {err}") from None
    classes = ppocr_classes(model, src)
    onnx2torch = _import_onnx2torch()
    prepared = _prepared(model)
    try:
        graph = onnx2torch.convert(prepared, attach_onnx_mapping=True)
    except (NotImplementedError, KeyError, ValueError) as err:
        raise PpocrError(f"PP-OCR model {src} cannot be converted to torch: {err}") from None
    _trainable(graph)
    names = _onnx_names(graph, prepared)
    params = dict(graph.named_parameters())
    unmapped = sorted(set(params) - set(names))
    if unmapped or len(set(names.values())) != len(names):
        raise PpocrError(
            f"PP-OCR model {src}: cannot tell which ONNX tensor each weight came from "
            f"({unmapped[:3]}; {len(names)} names for {len(set(names.values()))} tensors)"
        )
    return PpocrNet(graph, {k: names[k] for k in params}), classes


def _onnx_names(graph: Any, prepared: onnx.ModelProto) -> dict[str, str]:
    """Per trainable parameter of the converted ``graph`` (its qualified name), the ONNX tensor
    it came from (``convert(..., attach_onnx_mapping=True)`` names each module's inputs and
    outputs; a convolution's or batch norm's weights are the inputs of the node that makes its
    output)."""
    producer = {out: node for node in prepared.graph.node for out in node.output}
    names: dict[str, str] = {}
    for fx_node in graph.graph.nodes:
        if fx_node.op != "call_module":
            continue
        module = graph.get_submodule(fx_node.target)
        mapping = getattr(module, "onnx_mapping", None)
        if mapping is None:
            continue
        if isinstance(module, nn.Conv2d | nn.modules.batchnorm._BatchNorm):
            node = producer[mapping.outputs[0]]
            fields = ["weight", "bias"]
            for field, tensor in zip(fields, node.input[1:3], strict=False):
                if getattr(module, field, None) is not None:
                    names[f"{fx_node.target}.{field}"] = tensor
            continue
        for arg, tensor in zip(fx_node.args, mapping.inputs, strict=False):
            if getattr(arg, "op", None) == "get_attr":
                names[str(arg.target)] = tensor
    return names


HALF_TOLERANCE = 0.02  # most a probability may move when the weights are stored as float16


def halved(proto: onnx.ModelProto) -> onnx.ModelProto:
    """``proto`` with its float weights (constants of more than one value) stored as float16,
    each cast back to float32 where it is used: half the file, the same float32 arithmetic
    (onnxruntime folds the casts when it loads the model)."""
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    nodes = []
    for node in out.graph.node:
        value = onnx.numpy_helper.to_array(node.attribute[0].t) if _is_constant(node) else None
        if value is not None and value.dtype == np.float32 and value.size > 1:
            name = node.output[0]
            half = onnx.numpy_helper.from_array(value.astype(np.float16), f"{name}_f16")
            nodes.append(onnx.helper.make_node("Constant", [], [f"{name}_f16"], value=half))
            nodes.append(
                onnx.helper.make_node("Cast", [f"{name}_f16"], [name], to=onnx.TensorProto.FLOAT)
            )
        else:
            nodes.append(node)
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    return out


def _is_constant(node: onnx.NodeProto) -> bool:
    return node.op_type == "Constant" and [a.name for a in node.attribute] == ["value"]


def _probes() -> list[np.ndarray]:
    rng = np.random.default_rng(160)
    return [rng.uniform(-1, 1, (2, 3, HEIGHT, w)).astype(np.float32) for w in (160, 312)]


def export_ppocr(
    net: PpocrNet,
    onnx_path: Path,
    meta: dict[str, str],
    *,
    source: Path | None = None,
    half: bool = True,
) -> Path:
    """The source model (``source``, default PP-OCRv4) with ``net``'s weights written into its
    own graph: the original's contract unchanged (input ``x`` ``[N, 3, 48, W]`` of any width,
    probabilities ``[N, W/8, classes]``, its ``character`` metadata), plus ``meta``; checked
    against torch at two widths (to 1e-4).  ``half``: the weights stored as float16
    (:func:`halved`; 5.5 MB instead of 10.9), checked to read within :data:`HALF_TOLERANCE` of
    the float32 file.  Returns ``onnx_path``."""
    import onnxruntime as ort

    src = source_path(source)
    proto = onnx.load(str(src))
    by_name = {n.output[0]: n for n in proto.graph.node if _is_constant(n)}
    for param, tensor in net.onnx_names.items():
        value = dict(net.graph.named_parameters())[param].detach().cpu().numpy()
        node = by_name.get(tensor)
        if node is None:
            raise PpocrError(f"{src}: no constant {tensor!r} for parameter {param}")
        old = onnx.numpy_helper.to_array(node.attribute[0].t)
        if old.shape != value.shape:
            raise PpocrError(f"{src}: {tensor} is {old.shape}, the trained {param} {value.shape}")
        node.attribute[0].t.CopyFrom(onnx.numpy_helper.from_array(value.astype(old.dtype), tensor))
    meta = {**{p.key: p.value for p in proto.metadata_props}, **meta}
    del proto.metadata_props[:]
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = onnx_path.with_suffix(".tmp.onnx")
    net.eval()
    with torch.no_grad():
        want = [torch.softmax(net(torch.from_numpy(x)), dim=2).numpy() for x in _probes()]
    checks = [(proto, 1e-4, "torch")]
    if half:
        checks.append((halved(proto), HALF_TOLERANCE, "torch (weights stored as float16)"))
    try:
        for model, tolerance, what in checks:
            onnx.save(model, str(tmp))
            sess = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
            for x, w in zip(_probes(), want, strict=True):
                got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
                if got.shape != w.shape or float(np.abs(got - w).max()) > tolerance:
                    raise PpocrError(
                        f"{onnx_path}: onnxruntime disagrees with {what} at width "
                        f"{x.shape[3]} ({got.shape}, {w.shape})"
                    )
    except PpocrError:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(onnx_path)
    return onnx_path
