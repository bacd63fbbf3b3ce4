"""The CLI as a user meets it: help, bad config, the demo, the admin commands."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from citywatch.cli.main import app


def test_unknown_config_key_is_reported_with_its_place(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("cameras:\n  - id: cam-1\n    url: a.mp4\n    fsp: 5\n")
    result = CliRunner().invoke(app, ["-c", str(cfg), "cameras", "list"])
    assert result.exit_code == 2
    assert "cameras.0.fsp: unknown key" in result.output


def test_wrong_type_is_reported(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("faces:\n  threshold: high\n")
    result = CliRunner().invoke(app, ["-c", str(cfg), "alerts", "list"])
    assert result.exit_code == 2
    assert "faces.threshold" in result.output


def test_camera_without_legal_basis_is_refused_by_name(run_cli, tmp_path):
    result = run_cli(
        "cameras",
        "add",
        "cam-7",
        "--url",
        str(tmp_path / "x.mp4"),
        "--purpose",
        "plate",
        "--legal-basis",
        "",
        "--impact-assessment",
        "DPIA-1",
        "--approved-on",
        "2026-01-01",
    )
    assert result.exit_code == 2
    assert "cam-7" in result.output and "legal" in result.output


def test_camera_password_in_url_is_refused_and_not_echoed(run_cli):
    result = run_cli(
        "cameras",
        "add",
        "cam-8",
        "--url",
        "rtsp://admin:hunter2@10.0.0.1/s",
        "--purpose",
        "plate",
        "--legal-basis",
        "Act",
        "--impact-assessment",
        "D-1",
        "--approved-on",
        "2026-01-01",
    )
    assert result.exit_code == 2
    assert "hunter2" not in result.output and "${" in result.output


def test_admin_flow_cameras_hotlists_search_and_audit(run_cli, cli_config):
    ok = run_cli(
        "cameras",
        "add",
        "cam-9",
        "--url",
        "rtsp://viewer:${CAM9_PW}@10.0.0.9/s",
        "--purpose",
        "plate",
        "--legal-basis",
        "Road Act 43",
        "--impact-assessment",
        "DPIA-9",
        "--approved-on",
        "2026-01-01",
        "--lat",
        "44.8",
        "--lon",
        "20.4",
    )
    assert ok.exit_code == 0, ok.output
    assert "CAM9_PW" in cli_config.read_text()
    listed = run_cli("cameras", "list")
    assert "cam-9" in listed.output and "Road Act 43" in listed.output
    assert run_cli("hotlists", "add", "stolen", "BG 123-AB", "--reason", "stolen").exit_code == 0
    hl = run_cli("hotlists", "list")
    assert "stolen" in hl.output
    refused = run_cli("plates", "search", "BG*")
    assert refused.exit_code != 0
    searched = run_cli("plates", "search", "BG*", "--case", "CASE-1")
    assert searched.exit_code == 0, searched.output
    verify = run_cli("audit", "verify")
    assert verify.exit_code == 0 and "intact" in verify.output


@pytest.mark.integration
@pytest.mark.slow
def test_demo_once_alerts_on_the_face_and_the_plate(demo_run):
    m = re.search(r"demo summary: (\d+) face alert\(s\).*?(\d+) plate alert\(s\)", demo_run.output)
    assert m and int(m.group(1)) >= 1 and int(m.group(2)) >= 1, demo_run.output
    assert "CW123X" in demo_run.output


@pytest.mark.integration
@pytest.mark.slow
def test_the_commands_the_demo_prints_reach_its_data(demo_run, monkeypatch):
    """Run as printed, from where the demo ran: the alert's snapshot file exists, the cameras'
    health is there, and the console (`serve`) answers the snapshot."""
    from fastapi.testclient import TestClient

    from citywatch.api.app import create_app
    from citywatch.cli.context import CliContext

    after = demo_run.output.split("commands on the demo's data:\n", 1)[1]
    printed = [line for line in after.splitlines() if " citywatch " in line]
    commands = [shlex.split(line[line.index("citywatch ") :])[1:] for line in printed]
    assert [c[:2] for c in commands] == [
        ["alerts", "list"],
        ["alerts", "show"],
        ["alerts", "review"],
        ["cameras", "status"],
        ["audit", "verify"],
        ["serve", "--no-cameras"],
    ]
    assert all(c[-2:] == ["-c", "var/demo/citywatch.yaml"] for c in commands)
    monkeypatch.chdir(demo_run.cwd)
    runner = CliRunner(env={"COLUMNS": "250"})
    out = {}
    for argv in commands[:-1]:
        result = runner.invoke(app, argv)
        assert result.exit_code == 0, (argv, result.output)
        out[argv[1]] = result.stdout  # what a pipe gets: logs go to stderr
    alert = json.loads(out["show"])
    assert Path(alert["snapshot_file"]).is_file()
    assert "cam-street" in out["status"] and "no camera health" not in out["status"]
    # two streams per demo camera: the 640x360 substream analysed, the 960x540 main stream
    assert "detect_url 640x360 h264; main url 960x540" in out["status"], out["status"]
    snapshot = cv2.imread(alert["snapshot_file"])
    assert snapshot is not None and snapshot.shape == (540, 960, 3)  # from the main stream
    assert "intact" in out["verify"]
    assert runner.invoke(app, [*commands[-1], "--help"]).exit_code == 0

    token = runner.invoke(
        app,
        [
            "tokens",
            "create",
            "t",
            "--role",
            "operator",
            "--expires-days",
            "1",
            "-c",
            commands[0][-1],
        ],
    )
    assert token.exit_code == 0, token.output
    c = CliContext(config_path=demo_run.config)  # what `serve -c` builds its app from
    with TestClient(create_app(c.config(), c.sessions())) as http:
        r = http.get(
            f"/api/v1/alerts/{alert['id']}/snapshot.jpg",
            headers={"Authorization": f"Bearer {token.stdout.strip()}"},
        )
    assert r.status_code == 200 and r.content[:2] == b"\xff\xd8"


@pytest.mark.integration
def test_run_analyses_the_cameras_of_a_config_file(cli_config, shared_data):
    import yaml
    from sqlalchemy import func, select

    from citywatch.store.db import make_engine, make_session_factory
    from citywatch.store.models import PlateReadRow

    cfg = yaml.safe_load(cli_config.read_text())
    clip = shared_data / "plates/video_nl/clips/Video13_2.avi"
    cfg["cameras"] = [
        {
            "id": "lot-2",
            "url": str(clip),
            "purposes": ["plate"],
            "legal_basis": "Parking Act 7",
            "impact_assessment": "DPIA-P-2",
            "approved_on": "2026-02-01",
        }
    ]
    cli_config.write_text(yaml.safe_dump(cfg))
    result = CliRunner(env={"COLUMNS": "250"}).invoke(app, ["run", "-c", str(cli_config)])
    assert result.exit_code == 0, result.output
    assert "running 1 camera(s)" in result.output
    # the config keeps the shipped format list, which mixes US with European formats
    assert "plates.formats lists US with" in result.stderr
    sessions = make_session_factory(make_engine(cfg["store"]["database_url"]))
    with sessions() as s:
        plates = s.scalars(select(PlateReadRow.plate)).all()
        assert s.scalar(select(func.count()).select_from(PlateReadRow)) >= 1
    assert "23GSX6" in plates
    health = (cli_config.parent / "health" / "lot-2.json").read_text()
    assert '"state": "ended"' in health


@pytest.mark.integration
def test_enrol_says_who_went_on_which_list_and_which_photos_were_refused(
    run_cli, shared_data, tmp_path
):
    import datetime as dt

    ex = shared_data / "faces/watchlist_video/examples"
    day = dt.timedelta(days=1)
    today = dt.datetime.now(dt.UTC).date()
    created = run_cli(
        *("authorisations", "create", "AUTH-1", "--authority", "court", "--purpose", "test"),
        *("--starts", str(today - day), "--ends", str(today + day), "--zone", "centre"),
    )
    assert created.exit_code == 0, created.output
    assert run_cli("watchlists", "create", "wl-1", "--authorisation", "AUTH-1").exit_code == 0
    enrol = ("watchlists", "enrol", "wl-1", "Barack Obama")
    why = ("--reason", "test", "--source", "press photo")
    notes = tmp_path / "notes.jpg"
    notes.write_bytes(b"%PDF-1.4 not a photo")

    unreadable = run_cli(*enrol, str(ex / "obama.jpg"), str(notes), *why)
    assert unreadable.exit_code == 2
    assert "'Barack Obama' not enrolled: 1 of 2 photo(s) refused" in unreadable.output
    assert "notes.jpg" in unreadable.output

    two = run_cli(*enrol, str(ex / "obama.jpg"), str(ex / "two_people.jpg"), *why)
    assert two.exit_code == 2
    assert "1 of 2 photo(s) refused" in two.output and "two_people.jpg" in two.output
    assert "2 faces found" in two.output

    ok = run_cli(*enrol, str(ex / "obama.jpg"), str(ex / "obama2.jpg"), *why)
    assert ok.exit_code == 0, ok.output
    assert ok.output.strip() == (
        "enrolled 'Barack Obama' on watchlist 'wl-1' (subject 1) from 2 photo(s): "
        "obama.jpg, obama2.jpg"
    )
    more = run_cli(*enrol, str(ex / "obama_small.jpg"), *why)
    assert more.exit_code == 0, more.output
    assert "added 1 photo(s) to 'Barack Obama' on watchlist 'wl-1'" in more.output
    assert "EnrolResult" not in ok.output + more.output
