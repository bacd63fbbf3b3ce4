"""policy/vehicle_search.py: every decision's reason word for word (the investigator reads
them as they are; the mutation run of issue 21 found them read by one phrase)."""

from __future__ import annotations

import datetime as dt

import pytest

from citywatch.policy.decision import Decision
from citywatch.policy.vehicle_search import may_search_vehicles

T0 = dt.datetime(2026, 11, 20, 6, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)
NO_PATTERN = "a search by vehicle without a plate pattern"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ({"has_pattern": True}, Decision(True, "a plate search")),
        (
            {"has_pattern": True, "kind": "car"},
            Decision(True, "a plate search narrowed by the vehicle"),
        ),
        ({}, Decision(False, "name a vehicle type or colour, or a plate pattern")),
        ({"colour": "white"}, Decision(False, f"{NO_PATTERN} must name a camera or a zone")),
        (
            {"colour": "white", "zone": "north", "until": T0},
            Decision(False, f"{NO_PATTERN} needs a period (from and until)"),
        ),
        (
            {"kind": "bus", "camera_id": "c", "since": T0, "until": T0 - H},
            Decision(False, "the period ends before it starts"),
        ),
        (
            {"kind": "bus", "camera_id": "c", "since": T0, "until": T0 + 24 * H},
            Decision(True, "a vehicle at one place within a short period"),
        ),
        (
            {"kind": "bus", "camera_id": "c", "since": T0, "until": T0 + 24 * H + H / 2},
            Decision(False, f"{NO_PATTERN} may span at most 24 hours"),
        ),
    ],
)
def test_may_search_vehicles_in_full(case: dict[str, object], expected: Decision) -> None:
    args: dict[str, object] = {
        "has_pattern": False, "kind": None, "colour": None, "camera_id": None, "zone": None,
        "since": None, "until": None,
    }  # fmt: skip
    args.update(case)
    assert may_search_vehicles(**args) == expected  # type: ignore[arg-type]
