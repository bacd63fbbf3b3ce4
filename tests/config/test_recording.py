"""Issue 17 config: clip seconds default to 5 before and 5 after; continuous recording is off
by default, its keys are checked (unknown ones refused); whether a camera may record is the
register's rule (tests/policy/test_recording.py)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from citywatch.config.camera import CameraConfig
from citywatch.config.recording import RecordingConfig


def test_clip_defaults_and_recording_off() -> None:
    cfg = RecordingConfig()
    assert (cfg.clips.enabled, cfg.clips.before_s, cfg.clips.after_s) == (True, 5.0, 5.0)
    assert CameraConfig(id="cam-1", url="x.mp4").recording.enabled is False


def test_recording_keys_and_defaults() -> None:
    rec = CameraConfig(id="cam-1", url="x.mp4", recording={"enabled": True}).recording
    assert (rec.enabled, rec.retain_hours, rec.segment_s, rec.legal_basis) == (True, None, 60.0, "")
    storage = RecordingConfig().storage
    assert storage.budget_bytes == 100 * 10**9 and storage.warn_fraction == 0.9
    assert storage.max_retain_hours == 31 * 24


@pytest.mark.parametrize(
    "bad",
    [{"enabled": True, "keep": 3}, {"retain_hours": 0}, {"segment_s": 1}, {"segment_s": 601}],
)
def test_bad_recording_settings_are_refused_naming_the_key(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="recording"):
        CameraConfig(id="cam-1", url="x.mp4", recording=bad)


@pytest.mark.parametrize("bad", [{"budget_gb": 0}, {"warn_fraction": 1}, {"disk": 1}])
def test_bad_storage_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        RecordingConfig(storage=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [{"before_s": -1}, {"after_s": 61}, {"buffer_mb": 3}])
def test_bad_clip_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        RecordingConfig(clips=bad)  # type: ignore[arg-type]


def test_a_clip_of_no_seconds_is_refused() -> None:
    with pytest.raises(ValidationError, match="before_s \\+ after_s"):
        RecordingConfig(clips={"before_s": 0, "after_s": 0})  # type: ignore[arg-type]
