from __future__ import annotations

import datetime as dt

import pytest

from citywatch.config.camera import CameraConfig
from citywatch.policy.register import CameraFacts, camera_may_analyse, check_camera_registration

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
GOOD = CameraFacts.of("cam-1", ["face", "plate"], "Act 12 s.3", "DPIA-7", dt.date(2025, 1, 1))


def facts(**kw: object) -> CameraFacts:
    base = {
        "id": "cam-1",
        "purposes": ["face", "plate"],
        "legal_basis": "Act 12 s.3",
        "impact_assessment": "DPIA-7",
        "approved_on": dt.date(2025, 1, 1),
    }
    base.update(kw)
    return CameraFacts.of(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("camera", "purpose", "allowed", "says"),
    [
        (GOOD, "face", True, "registered for 'face'"),
        (GOOD, "plate", True, "registered for 'plate'"),
        (facts(purposes=["plate"]), "face", False, "purpose 'face' is not registered"),
        (facts(purposes=[]), "plate", False, "registered: none"),
        (facts(legal_basis=""), "face", False, "missing legal_basis"),
        (facts(legal_basis="   "), "face", False, "missing legal_basis"),
        (facts(impact_assessment=""), "plate", False, "missing impact_assessment"),
        (facts(approved_on=None), "plate", False, "missing approved_on"),
        (facts(approved_on=dt.date(2025, 6, 2)), "plate", False, "in the future"),
        (facts(approved_on=dt.date(2025, 6, 1)), "plate", True, "registered"),
        (facts(purposes=["face"]), "speed", False, "not registered"),
    ],
)
def test_camera_may_analyse(camera: CameraFacts, purpose: str, allowed: bool, says: str) -> None:
    decision = camera_may_analyse(camera, purpose, NOW)
    assert decision.allowed is allowed
    assert bool(decision) is allowed
    assert says in decision.reason
    assert "'cam-1'" in decision.reason


def test_camera_may_analyse_uses_the_utc_day() -> None:
    # 23:30 on 31 May in UTC-5 is already 1 June in UTC: an approval dated 1 June counts.
    late = dt.datetime(2025, 5, 31, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert camera_may_analyse(facts(approved_on=dt.date(2025, 6, 1)), "face", late).allowed


def test_camera_may_analyse_refuses_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        camera_may_analyse(GOOD, "face", dt.datetime(2025, 6, 1))


def cfg(**kw: object) -> CameraConfig:
    base: dict[str, object] = {
        "id": "cam-3",
        "url": "rtsp://user:pw@10.0.0.3/stream",
        "purposes": ["plate"],
        "legal_basis": "Act 12",
        "impact_assessment": "DPIA-1",
        "approved_on": "2025-01-01",
    }
    base.update(kw)
    return CameraConfig.model_validate(base)


@pytest.mark.parametrize(
    ("changes", "problems"),
    [
        ({}, []),
        ({"legal_basis": ""}, ["camera 'cam-3': missing legal_basis"]),
        ({"impact_assessment": " "}, ["camera 'cam-3': missing impact_assessment"]),
        ({"approved_on": None}, ["camera 'cam-3': missing approved_on"]),
        ({"purposes": []}, ["camera 'cam-3': no purposes registered (face, plate)"]),
        (
            {"legal_basis": "", "impact_assessment": ""},
            ["camera 'cam-3': missing legal_basis", "camera 'cam-3': missing impact_assessment"],
        ),
        (
            {"withhold_location": "protects a shelter"},
            ["camera 'cam-3': withhold_location is given but there is no zone to publish"],
        ),
        ({"withhold_location": "protects a shelter", "zone": "north"}, []),
    ],
)
def test_check_camera_registration(changes: dict[str, object], problems: list[str]) -> None:
    assert check_camera_registration(cfg(**changes)) == problems


def test_check_camera_registration_future_approval_needs_today() -> None:
    future = cfg(approved_on="2030-01-01")
    assert check_camera_registration(future) == []
    assert check_camera_registration(future, today=dt.date(2025, 6, 1)) == [
        "camera 'cam-3': approved_on 2030-01-01 is in the future"
    ]


def test_facts_from_config() -> None:
    f = CameraFacts.from_config(cfg(purposes=["face", "plate"], zone="north"))
    assert f.purposes == frozenset({"face", "plate"})
    assert f.zone == "north"
    assert camera_may_analyse(f, "face", NOW).allowed
