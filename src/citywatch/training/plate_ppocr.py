"""The shipped PP-OCR recogniser as a trainable torch network (issue 15's fine-tuning route).

:func:`load_ppocr` turns a PP-OCR style recogniser in ONNX (by default the PP-OCRv4 recogniser
inside ``rapidocr-onnxruntime``: input ``[N, 3, 48, W]`` BGR scaled to -1..1, output
``[N, W/8, 6625]`` probabilities, its characters in the ``character`` metadata; or PP-OCRv6
small, the US default, 18,708 characters, :func:`source_of`) into a torch
module with ``onnx2torch``: the graph's weights become trainable parameters, its last softmax
is dropped (the module returns logits, for CTC loss), and its few batch norms keep the
statistics they learned (:class:`PpocrNet` leaves them in eval mode while training).
:func:`ppocr_classes` gives the model's classes (blank, its characters, a space) and where
each plate symbol sits among them.  :func:`export_ppocr` writes a trained network back to
ONNX with the original's contract (input ``x``, softmax output over the same classes, the
same ``character`` metadata), so :class:`~citywatch.vision.plates.ppocr.CtcRecogniser` and
``plates.reader.rec_model`` load it as they load the original.

Needs ``torch`` and ``onnx2torch`` (the ``train`` extra).  The paddle2onnx export of PP-OCRv4
stores the weights as ``Constant`` nodes and leaves some shapes unknown; PP-OCRv6's stem pads
``SAME_UPPER``, which onnx2torch does not read; all are set right here before ``onnx2torch``
reads the graph.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import onnx
import torch
from torch import nn

from citywatch.training.onnx_store import (
    HALF_TOLERANCE,
    halved,
    is_constant,
    set_column_step,
    set_input_height,
    unhalved,
)
from citywatch.vision.plates.ctc import ALPHABET
from citywatch.vision.plates.ppocr import HEIGHT, default_model_path

SPACE = " "
STRIDE = 8  # input pixels of width per output step
# the stem and the stages up to 128 channels of PP-OCRv4's PPLCNetV3 backbone (convolutions
# 0-11 and the stem's batch norm): strokes and edges learned from real text, kept as they are
# (and no backward pass through the widest feature maps: a third less time per step)
FROZEN = (*(f"p2o/Conv/{i}." for i in range(12)), "p2o/BatchNormalization/0.")
# PP-OCRv6 small's PPHGNetV2 backbone: its stem and first stage (up to 96 channels), and the
# scales and biases they use, are kept; training starts at the first 192-channel stage
FROZEN_V6_UNTIL = "Conv/8"


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
    """``onnx2torch``, also where ``torchvision`` is missing or installed but its compiled ops do
    not load (a CUDA build of torchvision beside a CPU build of torch): onnx2torch imports it for
    the NonMaxSuppression and RoiAlign converters, which no recogniser uses."""
    try:
        import onnx2torch
    except ImportError as err:
        if err.name != "torchvision":
            raise PpocrError(
                f"fine-tuning PP-OCR needs onnx2torch: pip install -e '.[train]' ({err})"
            ) from None
        _stub_torchvision()  # not installed: the train extra does not need it
        import onnx2torch
    except (RuntimeError, OSError):  # torchvision's compiled ops failed to register
        _stub_torchvision()
        import onnx2torch
    return onnx2torch


def _stub_torchvision() -> None:
    """An empty ``torchvision`` (its ``ops.nms`` and ``ops.roi_align`` None) in place of a
    missing or broken one, and onnx2torch's half-imported modules forgotten."""
    for name in [m for m in sys.modules if m.split(".")[0] in ("torchvision", "onnx2torch")]:
        del sys.modules[name]
    stub = types.ModuleType("torchvision")
    ops = types.ModuleType("torchvision.ops")
    ops.roi_align = ops.nms = None  # type: ignore[attr-defined]
    stub.ops = ops  # type: ignore[attr-defined]
    sys.modules["torchvision"], sys.modules["torchvision.ops"] = stub, ops


def _prepared(model: onnx.ModelProto) -> onnx.ModelProto:
    """The graph with its ``Constant`` weights as initializers, without its last softmax (the
    output becomes logits), and every convolution's output known to be 4-D."""
    out = with_initializers(unhalved(model))
    graph = out.graph
    nodes = list(graph.node)
    for node in nodes:
        _explicit_pads(node)
    last = nodes[-1]
    if last.op_type != "Softmax" or last.output[0] != graph.output[0].name:
        raise PpocrError("the recogniser's graph does not end in a softmax")
    logits = last.input[0]
    del graph.node[-1]
    graph.output[0].name = logits
    declare_4d(graph)
    return out


def with_initializers(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` with its ``Constant`` tensors as initializers (what onnx2torch
    turns into parameters and buffers; paddle2onnx exports store weights as constants)."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    nodes = []
    for node in graph.node:
        if is_constant(node):
            tensor = onnx.TensorProto()
            tensor.CopyFrom(node.attribute[0].t)
            tensor.name = node.output[0]
            graph.initializer.append(tensor)
        else:
            nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    return out


def declare_4d(graph: onnx.GraphProto) -> None:
    """Every (transposed) convolution's output declared 4-D: paddle2onnx leaves some shapes
    unknown, and onnx2torch needs the rank."""
    convs = {n.output[0] for n in graph.node if n.op_type in ("Conv", "ConvTranspose")}
    kept = [v for v in graph.value_info if v.name not in convs]
    del graph.value_info[:]
    graph.value_info.extend(kept)
    for name in sorted(convs):
        graph.value_info.append(
            onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, ["n", "c", "h", "w"])
        )


def _explicit_pads(node: onnx.NodeProto) -> None:
    """A convolution's or pooling's ``SAME_UPPER`` padding (PP-OCRv6's 2x2 stem convolutions
    and pooling, stride 1) written as the explicit pads it means, which onnx2torch reads: of
    ``k - 1`` pixels per axis, the extra one at the end."""
    attrs = {a.name: a for a in node.attribute}
    if "auto_pad" not in attrs or attrs["auto_pad"].s in (b"", b"NOTSET", b"VALID"):
        return
    kernel = list(attrs["kernel_shape"].ints)
    strides = list(attrs["strides"].ints) if "strides" in attrs else [1] * len(kernel)
    dilations = list(attrs["dilations"].ints) if "dilations" in attrs else [1] * len(kernel)
    if attrs["auto_pad"].s != b"SAME_UPPER" or any(s != 1 for s in strides):
        raise PpocrError(
            f"node {node.name}: {attrs['auto_pad'].s.decode()} padding with strides {strides} "
            "is not supported"
        )
    total = [(k - 1) * d for k, d in zip(kernel, dilations, strict=True)]
    pads = [t // 2 for t in total] + [t - t // 2 for t in total]
    node.attribute.remove(attrs["auto_pad"])
    if "pads" in attrs:
        node.attribute.remove(attrs["pads"])
    node.attribute.append(onnx.helper.make_attribute("pads", pads))


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


class ConvertedNet(nn.Module):
    """An ONNX graph converted to torch (``graph``). Its batch norms stay in eval mode (their
    learned statistics) while the rest trains. ``onnx_names``: the ONNX tensor each parameter
    came from (where :func:`write_weights` writes it back)."""

    def __init__(self, graph: nn.Module, onnx_names: dict[str, str]) -> None:
        super().__init__()
        self.graph = graph
        self.onnx_names = onnx_names

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.graph(x)
        return out

    def train(self, mode: bool = True) -> Self:
        super().train(mode)
        for m in self.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
        return self


class PpocrNet(ConvertedNet):
    """A PP-OCR recogniser converted to torch: ``forward`` returns logits ``[N, T, classes]``."""


def convert_trainable(
    prepared: onnx.ModelProto, src: Path, what: str, error: type[Exception]
) -> tuple[Any, dict[str, str]]:
    """``prepared`` converted by onnx2torch with its weights trainable (:func:`_trainable`),
    and the ONNX tensor each parameter came from; ``error`` (naming ``what`` and ``src``)
    when onnx2torch cannot convert it."""
    try:
        graph = _import_onnx2torch().convert(prepared, attach_onnx_mapping=True)
    except (NotImplementedError, KeyError, ValueError) as err:
        raise error(f"{what} {src} cannot be converted to torch: {err}") from None
    _trainable(graph)
    return graph, _onnx_names(graph, prepared)


def write_weights(
    proto: onnx.ModelProto, net: ConvertedNet, src: Path, error: type[Exception]
) -> None:
    """``net``'s weights written into ``proto``, the graph they were converted from (its
    ``Constant`` nodes or its initializers), each where :attr:`ConvertedNet.onnx_names` says;
    ``error`` when a tensor is missing or of another shape."""
    by_name = {n.output[0]: n.attribute[0].t for n in proto.graph.node if is_constant(n)}
    by_name.update({t.name: t for t in proto.graph.initializer})
    params = dict(net.graph.named_parameters())
    for param, tensor in net.onnx_names.items():
        value = params[param].detach().cpu().numpy()
        stored = by_name.get(tensor)
        if stored is None:
            raise error(f"{src}: no constant {tensor!r} for parameter {param}")
        old = onnx.numpy_helper.to_array(stored)
        if old.shape != value.shape:
            raise error(f"{src}: {tensor} is {old.shape}, the trained {param} {value.shape}")
        stored.CopyFrom(onnx.numpy_helper.from_array(value.astype(old.dtype), tensor))


def freeze_early(net: PpocrNet) -> int:
    """Stop training the early layers (PP-OCRv4: :data:`FROZEN`; PP-OCRv6 small: everything
    before :data:`FROZEN_V6_UNTIL`); returns how many parameters still train."""
    names = [name for name, _ in net.graph.named_parameters()]
    if any(name.startswith(FROZEN) for name in names):
        frozen = {name for name in names if name.startswith(FROZEN)}
    else:
        frozen = _used_before(net.graph, FROZEN_V6_UNTIL)
    for name, p in net.graph.named_parameters():
        if name in frozen:
            p.requires_grad_(False)
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def _used_before(graph: Any, until: str) -> set[str]:
    """The parameters the converted ``graph`` uses before it reaches module ``until``."""
    params = dict(graph.named_parameters())
    used: set[str] = set()
    for fx_node in graph.graph.nodes:
        if fx_node.op == "call_module" and str(fx_node.target) == until:
            return used
        if fx_node.op == "get_attr" and str(fx_node.target) in params:
            used.add(str(fx_node.target))
        elif fx_node.op == "call_module":
            prefix = f"{fx_node.target}."
            used.update(name for name in params if name.startswith(prefix))
    raise PpocrError(f"the recogniser has no layer {until!r} to freeze up to")


def source_of(init: str) -> Path | None:
    """The model a ``train plates --init`` value fine-tunes: ``ppocr`` PP-OCRv4 (None: inside
    rapidocr-onnxruntime), ``ppocrv6`` PP-OCRv6 small (where ``citywatch models prepare`` put
    it, ``models.cache_dir``'s default), ``ppocrv6-plates`` the shipped fine-tune of it (to
    fine-tune further, e.g. at another input height)."""
    if init == "ppocr":
        return None
    if init == "ppocrv6-plates":
        from citywatch.vision.plates.recognisers import shipped_path

        return shipped_path("ppocrv6-plates")
    if init != "ppocrv6":
        raise PpocrError(f"unknown PP-OCR model {init!r}; known: ppocr, ppocrv6, ppocrv6-plates")
    from citywatch.config.root import default_models_dir
    from citywatch.vision.plates.recognisers import RecogniserSetupError, recogniser_path

    try:
        return recogniser_path("ppocrv6-small", default_models_dir())
    except RecogniserSetupError as err:
        raise PpocrError(str(err)) from None


def source_path(path: Path | None = None) -> Path:
    """The PP-OCR model fine-tuning starts from (default: PP-OCRv4 in rapidocr-onnxruntime)."""
    return Path(path) if path is not None else default_model_path()


def load_ppocr(
    path: Path | None = None, height: int | None = None, col_step: int | None = None
) -> tuple[PpocrNet, PpocrClasses]:
    """The recogniser at ``path`` as a trainable :class:`PpocrNet`, and its classes;
    ``height``: made to read that many rows instead of its own (:func:`set_input_height`),
    ``col_step``: an output step every that many columns (:func:`set_column_step`)."""
    src = source_path(path)
    try:
        model = onnx.load(str(src))
    except Exception as err:  # protobuf's DecodeError, OSError, ...
        raise PpocrError(f"PP-OCR model {src} cannot be read: {err}") from None
    classes = ppocr_classes(model, src)
    _reshape(model, height, col_step, src)
    graph, names = convert_trainable(_prepared(model), src, "PP-OCR model", PpocrError)
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
        # a convolution with asymmetric pads converts to (padding, convolution)
        layers = [
            (f"{fx_node.target}.{sub}" if sub else str(fx_node.target), m)
            for sub, m in module.named_modules()
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.modules.batchnorm._BatchNorm)
        ]
        if len(layers) == 1:
            prefix, layer = layers[0]
            node = producer[mapping.outputs[0]]
            fields = ["weight", "bias"]
            for field, tensor in zip(fields, node.input[1:3], strict=False):
                if getattr(layer, field, None) is not None:
                    names[f"{prefix}.{field}"] = tensor
            continue
        for arg, tensor in zip(fx_node.args, mapping.inputs, strict=False):
            if getattr(arg, "op", None) == "get_attr":
                names[str(arg.target)] = tensor
    return names


def _reshape(proto: onnx.ModelProto, height: int | None, col_step: int | None, src: Path) -> None:
    try:
        if col_step is not None:  # finds the row pool by the height it was made for
            set_column_step(proto, col_step, src)
        if height is not None:
            set_input_height(proto, height, src)
    except ValueError as err:
        raise PpocrError(str(err)) from None


def _probes(height: int = HEIGHT) -> list[np.ndarray]:
    rng = np.random.default_rng(160)
    return [rng.uniform(-1, 1, (2, 3, height, w)).astype(np.float32) for w in (160, 312)]


def export_ppocr(
    net: PpocrNet,
    onnx_path: Path,
    meta: dict[str, str],
    *,
    source: Path | None = None,
    half: bool = True,
    plate_classes: bool = False,
    height: int | None = None,
    col_step: int | None = None,
) -> Path:
    """The source model (``source``, default PP-OCRv4) with ``net``'s weights written into its
    own graph (its ``Constant`` nodes, or its initializers: PP-OCRv6): the original's contract
    unchanged (input ``x`` ``[N, 3, 48, W]`` of any width, probabilities ``[N, W/8, classes]``,
    its ``character`` metadata), plus ``meta``; checked against torch at two widths (to 1e-4).
    ``half``: the weights stored as float16 (:func:`halved`; PP-OCRv4 5.5 MB instead of 10.9,
    PP-OCRv6 small 10.7 instead of 21.2), checked to read within :data:`HALF_TOLERANCE` of the
    float32 file.  ``plate_classes``: the last layer cut to the classes a plate reader uses
    (:mod:`citywatch.training.plate_classes`).  ``height``: the input height the weights were
    trained at, declared in the graph and probed at (default the original's); ``col_step`` the
    input columns per output step it was trained with.  Returns
    ``onnx_path``."""
    import onnxruntime as ort

    from citywatch.training.plate_classes import PruneError, plate_class_indices, prune_classes

    src = source_path(source)
    proto = unhalved(onnx.load(str(src)))
    write_weights(proto, net, src, PpocrError)  # Constant nodes (PP-OCRv4), initializers (v6)
    _reshape(proto, height, col_step, src)
    probes = _probes(height or HEIGHT)
    meta = {**{p.key: p.value for p in proto.metadata_props}, **meta}
    del proto.metadata_props[:]
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    keep: list[int] | None = None
    if plate_classes:
        characters = ppocr_classes(proto, src).characters
        try:
            keep = plate_class_indices(characters)
            proto = prune_classes(proto, keep, characters)
        except PruneError as err:
            raise PpocrError(f"{src}: cannot keep only the plate classes: {err}") from None
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = onnx_path.with_suffix(".tmp.onnx")
    net.eval()
    with torch.no_grad():
        logits = [net(torch.from_numpy(x)) for x in probes]
        want = [torch.softmax(z if keep is None else z[..., keep], dim=2).numpy() for z in logits]
    checks = [(proto, 1e-4, "torch")]
    if half:
        checks.append((halved(proto), HALF_TOLERANCE, "torch (weights stored as float16)"))
    try:
        for model, tolerance, what in checks:
            onnx.save(model, str(tmp))
            sess = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
            for x, w in zip(probes, want, strict=True):
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
