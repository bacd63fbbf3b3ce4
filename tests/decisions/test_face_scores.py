"""The scalar evidence of each face decision (issue 14): what an alert's reviewer sees and what
the footage evaluation and the per-entry statistics are made of."""

import numpy as np
import pytest

from citywatch.decisions.gallery import Gallery, GalleryError, ranked_subjects
from citywatch.decisions.types import TrackScores
from tests.decisions.test_faces import BLUE, RED, _decider, _matches, _run


def test_every_round_is_observed_as_scores_and_a_match_carries_them():
    decider, _ = _decider()
    seen: list[TrackScores] = []
    decider.observe(seen.append)
    out = _run(decider, [[(1, RED, 100, 0.9), (2, BLUE, 300, 0.8)]] * 3 + [[]] * 8)
    (match,) = _matches(out)
    by_track = {s.track_id: s for s in seen}
    ann, stranger = by_track[1], by_track[2]
    assert ann.matched and ann.subject_name == "ann" and match.scores == ann
    assert ann.runner_up_name == "bob" and ann.margin == pytest.approx(
        ann.score - ann.runner_up_score
    )
    assert len(ann.frame_scores) == 3 and all(s > 0.99 for s in ann.frame_scores)
    assert ann.frame_quality == (0.9, 0.9, 0.9) and ann.face_px == 80.0
    assert ann.threshold == decider.cfg.threshold
    # blue is nobody: observed below the threshold, never alerted, still only scalars
    assert not stranger.matched and stranger.score < decider.cfg.threshold
    assert all(isinstance(v, float) for v in stranger.frame_scores)


def test_ranked_subjects_counts_a_subject_with_many_photos_once():
    e = np.array([[1, 0, 0], [0.96, 0.28, 0], [0, 1, 0]], np.float32)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    g = Gallery.build(e, [7, 7, 9], ["ann", "ann", "bob"], [1, 1, 1])
    (row, score), runner = ranked_subjects(g, np.array([1, 0, 0], np.float32))
    assert row == 0 and score == pytest.approx(1.0)
    assert runner is not None and g.subject(runner[0]).name == "bob"
    assert runner[1] == pytest.approx(0.0, abs=1e-6)
    single = Gallery.build(e[:2], [7, 7], ["ann", "ann"], [1, 1])
    assert ranked_subjects(single, e[1])[1] is None
    with pytest.raises(GalleryError, match="empty"):
        ranked_subjects(Gallery.empty(3), e[0])
