"""`citywatch scan --camera --from --to --case` on the real CLI app with the real models: the
demo footage recorded as three segments of one camera; the face is found only in the segment
recorded while the authorisation was live, the hotlisted plate in its own segment; each alert
carries its wall-clock time; the start and finish are audited with the case."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from citywatch.audit.chain import Actor
from citywatch.cli.main import app
from citywatch.config.root import load_config
from citywatch.demo.footage import make_demo_videos
from citywatch.demo.scenario import DEMO_ZONE, enrol_demo_lists
from citywatch.engine.assemble import Models
from citywatch.services.recordings import add_segment, finish_segment, segment_path
from citywatch.store.db import make_engine, make_session_factory, upgrade_database
from citywatch.store.media import MediaStore
from citywatch.store.models import AuditLogRow
from tests.services.helpers import add_camera

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
BEFORE = NOW - dt.timedelta(minutes=10)  # the demo authorisation starts 5 minutes before NOW


def _record(session: Any, media: MediaStore, video: Path, at: dt.datetime) -> None:
    rel = segment_path("cam-rec", at)
    (media.root / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(video, media.root / rel)
    data = (media.root / rel).read_bytes()
    seg = add_segment(session, "cam-rec", at, rel)
    finish_segment(
        session, seg.id, ended_at=at + dt.timedelta(seconds=4), size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )  # fmt: skip


def test_a_scan_of_recordings_follows_the_authorisation_at_recording_time(
    cli_config: Path, tmp_path: Path
) -> None:
    cfg = load_config(cli_config)
    url = cfg.store.database_url
    upgrade_database(url)
    sessions = make_session_factory(make_engine(url))
    media = MediaStore(cfg.store.media_dir)
    footage = make_demo_videos(tmp_path / "footage", seconds=4.0)
    actor = Actor("setup", "admin")
    with sessions() as s:
        add_camera(s, "cam-rec", zone=DEMO_ZONE)
    enrol_demo_lists(sessions, media, Models(cfg), cfg, footage, actor, now=NOW)
    with sessions() as s:
        _record(s, media, footage.path("cam-entrance"), BEFORE)  # no authorisation yet
        _record(s, media, footage.path("cam-entrance"), NOW)
        _record(s, media, footage.path("cam-street"), NOW + dt.timedelta(seconds=4))
    runner = CliRunner(env={"COLUMNS": "250", "CITYWATCH_ROLE": "investigator"})
    result = runner.invoke(
        app,
        [
            "-c",
            str(cli_config),
            "scan",
            "--camera",
            "cam-rec",
            "--from",
            f"{BEFORE - dt.timedelta(minutes=1):%Y-%m-%dT%H:%M:%S}",
            "--to",
            f"{NOW + dt.timedelta(minutes=1):%Y-%m-%dT%H:%M:%S}",
            "--case",
            "CASE-2026-17",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    alerts = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    faces = [a for a in alerts if a["kind"] == "face"]
    plates = [a for a in alerts if a["kind"] == "plate"]
    assert faces and all(a["subject"] == footage.subject_name for a in faces), alerts
    seen = [dt.datetime.fromisoformat(a["seen_at"].replace("Z", "+00:00")) for a in faces]
    assert all(NOW <= t < NOW + dt.timedelta(seconds=4) for t in seen), seen  # not BEFORE
    assert plates and all(
        a["seen_at"] >= f"{NOW + dt.timedelta(seconds=4):%Y-%m-%dT%H:%M:%S}" for a in plates
    )
    assert "faces off, plates on\n" in result.stderr
    assert "faces on, plates on (watchlists: demo-watchlist)" in result.stderr
    with sessions() as s:
        rows = s.scalars(select(AuditLogRow).where(AuditLogRow.reason == "CASE-2026-17"))
        actions = [r.action for r in rows]
    assert actions == ["scan.start", "scan.finish"]
    assert yaml.safe_load(cli_config.read_text())  # the config file is untouched
