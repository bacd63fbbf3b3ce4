"""Evidence clips and continuous recording (issue 17).

``recording.clips`` at the top of the file holds the clips' seconds before and after and the
packet buffer's bounds; ``recording.storage`` the node's budget for continuous recording.
``cameras[].recording`` says whether a camera records and for how long: off by default, and
enabling it needs the register entry to say so (its own legal-basis reference and a retention
period; :func:`citywatch.policy.recording.recording_problems` is the rule, applied when the
camera is registered at start).
"""

from __future__ import annotations

from pydantic import Field, model_validator

from citywatch.config.base import Strict

#: The longest retention a recording may be registered with, unless the node allows longer.
DEFAULT_MAX_RETAIN_HOURS = 31 * 24.0


class CameraRecording(Strict):
    """Continuous recording of one camera: off unless the register entry says so."""

    enabled: bool = Field(default=False, description="Record this camera continuously")
    legal_basis: str = Field(
        default="",
        max_length=500,
        description="Legal-basis reference that allows continuous recording of this camera "
        "(the analysis basis does not cover it); required when enabled, published",
    )
    retain_hours: float | None = Field(
        default=None,
        gt=0,
        le=24 * 366,
        description="Hours a recorded segment is kept before retention deletes it; required "
        "when enabled (the register says how long), published",
    )
    segment_s: float = Field(
        default=60.0, ge=5, le=600, description="Seconds per segment file (fragmented MP4)"
    )


class StorageConfig(Strict):
    """What continuous recording may use of this node's media folder."""

    budget_gb: float = Field(
        default=100.0,
        gt=0,
        le=1_000_000,
        description="Most gigabytes (10^9 bytes) the node's recording segments may take; the "
        "oldest segments are deleted to stay under it",
    )
    warn_fraction: float = Field(
        default=0.9,
        gt=0,
        lt=1,
        description="Health warns once the segments take this share of the budget",
    )
    max_retain_hours: float = Field(
        default=DEFAULT_MAX_RETAIN_HOURS,
        gt=0,
        le=24 * 366,
        description="Longest retain_hours a camera may register (31 days unless raised)",
    )
    check_every_s: float = Field(
        default=60.0, ge=1, le=3600, description="How often the budget is checked"
    )

    @property
    def budget_bytes(self) -> int:
        return int(self.budget_gb * 1e9)


class ClipConfig(Strict):
    """Evidence clips of alerts, cut from the camera's packet buffer."""

    enabled: bool = Field(default=True, description="Keep a clip with every alert")
    before_s: float = Field(
        default=5.0, ge=0, le=60, description="Seconds before the first sighting"
    )
    after_s: float = Field(default=5.0, ge=0, le=60, description="Seconds after the decision")
    buffer_max_mb: float = Field(
        default=64.0,
        gt=0,
        le=4096,
        description="Most memory a camera's packet buffer holds (older pictures go first)",
    )
    wait_s: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="Wall seconds a clip waits for its last seconds before it is cut short",
    )


class RecordingConfig(Strict):
    clips: ClipConfig = Field(default_factory=ClipConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)

    @model_validator(mode="after")
    def _buffer_holds_a_clip(self) -> RecordingConfig:
        if self.clips.before_s + self.clips.after_s <= 0 and self.clips.enabled:
            raise ValueError("recording.clips: before_s + after_s must be more than 0")
        return self
