"""A camera as the config describes it.  Registration rules (legal basis, purposes) are checked
again in the service layer by :mod:`citywatch.policy.register`; here only the shape."""

from __future__ import annotations

import datetime as dt
import math
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator

from citywatch.config.base import Strict
from citywatch.config.recording import CameraRecording


class Purpose(StrEnum):
    FACE = "face"
    PLATE = "plate"


class Location(Strict):
    lat: float = Field(ge=-90, le=90, description="WGS84 latitude")
    lon: float = Field(ge=-180, le=180, description="WGS84 longitude")


#: A coordinate normalised to the frame: 0 is the left (top) edge, 1 the right (bottom) edge.
Unit = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
MAX_MASKS = 32
MAX_MASK_POINTS = 64


class PrivacyMask(Strict):
    """A region of the picture that is never analysed or stored: the window of a home, the
    entrance of a clinic or a place of worship.  Its pixels are blacked out on every frame
    before the motion gate and the detectors see it, so nothing can be detected there and no
    snapshot or live picture shows it."""

    reason: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"\S",
        description="Why this region is masked (e.g. 'windows of homes, Main St 3-7')",
    )
    points: list[tuple[Unit, Unit]] = Field(
        min_length=3,
        max_length=MAX_MASK_POINTS,
        description="Polygon corners as [x, y] in 0..1 of the frame width and height",
    )

    @field_validator("points")
    @classmethod
    def _has_area(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if polygon_area(v) <= 1e-9:
            raise ValueError("the polygon has no area (its points lie on one line)")
        return v


def polygon_area(points: list[tuple[float, float]]) -> float:
    """Area of a simple polygon (shoelace formula), in the units of its coordinates."""
    twice = sum(
        x1 * y2 - x2 * y1
        for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1], strict=True)
    )
    return abs(twice) / 2.0 if math.isfinite(twice) else 0.0


class CameraConfig(Strict):
    id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="Stable id (lower case, digits, -_)"
    )
    name: str = Field(default="", max_length=200)
    url: SecretStr = Field(
        description="rtsp://, http(s):// or a file path. May hold ${ENV_VAR} references for "
        "credentials; never printed."
    )
    detect_url: SecretStr | None = Field(
        default=None,
        description="The camera's substream (e.g. 640x360), analysed instead of `url`, which "
        "then serves the evidence only (snapshots, clips, recording): demuxed while the camera "
        "runs, a picture decoded only for a stored snapshot. Same forms as `url`; never printed. "
        "Unset: `url` is analysed and is the evidence (one stream).",
    )
    loop: bool = Field(default=False, description="Loop a file source (demo, tests)")
    analyse_fps: float = Field(default=5.0, gt=0, le=60, description="Frames analysed per second")
    keyframes_only: bool = Field(default=False, description="Decode keyframes only (low power)")
    hwdecode: Literal["auto", "off", "cuda", "vaapi", "qsv"] = Field(
        default="auto",
        description="Decode on the machine's video hardware: 'auto' takes the first of cuda "
        "(NVDEC), vaapi and qsv whose device opens, software when none does; a kind names the "
        "only one tried; 'off' always decodes in software. The choice and why are in the "
        "camera's health (sources/hwdecode.py)",
    )
    hwdecode_device: str = Field(
        default="",
        max_length=200,
        pattern=r"^[A-Za-z0-9_./-]*$",
        description="The hardware decoder's device: a CUDA device number ('1') or a DRI "
        "render node ('/dev/dri/renderD129'); empty: the default device",
    )
    max_lag_s: float | None = Field(
        default=None,
        ge=0,
        le=3600,
        description="A network stream's frames that arrive this many seconds behind it are "
        "skipped until analysis has caught up, so alerts stay live (unset: two analysis "
        "intervals, at least 0.5 s; 0: never skip, for a recorder's replay that must be "
        "analysed in full however late)",
    )
    still_decode: Literal["auto", "off"] = Field(
        default="auto",
        description="While the motion gate sees nothing for still_after_s, decode keyframes "
        "only (keyframes at most still_max_gop_s apart) or reference pictures only, back to "
        "every picture at the first motion; 'off': always decode every picture analysed",
    )
    still_after_s: float = Field(
        default=2.0, gt=0, le=3600, description="Seconds without motion before the decoder rests"
    )
    still_max_gop_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="Longest keyframe interval for keyframes-only decoding of a still scene: "
        "motion is seen at most this much later",
    )
    no_frame_timeout_s: float = Field(
        default=20.0,
        gt=0,
        le=3600,
        description="A live stream that yields no decodable frame for this many seconds (data "
        "may still arrive) is unhealthy and reconnected",
    )
    purposes: list[Purpose] = Field(default_factory=list, description="What may be analysed")
    location: Location | None = None
    zone: str = Field(default="", max_length=200)
    withhold_location: str = Field(
        default="", description="Reason for publishing the zone instead of the exact location"
    )
    legal_basis: str = Field(default="", max_length=500, description="Legal-basis reference")
    impact_assessment: str = Field(
        default="", max_length=500, description="Impact-assessment (DPIA) reference"
    )
    approved_on: dt.date | None = Field(default=None, description="Date the camera was approved")
    operator: str = Field(default="", max_length=200, description="Who runs the camera")
    privacy_masks: list[PrivacyMask] = Field(
        default_factory=list,
        max_length=MAX_MASKS,
        description="Regions never analysed or stored (blacked out before any analysis)",
    )
    recording: CameraRecording = Field(
        default_factory=CameraRecording,
        description="Continuous recording (off by default; needs the register entry)",
    )

    @field_validator("detect_url")
    @classmethod
    def _not_blank(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value().strip():
            raise ValueError("detect_url is empty (leave it out for a one-stream camera)")
        return v

    @field_validator("purposes")
    @classmethod
    def _unique(cls, v: list[Purpose]) -> list[Purpose]:
        return sorted(set(v))
