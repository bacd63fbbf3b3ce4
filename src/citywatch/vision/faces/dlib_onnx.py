"""Convert dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``) to ONNX.

The ``dlib-bin`` wheel has no BLAS, so dlib itself needs ~110 ms per face; the same network in
onnxruntime needs a few ms.  This module reads dlib's serialisation in plain Python (no dlib
import), checks that the file holds the network of dlib's ``dnn_face_recognition_ex.cpp`` and
writes an equivalent ONNX graph.

dlib's format, as far as this file needs it: integers are a control byte (bit 7 = sign, low 4
bits = byte count) followed by little-endian magnitude bytes; floats are an integer mantissa
then an integer exponent (``mantissa * 2**exponent``); strings are an integer length then bytes;
bools are ASCII ``'0'``/``'1'``; tensors are a version (2 = raw little-endian float32, 1 = one
float per value) and four dimensions.  A network is nested: each ``add_layer`` writes its version,
then its whole sub-network, then its own layer, flags and scratch tensors.  ``tag``/``skip``
layers write only a version and their sub-network, so their ids are not in the file: the wiring
of the residual blocks comes from the example network definition and is checked layer by layer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]

DAT_NAME = "dlib_face_recognition_resnet_model_v1.dat"
ONNX_NAME = "dlib_resnet_v1.onnx"
#: Bumped whenever the graph this module writes changes; part of the cache key.
CONVERTER_VERSION = "1"
OPSET = 17
_INPUT_LAYER = b"input_rgb_image_sized"


class DlibModelError(ValueError):
    """The .dat file is not the dlib face-recognition ResNet this converter understands."""


# --------------------------------------------------------------------------------------------
# What the file holds


@dataclass(frozen=True, slots=True)
class ConvLayer:
    """A convolution with its following per-channel affine (dlib's batch-norm replacement)."""

    weight: F32  # (out, in, kh, kw)
    bias: F32  # (out,)
    gamma: F32  # (out,)
    beta: F32  # (out,)
    stride: tuple[int, int]
    pad: tuple[int, int]


@dataclass(frozen=True, slots=True)
class Pool:
    size: tuple[int, int]  # (0, 0) = the whole input (avg_pool_everything)
    stride: tuple[int, int]
    pad: tuple[int, int]


@dataclass(frozen=True, slots=True)
class ResBlock:
    """relu(add_prev(conv2(relu(conv1(x))), skip)) where skip is x, or avg_pool(x) if down."""

    conv1: ConvLayer
    conv2: ConvLayer
    skip_pool: Pool | None


@dataclass(frozen=True, slots=True)
class ParsedNet:
    input_size: tuple[int, int]  # rows, cols
    mean_rgb: tuple[float, float, float]
    stem: ConvLayer  # followed by relu and stem_pool (max)
    stem_pool: Pool
    blocks: tuple[ResBlock, ...]
    head_pool: Pool  # average
    fc_weight: F32  # (inputs, outputs)
    fc_bias: F32 | None
    loss: str
    distance_threshold: float

    @property
    def dim(self) -> int:
        return int(self.fc_weight.shape[1])


# --------------------------------------------------------------------------------------------
# Reading dlib's serialisation


@dataclass(frozen=True, slots=True)
class _Layer:
    """One ``add_layer`` details object, or a tag/skip marker (kind ``"mark"``)."""

    kind: str
    offset: int
    arrays: tuple[F32, ...] = ()
    ints: tuple[int, ...] = ()


class _Reader:
    def __init__(self, data: bytes, path: Path) -> None:
        self.data = data
        self.pos = 0
        self.path = path

    def fail(self, what: str, at: int | None = None) -> DlibModelError:
        where = self.pos if at is None else at
        return DlibModelError(
            f"{self.path}: not dlib's face-recognition ResNet as expected: byte {where}: {what}"
        )

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise self.fail(f"file ends early (wanted {n} more bytes of {len(self.data)})")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def int_(self) -> int:
        ctrl = self.take(1)[0]
        size = ctrl & 0x0F
        if ctrl & 0x70 or size > 8:
            raise self.fail(f"bad integer control byte 0x{ctrl:02x}", self.pos - 1)
        value = int.from_bytes(self.take(size), "little")
        return -value if ctrl & 0x80 else value

    def float_(self) -> float:
        mantissa, exponent = self.int_(), self.int_()
        special = {32000: float("inf"), 32001: float("-inf"), 32002: float("nan")}
        return special.get(exponent) or float(np.ldexp(float(mantissa), exponent))

    def string(self) -> str:
        n = self.int_()
        if not 0 <= n <= 256:
            raise self.fail(f"implausible string length {n}")
        return self.take(n).decode("latin-1")

    def bool_(self) -> bool:
        ch = self.take(1)
        if ch not in (b"0", b"1"):
            raise self.fail(f"bad bool byte {ch!r}", self.pos - 1)
        return ch == b"1"

    def tensor(self) -> F32:
        version = self.int_()
        dims = [self.int_() for _ in range(4)]
        if any(d < 0 for d in dims):
            raise self.fail(f"negative tensor dimension {dims}")
        count = int(np.prod(dims))
        if version == 2:
            raw = np.frombuffer(self.take(4 * count), dtype="<f4")
            return raw.astype(np.float32).reshape(dims)
        if version == 1:
            return np.array([self.float_() for _ in range(count)], np.float32).reshape(dims)
        raise self.fail(f"unknown tensor version {version}")

    def alias(self) -> tuple[int, ...]:
        if (version := self.int_()) != 1:
            raise self.fail(f"unknown alias_tensor version {version}")
        return tuple(self.int_() for _ in range(4))


def _split(params: F32, shapes: list[tuple[int, ...]], r: _Reader, at: int) -> list[F32]:
    """Cut a flat parameter tensor into the aliases that dlib lays out one after the other."""
    flat = params.reshape(-1)
    sizes = [int(np.prod(s)) for s in shapes]
    if sum(sizes) != flat.size:
        raise r.fail(f"parameter count {flat.size} does not match aliases {shapes}", at)
    out, start = [], 0
    for shape, size in zip(shapes, sizes, strict=True):
        out.append(flat[start : start + size].reshape(shape))
        start += size
    return out


def _read_details(r: _Reader) -> _Layer:
    at = r.pos
    name = r.string()
    if name == "con_4":
        params = r.tensor()
        _num_filters, kh, kw = r.int_(), r.int_(), r.int_()
        sy, sx, py, px = r.int_(), r.int_(), r.int_(), r.int_()
        filt, bias = r.alias(), r.alias()
        for _ in range(4):  # learning-rate and weight-decay multipliers
            r.float_()
        w, b = _split(params, [filt, (bias[1],)], r, at)
        if w.shape[2:] != (kh, kw):
            raise r.fail(f"con_ filter shape {w.shape} does not match {kh}x{kw}", at)
        return _Layer("con", at, (w, b), (sy, sx, py, px))
    if name == "affine_":
        params = r.tensor()
        gamma, beta = r.alias(), r.alias()
        if r.int_() != 0:
            raise r.fail("affine_ in fc mode is not supported here", at)
        g, b = _split(params, [(int(np.prod(gamma)),), (int(np.prod(beta)),)], r, at)
        return _Layer("affine", at, (g, b))
    if name in ("relu_", "add_prev_"):
        return _Layer(name.rstrip("_"), at)
    if name in ("max_pool_2", "avg_pool_2"):
        nr, nc, sy, sx, py, px = (r.int_() for _ in range(6))
        return _Layer(name[:8], at, (), (nr, nc, sy, sx, py, px))
    if name == "fc_2":
        outputs, inputs = r.int_(), r.int_()
        params = r.tensor()
        _weights, bshape = r.alias(), r.alias()
        bias_mode = r.int_()
        for _ in range(4):
            r.float_()
        if bias_mode == 1:  # FC_NO_BIAS
            (w,) = _split(params, [(inputs, outputs)], r, at)
            return _Layer("fc", at, (w,))
        w, b = _split(params, [(inputs, outputs), (int(np.prod(bshape)),)], r, at)
        return _Layer("fc", at, (w, b))
    raise r.fail(f"unsupported dlib layer {name!r}", at)


def _read_scratch(r: _Reader, tensors: int) -> None:
    """The flags and scratch tensors an add_layer writes after its layer (not needed here)."""
    for _ in range(3):
        r.bool_()
    for _ in range(tensors):
        r.tensor()


def _read_layers(r: _Reader) -> tuple[tuple[float, float, float], tuple[int, int], list[_Layer]]:
    """Layers from the input outwards; tag/skip layers appear as ``mark``."""
    versions: list[tuple[int, int]] = []
    marker = bytes([0x01, len(_INPUT_LAYER)]) + _INPUT_LAYER
    while not r.data.startswith(marker, r.pos + 2):
        at = r.pos
        v = r.int_()
        if v not in (1, 2) or len(versions) > 10_000:
            raise r.fail(f"expected a layer version (1 or 2) or {_INPUT_LAYER.decode()}", at)
        versions.append((v, at))
    at = r.pos
    input_version = r.int_()
    if input_version not in (2, 3):
        raise r.fail(f"unknown add_layer version {input_version} on the input layer", at)
    r.string()
    mean = (r.float_(), r.float_(), r.float_())
    size = (r.int_(), r.int_())
    layers = [_read_details(r)]
    _read_scratch(r, 3)
    if input_version == 3:
        r.int_()  # sample expansion factor
    for v, at in reversed(versions):
        if v == 1:
            layers.append(_Layer("mark", at))
        else:
            layers.append(_read_details(r))
            _read_scratch(r, 3)
    return mean, size, layers


# --------------------------------------------------------------------------------------------
# Matching the layers to the example network


class _Cursor:
    def __init__(self, layers: list[_Layer], r: _Reader) -> None:
        self.layers = layers
        self.i = 0
        self.r = r

    def peek(self) -> str:
        return self.layers[self.i].kind if self.i < len(self.layers) else "end"

    def take(self, kind: str) -> _Layer:
        if self.peek() != kind:  # "end" is taken only when nothing is left
            at = self.layers[self.i].offset if self.i < len(self.layers) else len(self.r.data)
            raise self.r.fail(
                f"layer {self.i} (from the input) is {self.peek()!r}, expected {kind!r}: "
                "not the network of dlib's dnn_face_recognition_ex.cpp",
                at,
            )
        self.i += 1
        return self.layers[self.i - 1] if kind != "end" else self.layers[-1]

    def conv(self) -> ConvLayer:
        con, aff = self.take("con"), self.take("affine")
        w, b = con.arrays
        g, beta = aff.arrays
        if not (w.shape[0] == b.size == g.size == beta.size):
            raise self.r.fail(
                f"con_ with {w.shape[0]} filters meets affine_ of {g.size}", aff.offset
            )
        sy, sx, py, px = con.ints
        return ConvLayer(w, b, g, beta, (sy, sx), (py, px))


def _as_pool(layer: _Layer) -> Pool:
    nr, nc, sy, sx, py, px = layer.ints
    return Pool((nr, nc), (sy, sx), (py, px))


def _match(
    layers: list[_Layer], r: _Reader
) -> tuple[ConvLayer, Pool, list[ResBlock], Pool, _Layer]:
    c = _Cursor(layers, r)
    stem = c.conv()
    c.take("relu")
    stem_pool = _as_pool(c.take("max_pool"))
    blocks: list[ResBlock] = []
    while c.peek() == "mark":
        c.take("mark")  # tag1
        conv1 = c.conv()
        c.take("relu")
        conv2 = c.conv()
        skip: Pool | None = None
        if c.peek() == "mark":  # residual_down: tag2, skip1, avg_pool on the skip path
            c.take("mark")
            c.take("mark")
            skip = _as_pool(c.take("avg_pool"))
        c.take("add_prev")
        c.take("relu")
        blocks.append(ResBlock(conv1, conv2, skip))
    head_pool, fc = _as_pool(c.take("avg_pool")), c.take("fc")
    c.take("end")
    return stem, stem_pool, blocks, head_pool, fc


def parse_dlib_resnet(path: Path) -> ParsedNet:
    """Read dlib's face-recognition ResNet from ``path``; raise :class:`DlibModelError` if the
    file is not that network (or is truncated, or has bytes left over)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DlibModelError(f"{path}: cannot read the dlib model: {e}") from e
    r = _Reader(data, path)
    if (version := r.int_()) != 1:
        raise r.fail(f"expected add_loss_layer version 1, got {version}", 0)
    loss = r.string()
    if loss != "loss_metric_2":
        raise r.fail(f"expected the metric loss 'loss_metric_2', found {loss!r}", 0)
    _margin, threshold = r.float_(), r.float_()
    mean, size, layers = _read_layers(r)
    if r.pos != len(data):
        raise r.fail(f"{len(data) - r.pos} bytes left over after the network")
    stem, stem_pool, blocks, head_pool, fc = _match(layers, r)
    fc_w = fc.arrays[0]
    return ParsedNet(
        input_size=(size[0], size[1]),
        mean_rgb=mean,
        stem=stem,
        stem_pool=stem_pool,
        blocks=tuple(blocks),
        head_pool=head_pool,
        fc_weight=fc_w,
        fc_bias=fc.arrays[1] if len(fc.arrays) > 1 else None,
        loss=loss,
        distance_threshold=threshold,
    )


# --------------------------------------------------------------------------------------------
# Writing ONNX


class _Graph:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.n = 0

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        self.n += 1
        out = f"{op_type.lower()}_{self.n}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out


Shape = tuple[int, int, int]  # channels, rows, cols


def _out(
    shape: Shape, k: tuple[int, ...], s: tuple[int, int], p: tuple[int, int], ch: int
) -> Shape:
    """Output shape of a convolution or pooling (floor mode, as dlib and ONNX compute it)."""
    return (ch, (shape[1] + 2 * p[0] - k[0]) // s[0] + 1, (shape[2] + 2 * p[1] - k[1]) // s[1] + 1)


def _conv(g: _Graph, x: str, shape: Shape, layer: ConvLayer, relu: bool) -> tuple[str, Shape]:
    """Conv with the affine folded in: (W*x + b)*gamma + beta = (W*gamma)*x + (b*gamma + beta)."""
    w = (layer.weight * layer.gamma[:, None, None, None]).astype(np.float32)
    b = (layer.bias * layer.gamma + layer.beta).astype(np.float32)
    k = g.n
    py, px = layer.pad
    attrs = {"kernel_shape": list(w.shape[2:]), "strides": list(layer.stride)}
    y = g.op("Conv", [x, g.const(f"w{k}", w), g.const(f"b{k}", b)], pads=[py, px, py, px], **attrs)
    shape = _out(shape, w.shape[2:], layer.stride, layer.pad, int(w.shape[0]))
    return (g.op("Relu", [y]) if relu else y), shape


def _pool_node(
    g: _Graph, op: str, x: str, shape: Shape, p: Pool, **extra: Any
) -> tuple[str, Shape]:
    attrs = {"kernel_shape": list(p.size), "strides": list(p.stride), "pads": [*p.pad] * 2}
    return g.op(op, [x], **attrs, **extra), _out(shape, p.size, p.stride, p.pad, shape[0])


def _pad_to(g: _Graph, x: str, have: Shape, want: Shape) -> str:
    """Zero-pad channels/rows/columns at the end, as dlib's add_prev does for unequal inputs."""
    if have == want:
        return x
    extra = [w - h for h, w in zip(have, want, strict=True)]
    pads = np.array([0, 0, 0, 0, 0, *extra], dtype=np.int64)
    return g.op("Pad", [x, g.const(f"pads{g.n}", pads)], mode="constant")


def build_onnx(parsed: ParsedNet) -> onnx.ModelProto:
    """ONNX graph: input ``chips`` float32 [N,3,rows,cols] RGB 0..255, output ``embeddings``
    float32 [N,dim] (dlib's raw descriptors, not normalised)."""
    g = _Graph()
    rows, cols = parsed.input_size
    mean = np.array(parsed.mean_rgb, np.float32).reshape(1, 3, 1, 1)
    x = g.op("Sub", ["chips", g.const("mean_rgb", mean)])
    x = g.op("Mul", [x, g.const("inv_256", np.array(1.0 / 256.0, np.float32))])
    x, shape = _conv(g, x, (3, rows, cols), parsed.stem, relu=True)
    x, shape = _pool_node(g, "MaxPool", x, shape, parsed.stem_pool)
    for block in parsed.blocks:
        y, y_shape = _conv(g, x, shape, block.conv1, relu=True)
        y, y_shape = _conv(g, y, y_shape, block.conv2, relu=False)
        skip, s_shape = x, shape
        if block.skip_pool is not None:
            skip, s_shape = _pool_node(
                g, "AveragePool", x, shape, block.skip_pool, count_include_pad=0
            )
        want = (
            max(y_shape[0], s_shape[0]),
            max(y_shape[1], s_shape[1]),
            max(y_shape[2], s_shape[2]),
        )
        added = g.op("Add", [_pad_to(g, y, y_shape, want), _pad_to(g, skip, s_shape, want)])
        x, shape = g.op("Relu", [added]), want
    ch = shape[0]

    if parsed.head_pool.size != (0, 0):
        raise DlibModelError(f"expected avg_pool_everything before fc, got {parsed.head_pool}")
    if ch != parsed.fc_weight.shape[0]:
        raise DlibModelError(f"fc expects {parsed.fc_weight.shape[0]} inputs, network gives {ch}")
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
    x = g.op("MatMul", [x, g.const("fc_w", parsed.fc_weight.astype(np.float32))])
    if parsed.fc_bias is not None:
        x = g.op("Add", [x, g.const("fc_b", parsed.fc_bias.astype(np.float32))])
    g.nodes.append(helper.make_node("Identity", [x], ["embeddings"], name="embeddings"))

    graph = helper.make_graph(
        g.nodes,
        "dlib_face_recognition_resnet_v1",
        [helper.make_tensor_value_info("chips", TensorProto.FLOAT, ["N", 3, rows, cols])],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["N", parsed.dim])],
        g.inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="citywatch.dlib_onnx",
        producer_version=CONVERTER_VERSION,
    )
    model.ir_version = 8  # opset 17's IR: loadable by older onnxruntime/OpenVINO builds too
    onnx.checker.check_model(model)
    return model
