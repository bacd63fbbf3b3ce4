"""Evidence clips and continuous recording (issue 17).

``recording.clips`` at the top of the file holds the clips' seconds before and after and the
packet buffer's bounds.  ``cameras[].recording`` is the place of continuous recording (whether
a camera records and for how long); it is not built yet, so ``enabled: true`` is refused.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

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

    @field_validator("enabled")
    @classmethod
    def _not_yet(cls, v: bool) -> bool:
        if v:
            raise ValueError(
                "continuous recording is not available in this version (evidence clips of "
                "alerts are: recording.clips)"
            )
        return v


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

    @model_validator(mode="after")
    def _buffer_holds_a_clip(self) -> RecordingConfig:
        if self.clips.before_s + self.clips.after_s <= 0 and self.clips.enabled:
            raise ValueError("recording.clips: before_s + after_s must be more than 0")
        return self
