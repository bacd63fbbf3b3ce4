"""Scans of stored footage under a case search every moving frame: the live cameras' idle
search (``idle_search_every``, vision/cadence.py) trades a little delay for CPU, which a scan
run for an investigation does not."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from citywatch.config.camera import CameraConfig
from citywatch.config.root import CitywatchConfig
from citywatch.engine import recorded_scan, scan
from citywatch.engine.assemble import Models
from citywatch.engine.recorded_scan import RecordedScan, SegmentPlan
from citywatch.engine.scan import ScanReport
from citywatch.services.recordings import Segment

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


class Built(Exception):
    """Raised by the stand-in build_pipeline once it has seen its arguments."""


def _spy(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    def build(*args: Any, **kwargs: Any) -> None:
        seen.append(kwargs)
        raise Built

    monkeypatch.setattr(module, "build_pipeline", build)
    return seen


def _config() -> CitywatchConfig:
    return CitywatchConfig.model_validate(
        {"faces": {"idle_search_every": 3}, "plates": {"idle_search_every": 2}}
    )


def test_a_scan_of_videos_searches_every_moving_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _spy(monkeypatch, scan)
    cfg = _config()
    with pytest.raises(Built):
        scan.scan_videos([Path("clip.mp4")], None, None, cfg, Models(cfg), ScanReport())
    assert seen == [{"idle_search": False}]


def test_a_scan_of_recordings_searches_every_moving_frame(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen = _spy(monkeypatch, recorded_scan)
    cfg = _config()
    seg = Segment(1, "cam-1", T0, None, "cam-1/a.mp4", 10, None, True)
    plan = SegmentPlan(seg, tmp_path / "a.mp4", False, True, (), None, ())
    cam = CameraConfig.model_validate({"id": "cam-1", "url": "x.mp4"})
    job = RecordedScan(cam, T0, T0 + dt.timedelta(minutes=1), "CASE-1", [plan], None)
    with pytest.raises(Built):
        recorded_scan.run_scan(job, cfg, Models(cfg), ScanReport())
    assert seen == [{"idle_search": False}]
