"""The plate recogniser trained here: a small CRNN-like CTC network (needs ``torch``: the
``train`` extra).

Input: a plate crop resized to 32 px high (BGR scaled to -1..1, any width), the same tensor
:class:`~citywatch.vision.plates.ppocr.CtcRecogniser` feeds it.  A convolutional body brings it
to two rows of features, one step per 4 px of width; each row sees the other; two 1-D
convolutions along the width give each step the context of about four characters.  The output
is the upper row's steps followed by the lower row's: the upper row reads a one-line plate
(the lower row stays blank) and the upper line of a stacked plate, the lower row its lower
line (each row is trained with its own CTC loss, so nothing has to discover which row reads
what; a learned bias per row tells them apart); the reader joins the rows
(:mod:`citywatch.vision.plates.ppocr`).  Classes: blank, the 36 plate symbols, and a
separator (a gap, a dash, an emblem).  336,742 parameters (1.35 MB as float32 ONNX).
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch import nn

from citywatch.vision.plates.ctc import ALPHABET

HEIGHT = 32
STRIDE = 4  # input pixels of width per output step
CLASSES = ["<blank>", *ALPHABET, " "]
ROWS = 2


def encode(label: str) -> list[int]:
    """Class indices of a label (its characters; a space is the separator class)."""
    out = []
    for ch in label:
        if ch == " ":
            out.append(len(CLASSES) - 1)
        else:
            k = ALPHABET.find(ch)
            if k < 0:
                raise ValueError(f"label {label!r}: {ch!r} is not a plate symbol")
            out.append(k + 1)
    return out


def _conv(cin: int, cout: int, k: tuple[int, int] = (3, 3), dil: int = 1) -> nn.Sequential:
    pad = ((k[0] - 1) // 2, dil * (k[1] - 1) // 2)
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, padding=pad, dilation=(1, dil), bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class PlateNet(nn.Module):
    """See the module doc.  ``forward`` returns logits ``[N, 2T, classes]``."""

    def __init__(self, widths: tuple[int, ...] = (32, 48, 80, 80, 128)) -> None:
        super().__init__()
        c1, c2, c3, c4, c5 = widths
        self.body = nn.Sequential(
            _conv(3, c1),
            nn.MaxPool2d(2),  # 16 x W/2
            _conv(c1, c2),
            nn.MaxPool2d(2),  # 8 x W/4
            _conv(c2, c3),
            _conv(c3, c4),
            nn.MaxPool2d((2, 1)),  # 4 x W/4
            _conv(c4, c5),
            nn.MaxPool2d((2, 1)),  # 2 x W/4: the two rows
        )
        self.row = nn.Parameter(torch.zeros(1, c5, ROWS, 1))  # which row this is
        self.mix = _conv(2 * c5, c5, (1, 1))
        self.seq = nn.Sequential(_conv(c5, c5, (1, 3)), _conv(c5, c5, (1, 3), dil=2))
        self.head = nn.Conv2d(c5, len(CLASSES), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.body(x) + self.row  # N, C, 2, T
        other = torch.cat([f[:, :, 1:2], f[:, :, 0:1]], dim=2)  # each row beside the other
        f = self.mix(torch.cat([f, other], dim=1))
        f = f + self.seq(f)
        logits = self.head(f)  # N, K, 2, T
        return logits.flatten(2).transpose(1, 2)  # N, 2T, K: upper row, then lower


class Exported(nn.Module):
    """The network as it ships: probabilities (softmax) instead of logits."""

    def __init__(self, net: PlateNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=2)


def parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


class FoldedPlateNet(PlateNet):
    """A :class:`PlateNet` whose batch norms were folded into its convolutions (the weights of
    an exported file, :func:`from_exported`): each ``BatchNorm2d`` passes its input through
    plus the folded bias, and stays in eval mode when the network trains (batch statistics
    would renormalise what the folded weights already scaled); its scale and shift still
    learn.  Its state has :class:`PlateNet`'s keys, so it exports as one."""

    def train(self, mode: bool = True) -> FoldedPlateNet:
        super().train(mode)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self


def from_exported(path: Path) -> FoldedPlateNet:
    """The network of an exported plate-crnn ONNX file (``citywatch train plates-export``,
    the shipped ``plate_crnn.onnx``), to train further.  A file that is not one is a
    ``ValueError`` naming it."""
    import onnx
    from onnx import numpy_helper

    try:
        proto = onnx.load(str(path))
    except Exception as err:
        raise ValueError(f"{path}: cannot read it as ONNX: {err}") from None
    weights = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    net = FoldedPlateNet()
    convs = [
        block for block in net.modules() if isinstance(block, nn.Sequential) and len(block) == 3
    ]
    nodes = [n for n in proto.graph.node if n.op_type == "Conv" and n.input[1] != "net.head.weight"]
    if len(nodes) != len(convs) or "net.head.weight" not in weights or "net.row" not in weights:
        raise ValueError(
            f"{path}: not a plate-crnn export ({len(nodes)} convolutions besides the head, "
            f"expected {len(convs)})"
        )
    with torch.no_grad():
        for block, node in zip(convs, nodes, strict=True):
            conv, norm = cast(nn.Conv2d, block[0]), cast(nn.BatchNorm2d, block[1])
            w, b = weights[node.input[1]], weights[node.input[2]]
            if tuple(w.shape) != tuple(conv.weight.shape):
                raise ValueError(
                    f"{path}: convolution {node.name} is {w.shape}, not {conv.weight.shape}"
                )
            conv.weight.copy_(torch.from_numpy(np.array(w)))
            norm.weight.fill_(1.0)
            norm.bias.copy_(torch.from_numpy(np.array(b)))
            cast(torch.Tensor, norm.running_mean).zero_()
            cast(torch.Tensor, norm.running_var).fill_(1.0 - norm.eps)
        net.row.copy_(torch.from_numpy(np.array(weights["net.row"])))
        net.head.weight.copy_(torch.from_numpy(np.array(weights["net.head.weight"])))
        head_bias = np.array(weights["net.head.bias"])
        cast(torch.Tensor, net.head.bias).copy_(torch.from_numpy(head_bias))
    return net
