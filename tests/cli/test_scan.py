"""`citywatch scan` on real footage: the same pipeline as live cameras, under a case."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from citywatch.engine.scan import ScanReport, watchlist_people
from citywatch.store.db import make_engine, make_session_factory
from citywatch.store.models import AlertRow, AuditLogRow, SubjectEmbeddingRow


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def _db(cfg: Path):
    url = f"sqlite:///{cfg.parent / 'cw.db'}"
    return make_session_factory(make_engine(url))


def test_scan_without_a_case_is_refused(run_cli, tmp_path):
    video = tmp_path / "x.mp4"
    video.write_bytes(b"\x00")
    result = run_cli("scan", str(video), "--hotlist", str(video))
    assert result.exit_code == 2
    assert "case reference" in result.output


def test_a_watchlist_folder_holds_loose_photos_and_folders_of_photos(tmp_path):
    wl = tmp_path / "photos"
    (wl / "ann").mkdir(parents=True)
    for name in ("ann/1.jpg", "ann/2.png", "ann.jpg", "bob-smith.PNG", "notes.txt", ".DS_Store"):
        (wl / name).write_bytes(b"x")
    report = ScanReport()
    people = watchlist_people(wl, report)
    assert [(name, [p.relative_to(wl).as_posix() for p in photos]) for name, photos in people] == [
        ("ann", ["ann/1.jpg", "ann/2.png", "ann.jpg"]),
        ("bob-smith", ["bob-smith.PNG"]),
    ]
    assert report.problems == [
        f"{wl / 'notes.txt'}: not a photo (.bmp, .jpeg, .jpg, .png, .webp), skipped"
    ]


def test_a_watchlist_folder_without_photos_is_refused_with_its_layout(run_cli, tmp_path):
    video = tmp_path / "x.mp4"
    video.write_bytes(b"\x00")
    empty = tmp_path / "photos"
    empty.mkdir()
    (empty / "list.txt").write_text("jane doe")
    result = run_cli("scan", str(video), "--watchlist", str(empty), "--case", "C-1")
    assert result.exit_code == 2
    assert "holds no photos" in result.output and "jane-doe.jpg" in result.output
    assert "jane-doe/1.jpg" in result.output.replace("\n", "")


@pytest.mark.integration
def test_scan_hamilton_alerts_on_both_people_and_stores_no_faces(
    run_cli, cli_config, shared_data, tmp_path
):
    ex = shared_data / "faces/watchlist_video/examples"
    wl = tmp_path / "watchlist"
    (wl / "alex-lacamoire").mkdir(parents=True)  # a folder of photos per person ...
    shutil.copy(ex / "alex-lacamoire.png", wl / "alex-lacamoire" / "ref.png")
    shutil.copy(ex / "lin-manuel-miranda.png", wl)  # ... or one loose photo named after them
    (wl / "decoy").mkdir()
    shutil.copy(ex / "biden.jpg", wl / "decoy" / "ref.jpg")
    # a non-image in the watchlist folder is reported by name and skipped
    (wl / "decoy" / "notes.jpg").write_bytes(b"%PDF-1.4 not a photo")
    result = run_cli(
        "scan",
        str(ex / "short_hamilton_clip.mp4"),
        "--watchlist",
        str(wl),
        "--case",
        "CASE-TEST-1",
        "--json",
    )
    assert result.exit_code == 0, result.output
    alerts = _json_lines(result.stdout)
    subjects = {a["subject"] for a in alerts if a["kind"] == "face"}
    assert subjects == {"lin-manuel-miranda", "alex-lacamoire"}
    for a in alerts:
        assert a["source"].endswith("short_hamilton_clip.mp4")
        assert a["first_seen_s"] <= a["last_seen_s"]
        assert isinstance(a["track_id"], int) and 0 < a["score"] <= 1
    assert "notes.jpg: not an image" in result.stderr

    with _db(cli_config)() as s:
        audit = s.scalars(select(AuditLogRow).order_by(AuditLogRow.seq)).all()
        assert [a.action for a in audit][-2:] == ["scan.start", "scan.finish"]
        assert all(a.reason == "CASE-TEST-1" for a in audit[-2:])
        # an evidence review keeps its findings out of the live alert table, and no
        # biometric data of anyone (watchlist or passer-by) is stored by a scan
        assert s.scalars(select(AlertRow)).all() == []
        assert s.scalars(select(SubjectEmbeddingRow)).all() == []
    media = cli_config.parent / "media"
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))


@pytest.mark.integration
def test_scan_dutch_clips_with_hotlist(run_cli, shared_data, tmp_path):
    root = shared_data / "plates/video_nl"
    rows = list(csv.DictReader((root / "per_clip_ground_truth.csv").open()))
    clips = rows[:4]
    hotlist = tmp_path / "hot.txt"
    hotlist.write_text("\n".join(r["plate"] for r in clips) + "\n")
    broken = tmp_path / "broken.avi"
    broken.write_bytes((root / "clips" / clips[0]["clip"]).read_bytes()[:20000])
    videos = [str(root / "clips" / r["clip"]) for r in clips]
    result = run_cli(
        "scan", *videos, str(broken), "--hotlist", str(hotlist), "--case", "C-2", "--json"
    )
    assert result.exit_code == 0, result.output
    alerts = _json_lines(result.stdout)
    truth = {str(root / "clips" / r["clip"]): r["plate"].replace("-", "") for r in clips}
    hits = {
        a["source"] for a in alerts if a["source"] in truth and a["plate"] == truth[a["source"]]
    }
    assert len(hits) >= 3, alerts
    false = [a for a in alerts if a["source"] in truth and a["plate"] != truth[a["source"]]]
    assert false == []
    # the truncated copy is scanned as far as it decodes and reported, not fatal
    assert "broken.avi" in result.stderr
