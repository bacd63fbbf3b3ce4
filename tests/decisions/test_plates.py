from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from citywatch.config.plates import PlatesConfig, PlateVoteConfig
from citywatch.decisions.hotlist import HotlistMatcher
from citywatch.decisions.plates import PlateTrackVoter, vote
from citywatch.vision.plates.formats import resolve
from citywatch.vision.plates.tracking import PlateTracker
from citywatch.vision.record import Detections, Frame, FrameRecord

NL = resolve(["NL"])


@pytest.mark.parametrize(
    ("reads", "text", "votes"),
    [
        ([("56JTT5", 0.9)], "56JTT5", 1),
        ([("56JTT5", 0.9), ("56JTT5", 0.8), ("56JTTS", 0.7)], "56JTT5", 2),
        # per-position vote: no single read is right, the majority per character is
        ([("X6JTT5", 0.9), ("5XJTT5", 0.9), ("56XTT5", 0.9)], "56JTT5", 0),
        # the supported length wins over one confident read of another length
        ([("56JTT5", 0.6), ("56JTT5", 0.6), ("56JTT55", 0.99)], "56JTT5", 2),
        # weight, not count: two weak reads lose to one strong one at a position
        ([("56JTT5", 0.95), ("56JTT8", 0.2), ("56JTT8", 0.2)], "56JTT5", 1),
    ],
)
def test_vote_table(reads: list[tuple[str, float]], text: str, votes: int) -> None:
    v = vote(reads, NL)
    assert v is not None
    assert (v.text, v.votes) == (text, votes)
    assert v.plate_format == "NL"
    assert 0.0 < v.confidence <= 1.0


def test_vote_falls_back_when_positions_spell_no_plate() -> None:
    # per position the winners spell "X6NB23" (L D L L D D), which is no Dutch sidecode:
    # the text with the most total weight wins instead
    reads = [("XSNB23", 0.5), ("XSNB23", 0.5), ("56JT55", 0.9), ("X639JT", 0.3)]
    v = vote(reads, NL)
    assert v is not None
    assert (v.text, v.votes, v.plate_format) == ("XSNB23", 2, "NL")
    assert v.confidence == pytest.approx(1.0 / 2.2 * (2.2 / 4))
    # without formats the per-position result stands
    raw = vote(reads, ())
    assert raw is not None and (raw.text, raw.plate_format) == ("X6NB23", "")


def test_vote_confidence_drops_with_disagreement() -> None:
    agree = vote([("56JTT5", 0.9)] * 4, NL)
    split = vote([("56JTT5", 0.9), ("56JTT5", 0.9), ("56JTX5", 0.9), ("56JTX5", 0.9)], NL)
    assert agree is not None and split is not None
    assert agree.confidence > split.confidence
    assert vote([], NL) is None
    assert vote([("", 0.9)], NL) is None


def plates_record(
    t: float, rows: list[tuple[int, str, float]], image_value: int = 0
) -> FrameRecord:
    image = np.full((48, 64, 3), image_value, np.uint8)
    rec = FrameRecord(Frame("cam", int(t * 10), t, 1000.0 + t, image))
    boxes = [(10.0 * i, 10.0, 10.0 * i + 40, 20.0) for i in range(len(rows))]
    d = Detections.from_boxes(
        boxes,
        [0.9] * len(rows),
        text=tuple(r[1] for r in rows),
        text_score=[r[2] for r in rows],
    )
    rec.plates = d.with_tracks(np.asarray([r[0] for r in rows], np.int64))
    return rec


def voter(**vote_cfg: float) -> PlateTrackVoter:
    """A voter that decides when tracks end (early reporting off unless asked for)."""
    cfg = PlatesConfig(formats=["NL"], min_reads=2)
    cfg.vote = PlateVoteConfig(**{"early_votes": 0, **vote_cfg})
    return PlateTrackVoter(cfg, "cam", clock=lambda: 5000.0)


def test_voter_emits_when_track_ends() -> None:
    v = voter(lost_s=1.0)
    assert v.update(plates_record(0.0, [(1, "56JTTS", 0.6)], 1)) == []
    assert v.update(plates_record(0.2, [(1, "56JTT5", 0.9)], 2)) == []
    assert v.update(plates_record(0.4, [(1, "56JTT5", 0.8)], 3)) == []
    assert v.update(plates_record(1.0, [])) == []  # 0.6 s unseen: still open
    out = v.update(plates_record(1.5, []))
    assert len(out) == 1 and len(v) == 0
    r = out[0]
    assert (r.camera_id, r.track_id, r.text, r.plate_format) == ("cam", 1, "56JTT5", "NL")
    assert (r.votes, r.reads, r.first_seen_s, r.last_seen_s) == (2, 3, 0.0, 0.4)
    assert r.decided_wall_time == 5000.0
    # the evidence is the frame of the best read (score 0.9, image value 2)
    assert r.evidence is not None and int(r.evidence[0, 0, 0]) == 2
    assert r.frame_wall_time == pytest.approx(1000.2)
    assert r.box == (0.0, 10.0, 40.0, 20.0)


def test_voter_drops_short_tracks_and_untracked_rows() -> None:
    v = voter()
    v.update(plates_record(0.0, [(1, "56JTT5", 0.9), (-1, "XSNB23", 0.9)]))
    assert v.flush() == []  # one read < min_reads; the untracked row was ignored


def test_voter_flush_and_multiple_tracks() -> None:
    v = voter()
    for k in range(3):
        v.update(plates_record(0.2 * k, [(1, "56JTT5", 0.9), (2, "XSNB23", 0.8)]))
    out = v.flush()
    assert [(r.track_id, r.text) for r in out] == [(1, "56JTT5"), (2, "XSNB23")]
    assert len(v) == 0


def test_voter_memory_is_bounded() -> None:
    v = voter(max_tracks=3, max_reads=4, lost_s=60)
    out = []
    for k in range(10):
        out += v.update(plates_record(0.1 * k, [(k + 1, "56JTT5", 0.9), (k + 1, "56JTT5", 0.9)]))
    assert len(v) == 3
    assert len(out) == 7  # the oldest tracks were decided, not lost
    for _ in range(20):
        v.update(plates_record(2.0, [(10, "56JTT5", 0.5)]))
    assert len(v._tracks[10].reads) == 4  # best four kept
    assert v.flush()[-1].reads == 22


def test_voter_min_confidence() -> None:
    v = voter(min_confidence=0.9)
    v.update(plates_record(0.0, [(1, "56JTT5", 0.5)]))
    v.update(plates_record(0.2, [(1, "56JTT5", 0.5)]))
    assert v.flush() == []


def test_voter_without_evidence() -> None:
    cfg = PlatesConfig(formats=["NL"])
    v = PlateTrackVoter(cfg, "cam", keep_evidence=False)
    for k in range(2):
        v.update(plates_record(0.2 * k, [(1, "56JTT5", 0.9)]))
    assert v.flush()[0].evidence is None


# --- integration: real clips, real OCR ---------------------------------------------------------

CLIPS = ["Video10_2.avi", "Video13_2.avi", "Video143_2.avi", "Video4_2.avi"]


@pytest.mark.integration
@pytest.mark.slow
def test_video_nl_clips_alert_on_their_plate(shared_data: Path) -> None:
    av = pytest.importorskip("av")
    from citywatch.vision.motion import MotionGate
    from citywatch.vision.plates.build import build_plate_stage

    root = shared_data / "plates" / "video_nl"
    rows = list(csv.DictReader((root / "per_clip_ground_truth.csv").open()))
    truth = {r["clip"]: r["plate"] for r in rows}
    matcher = HotlistMatcher([(i, 1, r["plate"]) for i, r in enumerate(rows)], max_distance=1)
    cfg = PlatesConfig(formats=["NL", "EU"])
    for clip in CLIPS:
        stage = build_plate_stage(cfg)
        v = PlateTrackVoter(cfg, "nl")
        gate = MotionGate()
        reads = []
        with av.open(str(root / "clips" / clip)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i % 2:  # 12 fps -> 6 fps
                    continue
                image = frame.to_ndarray(format="bgr24")
                rec = FrameRecord(Frame("nl", i, i / 12.0, 0.0, image), motion=gate.update(image))
                reads += v.update(stage.process(rec))
        reads += v.flush()
        hits = [matcher.match(r.text) for r in reads]
        plates = {rows[h.entry_id]["plate"] for h in hits if h is not None}
        assert plates == {truth[clip]}, (clip, [r.text for r in reads])


def test_agreeing_reads_are_reported_early_and_only_once() -> None:
    v = voter(early_votes=3, lost_s=60)
    out = []
    for k in range(10):
        out += v.update(plates_record(0.2 * k, [(1, "56JTT5", 0.9), (2, "XSNB2", 0.9)]))
    # track 1 agreed three times on a text that fits the NL format: reported at its 3rd read
    assert [(r.track_id, r.text, r.reads, r.last_seen_s) for r in out] == [
        (1, "56JTT5", 3, pytest.approx(0.4))
    ]
    # the track stays open (so it is not reported again); track 2 fits no format: waits
    assert len(v) == 2
    assert [r.track_id for r in v.flush()] == [2]


def test_each_car_of_a_queue_at_one_spot_is_reported() -> None:
    """Tracker and voter together: car A stops at the line and is reported early; car B stops
    on the same spot a second after A left.  B is reported too (it was lost in A's track)."""
    cfg = PlatesConfig(formats=["NL"], min_reads=2)
    cfg.vote = PlateVoteConfig(early_votes=3, lost_s=1.5)
    v = PlateTrackVoter(cfg, "cam", clock=lambda: 5000.0)
    tracker = PlateTracker.from_config(cfg.tracker)
    out = []
    for k, (t, text) in enumerate(
        [(0.2 * k, "56JTT5") for k in range(5)] + [(1.8 + 0.2 * k, "XSNB23") for k in range(5)]
    ):
        rec = plates_record(t, [(0, text, 0.9)], k)
        rec.plates = tracker.update(rec.plates, t)
        out += v.update(rec)
    out += v.flush()
    assert [r.text for r in out] == ["56JTT5", "XSNB23"]
    assert out[0].track_id != out[1].track_id
