"""Issue 17 config: clip seconds default to 5 before and 5 after; continuous recording is off
by default and refused while it is not built (a config cannot claim a camera records)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from citywatch.config.camera import CameraConfig
from citywatch.config.recording import RecordingConfig


def test_clip_defaults_and_recording_off() -> None:
    cfg = RecordingConfig()
    assert (cfg.clips.enabled, cfg.clips.before_s, cfg.clips.after_s) == (True, 5.0, 5.0)
    assert CameraConfig(id="cam-1", url="x.mp4").recording.enabled is False


def test_recording_enabled_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError, match=r"recording\.enabled") as err:
        CameraConfig(id="cam-1", url="x.mp4", recording={"enabled": True})
    assert "not available in this version" in str(err.value)


@pytest.mark.parametrize("bad", [{"before_s": -1}, {"after_s": 61}, {"buffer_mb": 3}])
def test_bad_clip_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        RecordingConfig(clips=bad)  # type: ignore[arg-type]


def test_a_clip_of_no_seconds_is_refused() -> None:
    with pytest.raises(ValidationError, match="before_s \\+ after_s"):
        RecordingConfig(clips={"before_s": 0, "after_s": 0})  # type: ignore[arg-type]
