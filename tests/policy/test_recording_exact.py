"""policy/recording.py in full: every reason and refusal word for word, and every edge
(the mutation run of issue 21 left these unchecked: reasons read by one phrase, refusals by
their type, a budget of one byte, warn fractions of 0 and 1, approval on the day itself)."""

from __future__ import annotations

import datetime as dt

import pytest

from citywatch.policy.decision import Decision
from citywatch.policy.recording import (
    RecordingFacts,
    budget_state,
    camera_may_record,
    recording_cutoff,
)
from tests.policy.test_recording import GOOD, NOW, _camera, rec

AWARE = r"^policy times must be timezone-aware$"


def test_every_problem_is_named_in_one_reason_in_order() -> None:
    facts = rec(legal_basis=" ", retain_hours=None, impact_assessment="", privacy_masks=2)
    cam = "camera 'cam-1': recording.enabled"
    assert camera_may_record(facts, 744.0, NOW) == Decision(
        False,
        f"{cam} needs recording.legal_basis (the reference that allows recording; the "
        "analysis basis does not cover it); "
        f"{cam} needs recording.retain_hours (the register says how long); "
        f"{cam} needs the camera's legal_basis and impact_assessment; "
        f"{cam}: a camera with privacy masks cannot record (segments are stream copies and "
        "would hold the masked areas; see docs/recording.md)",
    )


def test_approved_today_records_and_tomorrow_does_not() -> None:
    assert camera_may_record(rec(approved_on=NOW.date()), 744.0, NOW) == Decision(
        True, "camera 'cam-1': records under Bylaw 4 s.2 (recording), kept 72 h"
    )
    tomorrow = NOW.date() + dt.timedelta(days=1)
    assert camera_may_record(rec(approved_on=tomorrow), 744.0, NOW) == Decision(
        False, "camera 'cam-1': approved_on 2025-06-02 is in the future"
    )


def test_the_approval_day_is_the_utc_day_whatever_the_servers_zone(
    far_east_server: None,
) -> None:
    assert NOW.astimezone().date() == dt.date(2025, 6, 2)  # the server's zone is in effect
    assert camera_may_record(rec(approved_on=dt.date(2025, 6, 2)), 744.0, NOW) == Decision(
        False, "camera 'cam-1': approved_on 2025-06-02 is in the future"
    )


def test_a_naive_time_is_refused_in_words() -> None:
    with pytest.raises(ValueError, match=AWARE):
        camera_may_record(GOOD, 744.0, NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match=AWARE):
        recording_cutoff(NOW.replace(tzinfo=None), 24)


def test_masks_counted_from_the_config_forbid_recording() -> None:
    masks = [
        {"reason": "homes", "points": [[0.1, 0.1], [0.4, 0.1], [0.4, 0.3]]},
        {"reason": "clinic", "points": [[0.9, 0.9], [1, 0.9], [1, 1]]},
    ]
    cfg = _camera(enabled=True, legal_basis="Bylaw 4 s.2 (recording)", retain_hours=72)
    cfg = cfg.model_validate({**cfg.model_dump(), "privacy_masks": masks})
    facts = RecordingFacts.from_config(cfg)
    assert facts == rec(privacy_masks=2, approved_on=dt.date(2025, 1, 1))
    assert not camera_may_record(facts, 744.0, NOW).allowed


@pytest.mark.parametrize(
    ("used", "budget", "warn", "state"),
    [
        (0, 1, 0.5, "ok"),  # a budget of one byte is a budget
        (1, 1, 0.5, "warning"),
        (2, 1, 0.5, "over"),
        (0, 100, 0.01, "ok"),
        (99, 100, 0.99, "warning"),
    ],
)
def test_budget_state_at_its_edges(used: int, budget: int, warn: float, state: str) -> None:
    assert budget_state(used, budget, warn) == state


@pytest.mark.parametrize(("budget", "warn"), [(0, 0.5), (-1, 0.5), (100, 0), (100, 1), (100, 1.5)])
def test_a_budget_or_warn_fraction_out_of_range_is_refused_in_words(
    budget: int, warn: float
) -> None:
    with pytest.raises(
        ValueError, match=r"^budget_bytes must be > 0 and warn_fraction within \(0, 1\)$"
    ):
        budget_state(0, budget, warn)


def test_cutoff_in_utc_for_any_positive_period(far_east_server: None) -> None:
    cutoff = recording_cutoff(NOW, 0.5)
    assert cutoff == NOW - dt.timedelta(minutes=30)
    assert cutoff.utcoffset() == dt.timedelta(0)  # UTC, not the server's zone
    for hours in (0, -1):
        with pytest.raises(ValueError, match=rf"^retain_hours must be > 0, got {hours}$"):
            recording_cutoff(NOW, hours)
