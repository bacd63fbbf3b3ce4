"""`eval plate-clips` scores alerts as the live recorder raises them: a hotlist hit under
``alerts.plate_min_confidence`` is held back, not alerted (issue 16 item 8)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.eval.cli_app import invoke_eval

pytestmark = pytest.mark.integration


def test_a_hit_under_the_minimum_confidence_is_held_back(shared_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("rapidocr_onnxruntime")
    root = shared_data / "plates" / "video_nl"
    rows = [r for r in csv.DictReader((root / "per_clip_ground_truth.csv").open())]
    rows = [r for r in rows if r["clip"] == "Video13_2.avi"]  # read 23GSX6 at about 0.96
    truth = tmp_path / "truth.csv"
    with truth.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    config = tmp_path / "citywatch.yaml"
    config.write_text("alerts:\n  plate_min_confidence: 0.99\n")
    out = tmp_path / "nl.json"
    result = invoke_eval(
        config,
        [
            *("eval", "plate-clips", "--clips", str(root / "clips")),
            *("--ground-truth", str(truth), "--json", str(out)),  # the default formats
        ],
    )
    assert result.exit_code == 0, result.output
    m = json.loads(out.read_text())
    assert (m["clips"], m["clip_hit_rate"], m["false_alerts"], m["held_back"]) == (1, 0.0, 0, 1)
