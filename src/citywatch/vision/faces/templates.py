"""Landmark templates: where the five points of a face sit in an aligned crop.

Two conventions meet here.  Our landmarks are always **dlib's 5 points** (outer and inner
corner of the eye at larger x, the same for the other eye, the base of the nose), as dlib's
shape predictor gives them.  ArcFace-style models are trained on 112x112 crops aligned so that
**their** five points (eye centres, nose tip, mouth corners: :data:`ARCFACE_112`) land on fixed
pixels.

:data:`DLIB5_IN_ARCFACE_112` places dlib's mean-face template (``chips.TEMPLATE_5``) into the
ArcFace crop by the similarity that puts its eye centres on ArcFace's eye centres; both are
published constants, nothing is fitted to data.  On the 720 aligned crops of the identity set
these points lie within 1.5 px of the median of dlib's own predictions.  With it:

* an ArcFace embedder aligns faces from our dlib-order landmarks (:func:`align_arcface`),
* a detector that gives ArcFace-order points converts them to dlib order at the edge
  (:func:`arcface_to_dlib5`),
* an aligned 112x112 crop needs no detector at all: its dlib points are the template.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from citywatch.vision.faces.chips import TEMPLATE_5, similarity_transform
from citywatch.vision.record import FloatArray, ImageBGR

F64 = npt.NDArray[np.float64]

ARCFACE_SIZE = 112


def _frozen(a: npt.ArrayLike) -> F64:
    arr = np.array(a, np.float64)
    arr.setflags(write=False)
    return arr


#: insightface's ``arcface_dst``: left eye, right eye (image left/right), nose tip, mouth
#: corners, in 112x112 crop pixels.
ARCFACE_112 = _frozen(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ]
)


def _dlib5_in_arcface() -> F64:
    t = TEMPLATE_5
    src = np.array([t[2:4].mean(axis=0), t[0:2].mean(axis=0)])  # eye centres, image left first
    dst = ARCFACE_112[:2]
    vs, vd = src[1] - src[0], dst[1] - dst[0]
    scale = math.hypot(*vd) / math.hypot(*vs)
    angle = math.atan2(vd[1], vd[0]) - math.atan2(vs[1], vs[0])
    c, s = scale * math.cos(angle), scale * math.sin(angle)
    m = np.array([[c, -s], [s, c]])
    return _frozen(t @ m.T + (dst[0] - m @ src[0]))


#: dlib's 5 points in ArcFace's 112x112 crop (see the module docstring).
DLIB5_IN_ARCFACE_112 = _dlib5_in_arcface()


def _check_points(where: str, points: FloatArray) -> npt.NDArray[np.float64]:
    p = np.asarray(points, np.float64)
    if p.ndim != 3 or p.shape[1:] != (5, 2):
        raise ValueError(f"{where}: expected landmarks (N, 5, 2), got {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError(f"{where}: landmarks contain NaN or infinity")
    return p


def arcface_to_dlib5(points: FloatArray) -> FloatArray:
    """(N, 5, 2) ArcFace-order points -> (N, 5, 2) dlib-order points: the similarity that
    best maps :data:`ARCFACE_112` onto each face, applied to :data:`DLIB5_IN_ARCFACE_112`."""
    p = _check_points("arcface_to_dlib5", points)
    out = np.empty_like(p)
    for i, pts in enumerate(p):
        m, t = similarity_transform(np.asarray(ARCFACE_112), pts)
        out[i] = DLIB5_IN_ARCFACE_112 @ m.T + t
    return out.astype(np.float32)


def arcface_matrices(landmarks_dlib5: FloatArray) -> npt.NDArray[np.float64]:
    """(N, 2, 3) affine matrices taking image pixels into the 112x112 ArcFace crop."""
    p = _check_points("arcface_matrices", landmarks_dlib5)
    out = np.empty((len(p), 2, 3), np.float64)
    for i, pts in enumerate(p):
        m, t = similarity_transform(pts, np.asarray(DLIB5_IN_ARCFACE_112))
        out[i, :, :2], out[i, :, 2] = m, t
    return out


def align_arcface(image: ImageBGR, landmarks_dlib5: FloatArray) -> npt.NDArray[np.uint8]:
    """(N, 112, 112, 3) uint8 **RGB** crops in ArcFace alignment (black outside the image)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"align_arcface: expected an HxWx3 uint8 BGR image, got shape {image.shape} "
            f"dtype {image.dtype}"
        )
    mats = arcface_matrices(landmarks_dlib5)
    out = np.empty((len(mats), ARCFACE_SIZE, ARCFACE_SIZE, 3), np.uint8)
    rgb = np.ascontiguousarray(image[:, :, ::-1])
    for i, m in enumerate(mats):
        out[i] = cv2.warpAffine(
            rgb, m, (ARCFACE_SIZE, ARCFACE_SIZE), flags=cv2.INTER_LINEAR, borderValue=0
        )
    return out
