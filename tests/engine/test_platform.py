"""The embedded platform on real footage and real models: what is stored, and what never is."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import LargeBinary, func, inspect, select, text

from citywatch.audit.chain import Actor
from citywatch.config.root import parse_config
from citywatch.engine.platform import Platform, make_embed_faces
from citywatch.services.authorisations import create_authorisation
from citywatch.services.enrolment import enrol_subject
from citywatch.services.watchlists import create_watchlist
from citywatch.store.db import make_engine, make_session_factory, upgrade_database
from citywatch.store.models import AlertRow, FaceCountRow, SubjectEmbeddingRow
from citywatch.vision.images import load_image
from tests.conftest import embedded_config

ADMIN = Actor("test-admin", "admin")
REPO = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, cameras: list[dict]) -> object:
    return parse_config(embedded_config(tmp_path, cameras))


def _camera(cam_id: str, url: str, purposes: list[str], **kw: object) -> dict:
    return {
        "id": cam_id,
        "url": url,
        "purposes": purposes,
        "legal_basis": "Test Act s.1",
        "impact_assessment": "DPIA-T-1",
        "approved_on": "2026-01-01",
        "zone": "stage",
        **kw,
    }


def _platform(cfg) -> Platform:
    upgrade_database(cfg.store.database_url)
    sessions = make_session_factory(make_engine(cfg.store.database_url))
    return Platform.create(cfg, sessions, ADMIN)


@pytest.mark.integration
def test_faces_of_people_not_on_the_watchlist_are_never_stored(shared_data, tmp_path):
    ex = shared_data / "faces/watchlist_video/examples"
    cfg = _config(tmp_path, [_camera("stage-1", str(ex / "short_hamilton_clip.mp4"), ["face"])])
    platform = _platform(cfg)
    platform.register_cameras()
    now = dt.datetime.now(dt.UTC)
    with platform.sessions() as s:
        create_authorisation(
            s,
            ADMIN,
            "A-1",
            "Court",
            "test",
            now - dt.timedelta(hours=1),
            now + dt.timedelta(days=1),
            ["stage-1"],
            [],
        )
        create_watchlist(s, ADMIN, "wl", "A-1")
        # someone who is not in the clip
        enrol_subject(
            s,
            platform.media,
            ADMIN,
            "wl",
            "decoy",
            [("biden.jpg", load_image(ex / "biden.jpg"))],
            make_embed_faces(platform.models, cfg),
            "test",
            "test photo",
        )
    engine = platform.build_engine(live=False, pace=False)
    engine.start()
    assert engine.wait(timeout=300)
    platform.dispatcher.close()

    with platform.sessions() as s:
        assert s.scalar(select(func.count()).select_from(AlertRow)) == 0
        analysed = s.scalar(select(func.sum(FaceCountRow.tracks))) or 0
        assert analysed >= 2  # the people on stage were analysed (counted) ...
        enrolled = s.scalars(select(SubjectEmbeddingRow.embedding)).all()
        assert len(enrolled) == 1  # ... and only the enrolled subject's embedding exists
        # no other binary value anywhere in the database
        for table in inspect(s.get_bind()).get_table_names():
            cols = [c for c in inspect(s.get_bind()).get_columns(table)]
            for col in cols:
                if isinstance(col["type"], LargeBinary):
                    query = text(f'SELECT "{col["name"]}" FROM "{table}"')  # noqa: S608 (names from the schema)
                    values = s.execute(query).scalars()
                    assert all(v in enrolled for v in values if v is not None), table
    files = [p for p in (tmp_path / "media").rglob("*") if p.is_file()]
    assert len(files) == 1 and "subject" in str(files[0])  # the enrolment photo, nothing else


@pytest.mark.integration
def test_an_unreachable_camera_does_not_stop_the_others(shared_data, tmp_path, caplog):
    clip = shared_data / "plates/video_nl/clips/Video10_2.avi"
    cfg = _config(
        tmp_path,
        [
            _camera("dead-1", "rtsp://admin:topsecret@127.0.0.1:9/none", ["plate"]),
            _camera("nobasis-1", str(clip), ["plate"], legal_basis=""),
            _camera("lot-1", str(clip), ["plate"]),
        ],
    )
    platform = _platform(cfg)
    starts = {s.camera.id: s for s in platform.register_cameras()}
    assert "nobasis-1" in starts["nobasis-1"].error and "legal" in starts["nobasis-1"].error
    engine = platform.build_engine(pace=False)
    assert sorted(r.worker.camera_id for r in engine.runs) == ["dead-1", "lot-1"]
    engine.start()
    lot = next(r for r in engine.runs if r.worker.camera_id == "lot-1")
    dead = next(r for r in engine.runs if r.worker.camera_id == "dead-1")
    for _ in range(600):
        if lot.health().state.value == "ended" and dead.health().reconnects >= 1:
            break
        engine.wait(timeout=0.1)
    engine.stop(timeout=15)
    platform.dispatcher.close()
    assert lot.worker.stats.analysed > 10
    h = dead.health()
    assert h.reconnects >= 1 and h.last_error
    assert "topsecret" not in h.last_error and "topsecret" not in caplog.text
    health = (tmp_path / "health" / "dead-1.json").read_text()
    assert "topsecret" not in health and "reconnects" in health


def test_housekeeping_runs_the_retention_and_lifecycle_sweeps(tmp_path):
    cfg = _config(tmp_path, [])
    platform = _platform(cfg)
    ran: list[str] = []
    scheduler = platform.start_housekeeping()
    try:
        scheduler._jobs = (*scheduler._jobs, lambda: ran.append("job"))
        report = scheduler.run_once()
        assert report is not None and scheduler.last_error is None
        assert ran == ["job"]  # the lifecycle sweep ran before it without raising
    finally:
        scheduler.stop(timeout=5)
    with platform.sessions() as s:
        from citywatch.store.models import AuditLogRow

        actions = set(s.scalars(select(AuditLogRow.action)).all())
    assert any(a.startswith("retention.") for a in actions), actions
