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
def test_scan_hamilton_alerts_on_the_singer_and_stores_no_faces(
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
    # The singer is matched; the pianist, seen only in profile, scores on the threshold's
    # edge (tests/decisions/test_faces_video.py), so only that nobody else is named is asserted.
    assert "lin-manuel-miranda" in subjects
    assert subjects <= {"lin-manuel-miranda", "alex-lacamoire"}
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
    # the truncated copy cannot even be opened: an error of the scan (exit 1), named, and
    # the other clips are scanned all the same
    assert result.exit_code == 1, result.output
    lines = _json_lines(result.stdout)
    assert [x["source"] for x in lines if x["kind"] == "error"] == [str(broken)]
    alerts = [x for x in lines if x["kind"] != "error"]
    truth = {str(root / "clips" / r["clip"]): r["plate"].replace("-", "") for r in clips}
    hits = {
        a["source"] for a in alerts if a["source"] in truth and a["plate"] == truth[a["source"]]
    }
    assert len(hits) >= 3, alerts
    false = [a for a in alerts if a["source"] in truth and a["plate"] != truth[a["source"]]]
    assert false == []
    assert "1 of 5 video(s) could not be read" in result.stderr


def _unreadable_videos(folder: Path) -> list[Path]:
    """A zero-byte file, a text file and an MP4 cut before its index (moov)."""
    import av
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    zero, text, no_moov, good = (folder / n for n in ("zero.mp4", "notes.mp4", "cut.mp4", "ok.mp4"))
    zero.write_bytes(b"")
    text.write_text("this is not a video\n")
    with av.open(str(good), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(20):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 10, np.uint8), "rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    data = good.read_bytes()
    no_moov.write_bytes(data[: data.index(b"moov") - 4])
    return [zero, text, no_moov, good]


def test_a_video_that_cannot_be_read_is_an_error_of_the_scan(run_cli, cli_config, tmp_path):
    zero, text, no_moov, good = _unreadable_videos(tmp_path / "v")
    hotlist = tmp_path / "hot.txt"
    hotlist.write_text("AB123CD\n")
    videos = [str(v) for v in (zero, text, no_moov, good)]
    result = run_cli("scan", *videos, "--hotlist", str(hotlist), "--case", "C-9")
    assert result.exit_code == 1, result.output  # before: 0 with a warning
    assert "3 of 4 video(s) could not be read" in result.stderr
    for v in (zero, text, no_moov):
        assert f"error: {v}: could not be read" in result.stderr.replace("\n", "")

    as_json = run_cli("scan", *videos, "--hotlist", str(hotlist), "--case", "C-9", "--json")
    assert as_json.exit_code == 1
    lines = _json_lines(as_json.stdout)  # before: nothing at all
    assert [(x["kind"], x["source"]) for x in lines] == [
        ("error", str(zero)),
        ("error", str(text)),
        ("error", str(no_moov)),
    ]
    assert all(x["error"].startswith("could not be read: ") for x in lines)

    with _db(cli_config)() as s:  # still audited as scan attempts, the failures named
        audit = s.scalars(select(AuditLogRow).order_by(AuditLogRow.seq)).all()
    finishes = [json.loads(a.details) for a in audit if a.action == "scan.finish"]
    assert len(finishes) == 2 and all(a.reason == "C-9" for a in audit[-4:])
    assert sorted(finishes[-1]["unreadable"]) == sorted([str(zero), str(text), str(no_moov)])
    assert finishes[-1]["frames"][str(good)] == 10


def test_a_scan_of_readable_videos_exits_0(run_cli, tmp_path):
    *_, good = _unreadable_videos(tmp_path / "v")
    hotlist = tmp_path / "hot.txt"
    hotlist.write_text("AB123CD\n")
    result = run_cli("scan", str(good), "--hotlist", str(hotlist), "--case", "C-9", "--json")
    assert result.exit_code == 0, result.output
    assert _json_lines(result.stdout) == []
    assert "could not be read" not in result.stderr


def test_a_scan_faster_than_face_decisions_are_tuned_for_says_so(run_cli, shared_data, tmp_path):
    """Above 5 fps a face track is decided on less of itself (docs/face-footage.md): the Hamilton
    clip at 30 fps alerts nobody where 5 fps alerts the singer.  The scan says so."""
    photo = shared_data / "faces/watchlist_video/examples/lin-manuel-miranda.png"
    if not photo.is_file():
        pytest.skip(f"{photo} not found")
    wl = tmp_path / "wl"
    wl.mkdir()
    (wl / photo.name).symlink_to(photo)
    *_, good = _unreadable_videos(tmp_path / "v")
    args = ("scan", str(good), "--watchlist", str(wl), "--case", "C-9")
    fast = run_cli(*args, "--fps", "30")
    assert fast.exit_code == 0, fast.output
    assert "--fps 30: a face track is first decided on its first frames" in fast.stderr.replace(
        "\n", " "
    )
    usual = run_cli(*args)
    assert usual.exit_code == 0, usual.output
    assert "a face track is first decided" not in usual.stderr.replace("\n", " ")


def test_a_stored_hotlist_is_taken_by_name_and_read_under_the_case(
    run_cli, cli_config, tmp_path, monkeypatch
):
    """`--hotlist stolen` names a hotlist in the store (before: "hotlist file stolen: cannot
    read"); reading its plates for the scan is audited under the case."""
    *_, good = _unreadable_videos(tmp_path / "v")
    for plate in ("AB123CD", "XY-987-ZZ"):
        assert run_cli("hotlists", "add", "Stolen", plate, "--reason", "r").exit_code == 0
    monkeypatch.chdir(tmp_path)  # no file named "stolen" here
    result = run_cli("scan", str(good), "--hotlist", "stolen", "--case", "C-7", "--json")
    assert result.exit_code == 0, result.output
    with _db(cli_config)() as s:
        audit = s.scalars(select(AuditLogRow).order_by(AuditLogRow.seq)).all()
    view, start = audit[-3], audit[-2]
    assert (view.action, view.target, view.reason) == ("hotlist.view", "hotlist:Stolen", "C-7")
    assert json.loads(view.details) == {"count": 2}
    assert start.action == "scan.start"
    details = json.loads(start.details)
    assert (details["hotlist"], details["hotlist_file"], details["hotlist_plates"]) == (
        "stolen",
        None,
        2,
    )

    missing = run_cli("scan", str(good), "--hotlist", "towed", "--case", "C-7")
    assert missing.exit_code == 2
    assert "hotlist 'towed': no such file, and no hotlist of that name in the store" in (
        missing.stderr.replace("\n", "")
    )

    (tmp_path / "stolen").write_text("AB123CD\n")  # a file of that name comes first
    as_file = run_cli("scan", str(good), "--hotlist", "stolen", "--case", "C-8")
    assert as_file.exit_code == 0, as_file.output
    with _db(cli_config)() as s:
        last = s.scalars(select(AuditLogRow).order_by(AuditLogRow.seq.desc()).limit(2)).all()
    assert [a.action for a in last] == ["scan.finish", "scan.start"]
    assert json.loads(last[1].details)["hotlist_file"] == "stolen"


@pytest.mark.integration
def test_a_stored_hotlist_alerts_on_its_plate_in_a_clip(run_cli, shared_data, tmp_path):
    root = shared_data / "plates/video_nl"
    row = next(csv.DictReader((root / "per_clip_ground_truth.csv").open()))
    assert run_cli("hotlists", "add", "stolen", row["plate"], "--reason", "r").exit_code == 0
    clip = str(root / "clips" / row["clip"])
    result = run_cli("scan", clip, "--hotlist", "stolen", "--case", "C-3", "--json")
    assert result.exit_code == 0, result.output
    plates = [a["plate"] for a in _json_lines(result.stdout)]
    assert plates == [row["plate"].replace("-", "")]
