"""When a search by vehicle is allowed (issue 20): a table of cases."""

from __future__ import annotations

import datetime as dt

import pytest

from citywatch.policy.vehicle_search import MAX_VEHICLE_SPAN, may_search_vehicles

T0 = dt.datetime(2026, 11, 20, 6, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)


@pytest.mark.parametrize(
    ("case", "allowed", "why"),
    [
        ({"has_pattern": True}, True, "a plate search"),
        ({"has_pattern": True, "colour": "white"}, True, "narrowed"),
        ({"colour": "white", "camera_id": "c", "since": T0, "until": T0 + 6 * H}, True, "short"),
        ({"kind": "car", "zone": "north", "since": T0, "until": T0 + 24 * H}, True, "short"),
        ({}, False, "name a vehicle type or colour"),
        ({"colour": "white"}, False, "camera or a zone"),
        ({"colour": "white", "since": T0, "until": T0 + H}, False, "camera or a zone"),
        ({"colour": "white", "camera_id": "c"}, False, "needs a period"),
        ({"colour": "white", "camera_id": "c", "since": T0}, False, "needs a period"),
        ({"colour": "white", "camera_id": "c", "since": T0, "until": T0}, False, "ends before"),
        ({"kind": "car", "camera_id": "c", "since": T0, "until": T0 + 25 * H}, False, "24 hours"),
    ],
)
def test_may_search_vehicles(case: dict[str, object], allowed: bool, why: str) -> None:
    args: dict[str, object] = {
        "has_pattern": False, "kind": None, "colour": None, "camera_id": None, "zone": None,
        "since": None, "until": None,
    }  # fmt: skip
    args.update(case)
    got = may_search_vehicles(**args)  # type: ignore[arg-type]
    assert (got.allowed, why in got.reason) == (allowed, True), got.reason


def test_the_span_is_a_parameter() -> None:
    args = {"has_pattern": False, "kind": "car", "colour": None, "camera_id": "c", "zone": None}
    assert may_search_vehicles(**args, since=T0, until=T0 + 2 * H, max_span=H).allowed is False  # type: ignore[arg-type]
    assert MAX_VEHICLE_SPAN == 24 * H
