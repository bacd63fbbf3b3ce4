"""A camera as the config describes it.  Registration rules (legal basis, purposes) are checked
again in the service layer by :mod:`citywatch.policy.register`; here only the shape."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import Field, SecretStr, field_validator

from citywatch.config.base import Strict


class Purpose(StrEnum):
    FACE = "face"
    PLATE = "plate"


class Location(Strict):
    lat: float = Field(ge=-90, le=90, description="WGS84 latitude")
    lon: float = Field(ge=-180, le=180, description="WGS84 longitude")


class CameraConfig(Strict):
    id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="Stable id (lower case, digits, -_)"
    )
    name: str = Field(default="", max_length=200)
    url: SecretStr = Field(
        description="rtsp://, http(s):// or a file path. May hold ${ENV_VAR} references for "
        "credentials; never printed."
    )
    loop: bool = Field(default=False, description="Loop a file source (demo, tests)")
    analyse_fps: float = Field(default=5.0, gt=0, le=60, description="Frames analysed per second")
    keyframes_only: bool = Field(default=False, description="Decode keyframes only (low power)")
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

    @field_validator("purposes")
    @classmethod
    def _unique(cls, v: list[Purpose]) -> list[Purpose]:
        return sorted(set(v))
