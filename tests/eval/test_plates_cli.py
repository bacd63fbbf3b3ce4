"""`citywatch eval plates` and `eval plate-clips` end to end on small slices of real data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.eval.cli_app import invoke_eval

pytestmark = pytest.mark.integration


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "citywatch.yaml"
    path.write_text("plates:\n  formats: [EU]\n")
    return path


def test_eval_plates_on_four_photos(shared_data: Path, config: Path, tmp_path: Path) -> None:
    pytest.importorskip("rapidocr_onnxruntime")
    src = shared_data / "plates" / "images_eu"
    photos = tmp_path / "photos"
    photos.mkdir()
    for jpg in sorted(src.glob("*.jpg"))[:4]:
        for f in (jpg, jpg.with_suffix(".txt")):
            (photos / f.name).symlink_to(f)
    out = tmp_path / "eu.json"
    result = invoke_eval(
        config,
        [
            *("eval", "plates", "--images", str(photos), "--formats", "HR,RS,DE,SK,CZ,EU"),
            *("--threads", "1", "--json", str(out)),
        ],
    )
    assert result.exit_code == 0, result.output
    m = json.loads(out.read_text())
    assert (m["images"], m["threads"], m["formats"]) == (4, 1, "HR,RS,DE,SK,CZ,EU")
    assert m["recogniser"] == "ppocrv6-plates"  # what auto reads EU plates with ...
    assert m["detector"] == "plates"  # ... and finds them with
    assert m["exact_rate"] >= 0.75 and m["found_rate"] >= 0.75
    assert m["ms_per_image"] > 0 and m["cpu_ms_per_image"] > 0
    # the load of other work on the machine during the run, beside the times
    assert 0 <= m["host_other_busy"] <= 1 and 0 <= m["host_steal"] <= 1


def test_eval_plate_clips_times_warm_up_apart(
    shared_data: Path, config: Path, tmp_path: Path
) -> None:
    pytest.importorskip("rapidocr_onnxruntime")
    root = shared_data / "plates" / "video_nl"
    rows = list(csv.DictReader((root / "per_clip_ground_truth.csv").open()))[:2]
    truth = tmp_path / "truth.csv"
    with truth.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "nl.json"
    result = invoke_eval(
        config,
        [
            *("eval", "plate-clips", "--clips", str(root / "clips")),
            *("--ground-truth", str(truth), "--formats", "NL", "--json", str(out)),
        ],
    )
    assert result.exit_code == 0, result.output
    m = json.loads(out.read_text())
    assert (m["clips"], m["false_alerts"], m["clip_hit_rate"]) == (2, 0, 1.0)
    # the motion gate's first 3 frames of each clip have no background: timed apart
    assert m["warmup_frames"] == 6
    assert m["moving_frames"] + m["warmup_frames"] <= m["frames"]
    assert m["ms_per_warmup_frame"] > 0 and m["threads"] >= 1


def test_eval_plates_reads_with_the_named_recogniser(
    shared_data: Path, config: Path, tmp_path: Path
) -> None:
    from citywatch.vision.plates.recognisers import shipped_path

    if not shipped_path("plate-crnn").is_file():
        pytest.skip("the shipped plate-crnn model is missing")
    src = shared_data / "plates" / "images_eu"
    photos = tmp_path / "photos"
    photos.mkdir()
    for jpg in sorted(src.glob("*.jpg"))[:2]:
        for f in (jpg, jpg.with_suffix(".txt")):
            (photos / f.name).symlink_to(f)
    out = tmp_path / "eu.json"
    args = ["eval", "plates", "--images", str(photos), "--threads", "1"]
    result = invoke_eval(config, [*args, "--recogniser", "plate-crnn", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["recogniser"] == "plate-crnn"
    bad = invoke_eval(config, [*args, "--recogniser", "nope"])
    assert bad.exit_code == 2 and "--recogniser 'nope'" in bad.output
