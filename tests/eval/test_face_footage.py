"""`citywatch eval face-footage` (issue 14): alerts on real footage through the live pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
import yaml

from citywatch.decisions.types import TrackScores
from citywatch.eval.face_footage import (
    ClipResult,
    FootageError,
    FootageReport,
    load_footage_truth,
)
from tests.eval.cli_app import invoke_eval

HAMILTON = "faces/watchlist_video/examples/short_hamilton_clip.mp4"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "citywatch.yaml"
    path.write_text(yaml.safe_dump({"models": {"threads": 1}}))
    return path


def _scores(track: int, name: str, score: float, matched: bool) -> TrackScores:
    return TrackScores(
        "c",
        track,
        1,
        name,
        0,
        score,
        2,
        "other",
        score - 0.05,
        (score,),
        (0.9,),
        80.0,
        0.92,
        matched,
        0.0,
        1.0,
    )


def test_truth_file_rows_and_its_mistakes_are_named(tmp_path: Path) -> None:
    path = tmp_path / "truth.csv"
    path.write_text("# comment\nclip,subjects\na.mp4,ann; bob\nb.mp4,\n")
    rows = load_footage_truth(path)
    assert [(r.clip, r.subjects) for r in rows] == [("a.mp4", ("ann", "bob")), ("b.mp4", ())]
    path.write_text("clip,who\na.mp4,ann\n")
    with pytest.raises(FootageError, match="needs the columns clip,subjects"):
        load_footage_truth(path)
    path.write_text("clip,subjects\na.mp4,\na.mp4,ann\n")
    with pytest.raises(FootageError, match=r"row 3: clip 'a\.mp4' listed twice"):
        load_footage_truth(path)


def test_counts_and_margins_of_a_report() -> None:
    hamilton = ClipResult("h.mp4", ("ann", "bob"), face_tracks=5)
    hamilton.rounds = [
        _scores(1, "ann", 0.95, True),
        _scores(2, "zed", 0.93, True),
        _scores(3, "bob", 0.90, False),
    ]
    hamilton.alerts = [r for r in hamilton.rounds if r.matched]
    empty = ClipResult("e.mp4", (), face_tracks=0)
    m = FootageReport([hamilton, empty], 3, 3, 0.92).metrics()
    assert (m["true_alerts"], m["missed"], m["false_alerts"]) == (1, 1, 1)
    assert m["tracks_analysed"] == 3 and m["face_tracks"] == 5
    assert m["false_alerts_per_1000_tracks"] == pytest.approx(333.33)
    assert m["true_alert_score_min"] == 0.95 and m["impostor_score_max"] == 0.93
    assert m["separation"] == pytest.approx(0.02)
    assert m["alert_margin_to_runner_up_min"] == pytest.approx(0.05)
    assert empty.note() == "no face found"


def _blank_clip(path: Path, frames: int = 10) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=5)
        stream.width, stream.height = 160, 120
        for _ in range(frames):
            img = np.full((120, 160, 3), 128, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


@pytest.mark.integration
def test_hamilton_and_a_faceless_clip_end_to_end(
    shared_data: Path, config: Path, tmp_path: Path
) -> None:
    clips = tmp_path / "clips"
    (clips / Path(HAMILTON).parent).mkdir(parents=True)
    (clips / HAMILTON).symlink_to(shared_data / HAMILTON)
    _blank_clip(clips / "blank.mp4")
    watchlist = tmp_path / "watchlist"
    watchlist.mkdir()
    for name in ("lin-manuel-miranda.png", "alex-lacamoire.png"):
        (watchlist / name).symlink_to(shared_data / Path(HAMILTON).parent / name)
    truth = tmp_path / "truth.csv"
    truth.write_text(f"clip,subjects\n{HAMILTON},lin-manuel-miranda;alex-lacamoire\nblank.mp4,\n")
    out = tmp_path / "footage.json"
    plots = tmp_path / "plots"
    args = ["eval", "face-footage", "--truth", str(truth), "--clips", str(clips)]
    result = invoke_eval(
        config, [*args, "--watchlist", str(watchlist), "--json", str(out), "--plot", str(plots)]
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert all(not isinstance(v, dict | list) for v in metrics.values())
    assert metrics["clips"] == 2 and metrics["watchlist_entries"] == 2
    assert metrics["true_alerts"] >= 1 and metrics["false_alerts"] == 0
    assert metrics["tracks_analysed"] >= 2
    assert "blank.mp4: no face found" in result.output
    assert sorted(p.name for p in plots.iterdir()) == [
        "face_footage_clips.png",
        "face_footage_scores.png",
    ]


def test_bad_inputs_end_with_a_message_not_a_traceback(
    shared_data: Path, config: Path, tmp_path: Path
) -> None:
    truth = tmp_path / "truth.csv"
    truth.write_text("clip,subjects\nnowhere.mp4,\n")
    watchlist = tmp_path / "watchlist"
    watchlist.mkdir()
    args = ["eval", "face-footage", "--truth", str(truth), "--clips", str(tmp_path)]
    result = invoke_eval(config, [*args, "--watchlist", str(watchlist)])
    assert result.exit_code == 2 and "clip(s) not found" in result.output
    assert "nowhere.mp4" in result.output and "Traceback" not in result.output
    _blank_clip(tmp_path / "blank.mp4", 2)
    truth.write_text("clip,subjects\nblank.mp4,\n")
    result = invoke_eval(config, [*args, "--watchlist", str(watchlist)])
    assert result.exit_code == 2 and "holds no photos" in result.output
    (watchlist / "nobody.png").symlink_to(
        shared_data / "faces" / "crowd_video" / "multiface.jpg"  # many faces: refused
    )
    result = invoke_eval(config, [*args, "--watchlist", str(watchlist)])
    assert result.exit_code == 2 and "the watchlist is empty" in result.output


def test_the_cards_expected_rate_is_printed_beside_the_measured_one(tmp_path: Path) -> None:
    from citywatch.cli.eval_faces import _card_expectation
    from citywatch.config.root import CitywatchConfig
    from citywatch.eval.model_card import ModelCard
    from citywatch.vision.faces.registry import model_id

    plain = CitywatchConfig.model_validate({})
    assert _card_expectation(plain, 72) == {}
    card = ModelCard(
        model=model_id(plain.faces.embedder), dataset="ids", date="2026-12-06",
        target_fpir=0.003, threshold=0.77, overall_threshold=0.64, group_thresholds={},
        gallery_size=6, expected_false_alerts_per_1000_tracks=18.667, assumed_watchlist_size=100,
    )  # fmt: skip
    path = card.save(tmp_path / "card.json")
    config = CitywatchConfig.model_validate({"faces": {"model_card": str(path)}})
    assert _card_expectation(config, 72) == {
        "card_expected_false_alerts_per_1000_tracks": 18.667,
        "card_assumed_watchlist_size": 100,
        "card_expected_at_this_watchlist": 13.44,
    }
