"""When a face track's best score is enough to send officers: a pure function with table tests.

A score over the threshold is necessary, not sufficient.  Strangers who look alike reach the
threshold now and then; what gives them away is measured on the dev footage
(``docs/face-footage.md``):

* **margin to the runner-up** -- a lookalike of one enrolled person tends to look like others
  too (a generic face), so the best entry leads the second by little; a true match leads
  clearly.  Fused embedder, dev footage: the singer's track leads by 0.169, strangers over
  0.66 by at most 0.125.
* **the frames agree** -- the track's embedding is a quality-weighted mean; a stranger's frames
  scatter (one frame near, the next far: crowd track 0.53-0.71) where a true match's frames
  hold together.  Every frame used must score at least ``threshold - frame_slack``.
* **the face is big enough** -- under ``min_alert_px`` the embedders cannot tell lookalikes
  apart (on the identity set, faces shrunk to 24 px and blurred: genuine median 0.62, hard
  impostors up to 0.69, fused); a smaller face is not a basis for an alert, however it scores.
* **the entry's own threshold** -- an entry that passers-by keep scoring high against (a
  lookalike magnet) gets a stricter threshold from the scalar statistics of those scores
  (:mod:`citywatch.decisions.entry_stats`).

:func:`hold_reason` returns why an over-threshold track is *not* alerted ("" = alert).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AlertRule:
    threshold: float  # the operating point (cosine)
    min_margin: float = 0.0  # best entry minus the best other entry
    frame_slack: float = 1.0  # every frame used >= threshold - frame_slack (1.0: off)
    min_alert_px: float = 0.0  # face side at the best frame (0: off)


def hold_reason(
    rule: AlertRule,
    *,
    score: float,
    entry_threshold: float,
    margin: float | None,
    frame_scores: Sequence[float],
    face_px: float,
) -> str:
    """Why a track scoring ``score`` against its best entry raises no alert, or "" when it
    should.  ``entry_threshold``: the entry's own threshold (never below ``rule.threshold``);
    ``margin``: ``score`` minus the runner-up entry's (None with one entry on the list)."""
    threshold = max(rule.threshold, entry_threshold)
    if score < threshold:
        if score >= rule.threshold:
            return f"under this entry's own threshold {threshold:.3f} (a lookalike magnet)"
        return f"under the threshold {rule.threshold:.3f}"
    if face_px < rule.min_alert_px:
        return f"face {face_px:.0f} px, under the {rule.min_alert_px:.0f} px an alert needs"
    if margin is not None and margin < rule.min_margin:
        return f"leads the next entry by {margin:.3f}, under {rule.min_margin:.3f}"
    floor = threshold - rule.frame_slack
    low = min(frame_scores, default=score)
    if low < floor:
        return f"a frame scores {low:.3f}, under {floor:.3f}: the frames disagree"
    return ""
