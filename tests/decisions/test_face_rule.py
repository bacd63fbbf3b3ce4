"""The lookalike checks of a face alert (issue 14): table tests of a pure function, and the
per-entry statistics it draws on."""

import pytest

from citywatch.decisions.entry_stats import EntryStats
from citywatch.decisions.face_rule import AlertRule, hold_reason
from tests.decisions.test_faces import BLUE, RED, _decider, _matches, _run

RULE = AlertRule(threshold=0.77, min_margin=0.10, frame_slack=0.12, min_alert_px=32)
OK = {
    "score": 0.79,
    "entry_threshold": 0.77,
    "margin": 0.17,
    "frame_scores": (0.68, 0.77),
    "face_px": 87,
}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({}, ""),
        ({"score": 0.769}, "under the threshold 0.770"),
        ({"score": 0.77}, ""),  # at the threshold is over it
        ({"entry_threshold": 0.80}, "under this entry's own threshold 0.800 (a lookalike magnet)"),
        ({"entry_threshold": 0.60}, ""),  # an entry's own threshold never loosens the rule
        ({"face_px": 31.9}, "face 32 px, under the 32 px an alert needs"),
        ({"face_px": 32}, ""),
        ({"margin": 0.099}, "leads the next entry by 0.099, under 0.100"),
        ({"margin": 0.10}, ""),
        ({"margin": None}, ""),  # one entry on the list: no runner-up to lead
        ({"frame_scores": (0.6499, 0.8)}, "a frame scores 0.650, under 0.650: the frames disagree"),
        ({"frame_scores": (0.65, 0.8)}, ""),
        ({"frame_scores": ()}, ""),
    ],
)
def test_hold_reason(change, reason):
    assert hold_reason(RULE, **{**OK, **change}) == reason


def test_the_checks_apply_in_order_size_then_margin_then_frames():
    both = {**OK, "face_px": 20, "margin": 0.0, "frame_scores": (0.1,)}
    assert hold_reason(RULE, **both).startswith("face 20 px")
    assert hold_reason(RULE, **{**both, "face_px": 40}).startswith("leads the next entry")


def test_entry_statistics_give_a_magnet_its_own_threshold():
    stats = EntryStats(0.77, band=0.05, k=3.0, min_tracks=3, magnet_near_misses=2)
    for score in (0.70, 0.71):
        stats.add(7, "jessica", score)
    assert stats.threshold(7) == 0.77  # too few passers-by yet
    assert [m.name for m in stats.magnets()] == []  # 0.70 is under 0.77 - 0.05
    stats.add(7, "jessica", 0.74)
    stats.add(7, "jessica", 0.75)
    e = stats.get(7)
    assert e is not None and e.tracks == 4 and e.near_misses == 2
    assert e.mean == pytest.approx(0.725) and e.highest == 0.75
    assert stats.threshold(7) == pytest.approx(0.725 + 3 * e.std)
    assert stats.threshold(7) > 0.77
    (magnet,) = stats.magnets()
    assert (magnet.subject_id, magnet.name, magnet.near_misses) == (7, "jessica", 2)
    stats.add(8, "ann", float("nan"))  # ignored, not a poisoned mean
    assert stats.get(8) is None
    stats.keep_only({8})
    assert stats.get(7) is None and stats.threshold(7) == 0.77


def test_a_passer_by_leaves_one_score_with_its_closest_entry():
    decider, _ = _decider()
    out = _run(decider, [[(1, BLUE, 100, 0.9)]] * 3 + [[]] * 8)  # blue is nobody
    assert not _matches(out)
    e = decider.entry_stats.get(11)  # ann's row comes first among equals
    assert e is not None and e.tracks == 1 and e.highest < 0.1
    assert decider.entry_stats.get(22) is None


def test_a_small_face_scores_but_raises_no_alert():
    decider, _ = _decider(min_alert_px=81)  # the test faces are 80 px
    seen = []
    decider.observe(seen.append)
    out = _run(decider, [[(1, RED, 100, 0.9)]] * 3 + [[]] * 8)
    assert not _matches(out)
    assert seen and not seen[0].matched and "80 px" in seen[0].reason
    assert decider.entry_stats.get(11).tracks == 1  # it counts as a passer-by's score
