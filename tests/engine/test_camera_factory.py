"""build_camera_worker: one camera's worker, built alike for the local engine and Ray actors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from citywatch.audit.chain import Actor
from citywatch.config.root import parse_config
from citywatch.engine.assemble import Models
from citywatch.engine.camera import build_camera_worker
from citywatch.engine.platform import Platform
from citywatch.engine.runtime import ReloadingHotlist
from citywatch.store.db import make_engine, make_session_factory, upgrade_database
from citywatch.store.media import MediaStore
from tests.conftest import embedded_config

REPO = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def setup(tmp_path: Path, shared_data: Path):  # type: ignore[no-untyped-def]
    clip = sorted((shared_data / "plates/video_nl/clips").iterdir())[0]
    cam = {
        "id": "gate",
        "url": str(clip),
        "purposes": ["plate"],
        "legal_basis": "Test Act s.1",
        "impact_assessment": "DPIA-T-1",
        "approved_on": "2026-01-01",
        "zone": "stage",
    }
    raw = embedded_config(tmp_path, [cam])
    raw["alerts"]["repeat_window_s"] = 7
    raw["alerts"]["group_window_s"] = 300
    raw["alerts"]["plate_min_confidence"] = 0.7
    cfg = parse_config(raw)
    upgrade_database(cfg.store.database_url)
    sessions = make_session_factory(make_engine(cfg.store.database_url))
    Platform.create(cfg, sessions, Actor("test-admin", "admin")).register_cameras()
    return cfg, sessions


@pytest.mark.integration
@pytest.mark.parametrize(
    ("run_id", "replayable", "want_run_id"),
    [
        (None, False, ""),  # a file: no run id by default (a re-run is the same footage)
        ("run-42", True, "run-42"),  # what a Ray actor passes
    ],
)
def test_worker_from_config_and_policy(  # type: ignore[no-untyped-def]
    setup, run_id: str | None, replayable: bool, want_run_id: str
) -> None:
    cfg, sessions = setup
    published: list[object] = []
    parts = build_camera_worker(
        cfg.cameras[0],
        cfg,
        Models(cfg),
        sessions,
        MediaStore(cfg.store.media_dir),
        ReloadingHotlist(sessions, cfg),
        published.append,
        now=NOW,
        run_id=run_id,
        replayable=replayable,
    )
    # policy: registered for plates, no face authorisation
    assert (parts.permissions.plates, parts.permissions.faces) == (True, False)
    assert parts.worker.camera_id == "gate" and not parts.source.is_live
    # the config's repeat window reaches the recorder, wherever the worker runs
    assert parts.recorder.repeat_window_s == 7
    assert (parts.recorder.group_window_s, parts.recorder.plate_min_confidence) == (300, 0.7)
    assert (parts.recorder.run_id, parts.recorder.replayable) == (want_run_id, replayable)
