"""Evidence clips and continuous recording (issue 17).

``recording`` at the top of the file holds what is the same for every camera of a node (the
clips' seconds before and after, the packet buffer's bounds, the recordings folder and its
storage budget); ``cameras[].recording`` says whether one camera records and for how long.
Recording needs the camera's register entry to say so: it is copied into the register and
the public register publishes it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from citywatch.config.base import Strict


class CameraRecording(Strict):
    """Continuous recording of one camera: off unless the register entry says so."""

    enabled: bool = Field(default=False, description="Record this camera continuously")
    retain_hours: float = Field(
        default=72.0,
        gt=0,
        le=24 * 366,
        description="Hours a recorded segment is kept before the retention job deletes it",
    )


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
    folder: Path | None = Field(
        default=None,
        description="Where continuous recordings go (default: 'recordings' beside the media "
        "folder); relative to the config file",
    )
    segment_s: float = Field(default=60.0, ge=5, le=3600, description="Seconds per segment")
    budget_gb: float = Field(
        default=100.0, gt=0, description="Most disk the recordings of this node may take"
    )
    warn_fraction: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Health warns once recordings take this share of the budget",
    )

    @model_validator(mode="after")
    def _buffer_holds_a_clip(self) -> RecordingConfig:
        if self.clips.before_s + self.clips.after_s <= 0 and self.clips.enabled:
            raise ValueError("recording.clips: before_s + after_s must be more than 0")
        return self
