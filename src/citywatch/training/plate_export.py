"""Exporting a trained plate recogniser to ONNX as it ships.

:func:`export_onnx` writes a :mod:`~citywatch.training.plate_train` checkpoint as the reader
loads it: plate-crnn as its own graph (probabilities, the character list and ``rows`` in its
metadata), a fine-tuned PP-OCR into the original model's graph (:func:`~citywatch.training.
plate_ppocr.export_ppocr`), optionally averaged with the original weights (:func:`blend_weights`,
WiSE-FT), cut to the plate classes, and stored in float16 where that reads as float32 does.
Each export is checked: onnxruntime must read as torch does.  Needs ``torch``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from citywatch.training.plate_model import HEIGHT, ROWS, Exported, PlateNet
from citywatch.training.plate_train import (
    PPOCR_INITS,
    TrainingError,
    data_note,
    load_checkpoint,
)
from citywatch.vision.plates.ctc import ALPHABET


def export_onnx(
    checkpoint: Path,
    onnx_path: Path,
    *,
    note: str = "",
    plate_classes: bool = False,
    blend: float = 1.0,
    half: bool = True,
) -> Path:
    """The checkpoint's model as ONNX (input ``x`` ``[N, 3, 32, W]``, output ``probs``
    ``[N, 2*W/4, 38]``), its character list and ``rows`` in the metadata; checked against
    torch on a random input.  ``plate_classes`` (fine-tuned PP-OCR only): keep only the classes a
    plate reader uses.  ``blend`` (fine-tuned PP-OCR only): the share of the fine-tuned weights
    in a weight average with the model it was fine-tuned from (WiSE-FT; 1 = the fine-tuned
    weights alone).  ``half`` (fine-tuned PP-OCR only): weights stored as float16, refused
    where that reads beyond tolerance of float32 (``False``: float32)."""
    import onnx
    import onnxruntime as ort

    if not 0.0 < blend <= 1.0:
        raise TrainingError(f"blend {blend}: expected more than 0 and at most 1")
    state = load_checkpoint(checkpoint)
    if state["settings"].get("init", "scratch") in PPOCR_INITS:
        return _export_ppocr(
            state, onnx_path, note, plate_classes=plate_classes, blend=blend, half=half
        )
    if blend != 1.0:
        raise TrainingError(
            f"{checkpoint}: a blend with the original weights is for a fine-tuned PP-OCR; "
            "this plate-crnn checkpoint was trained from scratch"
        )
    if plate_classes:
        raise TrainingError(
            f"{checkpoint}: keeping only the plate classes is for a fine-tuned PP-OCR; this "
            "plate-crnn checkpoint has no other classes"
        )
    net = PlateNet()
    net.load_state_dict(state["model"])
    model = Exported(net).eval()
    x = torch.randn(2, 3, HEIGHT, 168)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = onnx_path.with_suffix(".tmp.onnx")
    torch.onnx.export(
        model,
        (x,),
        str(tmp),
        dynamo=False,
        opset_version=17,
        input_names=["x"],
        output_names=["probs"],
        dynamic_axes={"x": {0: "n", 3: "w"}, "probs": {0: "n", 1: "t"}},
    )
    proto = onnx.load(str(tmp))
    meta = {
        "character": "\n".join(ALPHABET),
        "rows": str(ROWS),
        "citywatch_model": "plate-crnn",
        "trained_steps": str(state["step"]),
        "training": json.dumps(state["settings"]),
        "data": data_note(state["settings"])
        + (
            "; fine-tuned from the shipped plate-crnn"
            if state["settings"].get("init") == "plate-crnn"
            else ""
        ),
        "note": note,
    }
    del proto.metadata_props[:]
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(proto, str(tmp))
    sess = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"x": x.numpy()})[0]
    with torch.no_grad():
        want = model(x).numpy()
    if got.shape != want.shape or float(np.abs(got - want).max()) > 1e-4:
        raise TrainingError(f"{tmp}: onnxruntime disagrees with torch ({got.shape}, {want.shape})")
    os.replace(tmp, onnx_path)
    return onnx_path


def blend_weights(
    original: dict[str, torch.Tensor], tuned: dict[str, torch.Tensor], share: float
) -> dict[str, torch.Tensor]:
    """``share`` of the fine-tuned weights plus ``1 - share`` of the original ones, tensor by
    tensor (WiSE-FT, Wortsman et al. 2022: the average keeps much of what the original model
    read well outside the fine-tuning data); integer tensors (counters) are the tuned ones."""
    if set(original) != set(tuned):
        raise TrainingError("blend: the checkpoint and the original model have other weights")
    out = {}
    for k, t in tuned.items():
        o = original[k]
        if o.shape != t.shape:
            raise TrainingError(
                f"blend: weight {k} is {tuple(t.shape)}, originally {tuple(o.shape)}"
            )
        out[k] = (1.0 - share) * o + share * t if t.is_floating_point() else t
    return out


def _export_ppocr(
    state: dict[str, Any],
    onnx_path: Path,
    note: str,
    *,
    plate_classes: bool = False,
    blend: float = 1.0,
    half: bool = True,
) -> Path:
    """A fine-tuned PP-OCR checkpoint as ONNX: the original graph with the trained weights
    (averaged with the original ones by ``blend``)."""
    from citywatch.training.plate_ppocr import PpocrError, export_ppocr, load_ppocr, source_of

    init = state["settings"]["init"]
    try:
        source = source_of(init)
        height, col_step = state["settings"].get("height"), state["settings"].get("col_step")
        net, _ = load_ppocr(source, height, col_step)
        original = {k: v.detach().clone() for k, v in net.state_dict().items()}
        net.load_state_dict(blend_weights(original, state["model"], blend))
        meta = {
            "citywatch_model": "plate-ppocr" if init == "ppocr" else "plate-ppocrv6",
            "trained_steps": str(state["step"]),
            "blend": str(blend),
            "training": json.dumps(state["settings"]),
            "data": f"{_base_note(source, init)} fine-tuned"
            + ("" if height is None else f" at input height {height}")
            + ("" if col_step is None else f", a step every {col_step} columns")
            + f" on {data_note(state['settings'])}",
            "note": note,
        }
        return export_ppocr(
            net,
            onnx_path,
            meta,
            source=source,
            plate_classes=plate_classes,
            height=height,
            col_step=col_step,
            half=half,
        )
    except PpocrError as err:
        raise TrainingError(str(err)) from None


def _base_note(source: Path | None, init: str) -> str:
    """What a PP-OCR fine-tune started from, for its ``data`` metadata: the original model, or
    the shipped ``ppocrv6-plates`` with what it learned from (its own ``data``)."""
    if init == "ppocr":
        return "PP-OCRv4 recogniser (Apache-2.0, PaddleOCR)"
    if init == "ppocrv6":
        return "PP-OCRv6 small recogniser (Apache-2.0, PaddleOCR)"
    import onnx

    before = ""
    if source is not None:
        model = onnx.load(str(source), load_external_data=False)
        before = {p.key: p.value for p in model.metadata_props}.get("data", "")
    return f"citywatch's ppocrv6-plates ({before or 'see docs/models.md'}),"
