"""Box geometry shared by the detectors and trackers (xyxy float32, full-frame pixels)."""

from __future__ import annotations

import numpy as np

from citywatch.vision.record import FloatArray


def box_iou(a: FloatArray, b: FloatArray) -> FloatArray:
    """Pairwise IoU of xyxy boxes, shape (len(a), len(b))."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


def nms(xyxy: FloatArray, score: FloatArray, iou: float = 0.4) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best score first."""
    order = np.argsort(-score, kind="stable")
    keep: list[int] = []
    while len(order):
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        if len(rest) == 0:
            break
        order = rest[box_iou(xyxy[i : i + 1], xyxy[rest])[0] < iou]
    return np.asarray(keep, np.int64)


def union_box(a: FloatArray, b: FloatArray) -> FloatArray:
    """The smallest xyxy box holding boxes ``a`` and ``b`` (in their dtype)."""
    return np.array(
        [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])],
        np.result_type(a, b),
    )


def merge_boxes(boxes: FloatArray) -> FloatArray:
    """Merge overlapping xyxy boxes until none overlap (few boxes: quadratic is fine)."""
    out = [b.copy() for b in boxes]
    merged = True
    while merged:
        merged = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                a, b = out[i], out[j]
                if a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]:
                    out[i] = union_box(a, b).astype(np.float32)
                    del out[j]
                    merged = True
                    break
            if merged:
                break
    return np.asarray(out, np.float32).reshape(-1, 4)
