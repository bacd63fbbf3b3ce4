"""engine/camera.py: a camera records only when its entry allows it, and what an earlier run
left half-written is dealt with before it records again."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from citywatch.config.root import CitywatchConfig, parse_config
from citywatch.engine.camera import segment_recorder
from citywatch.services import recordings as rec
from citywatch.store.media import MediaStore
from tests.recording.helpers import T0
from tests.services.helpers import add_camera

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)


def _config(tmp_path: Path, **recording: Any) -> CitywatchConfig:
    cam: dict[str, Any] = {
        "id": "cam-1",
        "url": "rtsp://10.0.0.9/s",
        "purposes": ["plate"],
        "legal_basis": "Act 12",
        "impact_assessment": "DPIA-7",
        "approved_on": "2025-01-01",
        "recording": recording,
    }
    return parse_config({"store": {"media_dir": str(tmp_path / "media")}, "cameras": [cam]})


def test_off_by_default_and_refused_without_the_entry(
    session_factory: sessionmaker[Session], media: MediaStore, tmp_path: Path
) -> None:
    cfg = _config(tmp_path)
    assert segment_recorder(cfg.cameras[0], cfg, session_factory, media, NOW) is None
    cfg = _config(tmp_path, enabled=True, retain_hours=24)
    with pytest.raises(ValueError, match=r"recording\.legal_basis"):
        segment_recorder(cfg.cameras[0], cfg, session_factory, media, NOW)


def test_enabled_recovers_partials_first(
    session_factory: sessionmaker[Session], media: MediaStore, tmp_path: Path
) -> None:
    with session_factory() as s:
        add_camera(s, "cam-1")
        rec.add_segment(s, "cam-1", T0, rec.segment_path("cam-1", T0))  # no file: discarded
    cfg = _config(tmp_path, enabled=True, retain_hours=24, legal_basis="Bylaw 4", segment_s=30)
    recorder = segment_recorder(cfg.cameras[0], cfg, session_factory, media, NOW)
    assert recorder is not None and recorder.segment_s == 30
    with session_factory() as s:
        assert rec.incomplete_segments(s) == []


def test_cameras_status_names_a_failed_recording() -> None:
    from citywatch.cli.health_view import error_text

    record = {"source": {}, "worker": {"recording_error": "media folder: EROFS", "lag_s": 0}}
    assert error_text(record, 0.0) == "recording: media folder: EROFS"
