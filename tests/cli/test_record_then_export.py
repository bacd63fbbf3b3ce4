"""Issue 17 end to end through the real CLI: `citywatch run` records a camera (the recorder's
segments), an investigator exports a range of it (`recordings export`), and the export
verifies offline (`recordings verify`) and plays: every picture of the range decodes."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path

import av
import yaml
from typer.testing import CliRunner

from citywatch.cli.main import app
from tests.recording_fixtures import FPS, write_h264

SECRET = "s3cr3t-" * 6


def test_run_records_and_the_recording_exports_and_verifies(
    cli_config: Path, tmp_path: Path
) -> None:
    cfg = yaml.safe_load(cli_config.read_text())
    clip = write_h264(tmp_path / "street.mp4", seconds=12.0)
    cfg["cameras"] = [
        {
            "id": "lot-2",
            "url": str(clip),
            "purposes": ["plate"],
            "legal_basis": "Parking Act 7",
            "impact_assessment": "DPIA-P-2",
            "approved_on": "2026-02-01",
            "recording": {
                "enabled": True,
                "retain_hours": 24,
                "legal_basis": "Parking Act 7 s.2 (recording)",
                "segment_s": 5,
            },
        }
    ]
    cli_config.write_text(yaml.safe_dump(cfg))
    before = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    env = {"COLUMNS": "250", "CITYWATCH_AUDIT_KEY": SECRET}
    ran = CliRunner(env=env).invoke(app, ["run", "-c", str(cli_config)])
    assert ran.exit_code == 0, ran.output
    after = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    out = tmp_path / "case.zip"
    investigator = CliRunner(env={**env, "CITYWATCH_ROLE": "investigator"})
    exported = investigator.invoke(
        app,
        [
            "-c", str(cli_config), "recordings", "export", "--camera", "lot-2",
            "--from", f"{before:%Y-%m-%dT%H:%M:%S}", "--to", f"{after:%Y-%m-%dT%H:%M:%S}",
            "--case", "CASE-E2E", "--out", str(out),
        ],
    )  # fmt: skip
    assert exported.exit_code == 0, exported.output
    verified = CliRunner(env=env).invoke(app, ["recordings", "verify", str(out)])
    assert verified.exit_code == 0, verified.output
    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        zf.extract("recording-01.mp4", tmp_path)
    segments = [s for s in manifest["sources"] if "segment" in s]
    assert len(segments) >= 2, manifest["sources"]  # 12 s in 5 s segments
    with av.open(str(tmp_path / "recording-01.mp4")) as c:
        pictures = sum(1 for _ in c.decode(video=0))
    assert pictures == 12 * FPS  # the whole recording, every picture
    # and the retrospective scan reads the recorder's own segments with the live pipeline
    scanned = investigator.invoke(
        app,
        [
            "-c", str(cli_config), "scan", "--camera", "lot-2",
            "--from", f"{before:%Y-%m-%dT%H:%M:%S}", "--to", f"{after:%Y-%m-%dT%H:%M:%S}",
            "--case", "CASE-E2E",
        ],
    )  # fmt: skip
    assert scanned.exit_code == 0, scanned.output  # 1 if a segment gave no picture
    assert scanned.stderr.count("faces off, plates on") == len(segments)  # no authorisation
    assert f"0 alert(s) in {len(segments)} segment(s)" in scanned.stderr
