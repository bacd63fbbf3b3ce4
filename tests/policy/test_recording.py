"""May a camera record continuously: a table of register entries (policy/recording.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from citywatch.config.camera import CameraConfig
from citywatch.policy.recording import (
    RecordingFacts,
    budget_state,
    camera_may_record,
    oldest_to_delete,
    recording_cutoff,
    recording_problems,
)
from citywatch.policy.register import check_camera_registration

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
MAX_H = 744.0
GOOD = RecordingFacts(
    camera_id="cam-1",
    enabled=True,
    legal_basis="Bylaw 4 s.2 (recording)",
    retain_hours=72.0,
    privacy_masks=0,
    camera_legal_basis="Act 12 s.3",
    impact_assessment="DPIA-7",
    approved_on=dt.date(2025, 1, 1),
)


def rec(**kw: object) -> RecordingFacts:
    return dataclasses.replace(GOOD, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("facts", "allowed", "says"),
    [
        (GOOD, True, "records under Bylaw 4 s.2 (recording), kept 72 h"),
        (rec(enabled=False), False, "recording is not enabled"),
        (rec(legal_basis=""), False, "needs recording.legal_basis"),
        (rec(legal_basis="  "), False, "needs recording.legal_basis"),
        (rec(retain_hours=None), False, "needs recording.retain_hours"),
        (rec(retain_hours=745.0), False, "longer than this node allows"),
        (rec(retain_hours=744.0), True, "kept 744 h"),
        (rec(camera_legal_basis=""), False, "camera's legal_basis and impact_assessment"),
        (rec(impact_assessment=""), False, "camera's legal_basis and impact_assessment"),
        (rec(approved_on=None), False, "needs the camera's approved_on"),
        (rec(approved_on=dt.date(2025, 6, 2)), False, "in the future"),
        (rec(privacy_masks=1), False, "privacy masks cannot record"),
    ],
)
def test_camera_may_record(facts: RecordingFacts, allowed: bool, says: str) -> None:
    decision = camera_may_record(facts, MAX_H, NOW)
    assert decision.allowed is allowed
    assert says in decision.reason
    assert "'cam-1'" in decision.reason


def test_problems_list_every_missing_key_and_nothing_when_off() -> None:
    both = recording_problems(rec(legal_basis="", retain_hours=None), MAX_H)
    assert len(both) == 2
    assert recording_problems(rec(enabled=False, legal_basis=""), MAX_H) == []


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        camera_may_record(GOOD, MAX_H, dt.datetime(2025, 6, 1))


def _camera(**recording: object) -> CameraConfig:
    return CameraConfig.model_validate(
        {
            "id": "cam-1",
            "url": "rtsp://10.0.0.9/s",
            "purposes": ["plate"],
            "legal_basis": "Act 12 s.3",
            "impact_assessment": "DPIA-7",
            "approved_on": "2025-01-01",
            "recording": recording,
        }
    )


def test_registration_refuses_recording_without_its_legal_basis() -> None:
    problems = check_camera_registration(
        _camera(enabled=True, retain_hours=24), dt.date(2025, 6, 1)
    )
    assert problems == [
        "camera 'cam-1': recording.enabled needs recording.legal_basis (the reference that "
        "allows recording; the analysis basis does not cover it)"
    ]
    ok = _camera(enabled=True, retain_hours=24, legal_basis="Bylaw 4")
    assert check_camera_registration(ok, dt.date(2025, 6, 1)) == []
    assert check_camera_registration(ok, dt.date(2025, 6, 1), max_record_hours=12) != []


@pytest.mark.parametrize(
    ("used", "state"),
    [(0, "ok"), (89, "ok"), (90, "warning"), (100, "warning"), (101, "over")],
)
def test_budget_state(used: int, state: str) -> None:
    assert budget_state(used, 100, 0.9) == state


@pytest.mark.parametrize(
    ("sizes", "used", "count"),
    [
        ([10, 10, 10], 100, 0),  # within the budget
        ([10, 10, 10], 101, 1),
        ([10, 10, 10], 110, 1),
        ([10, 10, 10], 111, 2),
        ([10, 10, 10], 200, 3),  # not enough to delete: all go
        ([], 200, 0),
    ],
)
def test_oldest_to_delete(sizes: list[int], used: int, count: int) -> None:
    assert oldest_to_delete(sizes, used, 100) == count


def test_cutoff_and_bad_inputs() -> None:
    assert recording_cutoff(NOW, 24) == NOW - dt.timedelta(days=1)
    with pytest.raises(ValueError):
        recording_cutoff(dt.datetime(2025, 6, 1), 24)
    with pytest.raises(ValueError):
        recording_cutoff(NOW, 0)
    with pytest.raises(ValueError):
        budget_state(1, 0, 0.9)
