from __future__ import annotations

import datetime as dt

import pytest

from citywatch.policy.authorisation import (
    URGENT_CONFIRMATION_WINDOW,
    AuthorisationFacts,
    authorisation_is_live,
    covers_camera,
    may_recognise_faces,
)
from citywatch.policy.register import CameraFacts

T0 = dt.datetime(2025, 6, 1, 0, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)


def auth(**kw: object) -> AuthorisationFacts:
    base: dict[str, object] = {
        "reference": "W-1",
        "starts_at": T0,
        "ends_at": T0 + 240 * H,
        "scope_cameras": frozenset({"cam-1"}),
        "scope_zones": frozenset({"north"}),
    }
    base.update(kw)
    return AuthorisationFacts(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("facts", "now", "live", "says"),
    [
        (auth(), T0, True, "live until"),
        (auth(), T0 - H, False, "starts at"),
        (auth(), T0 + 240 * H, False, "ended at"),  # the end is exclusive
        (auth(), T0 + 239 * H, True, "live"),
        (auth(status="revoked"), T0 + H, False, "is revoked"),
        (auth(urgent=True), T0 + H, True, "urgent, confirm by"),
        (auth(urgent=True), T0 + URGENT_CONFIRMATION_WINDOW, False, "was not confirmed"),
        (
            auth(urgent=True, confirmed_at=T0 + 2 * H),
            T0 + URGENT_CONFIRMATION_WINDOW + H,
            True,
            "urgent, confirmed",
        ),
        # a confirmation dated after "now" does not count yet
        (auth(urgent=True, confirmed_at=T0 + 100 * H), T0 + 50 * H, False, "not confirmed"),
    ],
)
def test_authorisation_is_live(
    facts: AuthorisationFacts, now: dt.datetime, live: bool, says: str
) -> None:
    decision = authorisation_is_live(facts, now)
    assert decision.allowed is live
    assert says in decision.reason
    assert "'W-1'" in decision.reason


def test_live_refuses_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        authorisation_is_live(auth(), dt.datetime(2025, 6, 1))


@pytest.mark.parametrize(
    ("facts", "camera_id", "zone", "covered"),
    [
        (auth(), "cam-1", "", True),
        (auth(), "cam-2", "north", True),
        (auth(), "cam-2", "south", False),
        (auth(), "cam-2", "", False),
        (auth(scope_zones=frozenset({""})), "cam-2", "", False),  # an empty zone covers nothing
        (auth(scope_cameras=frozenset(), scope_zones=frozenset()), "cam-1", "north", False),
    ],
)
def test_covers_camera(facts: AuthorisationFacts, camera_id: str, zone: str, covered: bool) -> None:
    assert covers_camera(facts, camera_id, zone) is covered


CAM = CameraFacts.of("cam-1", ["face"], "Act 1", "DPIA-1", dt.date(2025, 1, 1), zone="north")


@pytest.mark.parametrize(
    ("camera", "auths", "allowed", "says"),
    [
        (CAM, [auth()], True, "live"),
        (CAM, [], False, "no authorisation covers it"),
        (CAM, [auth(scope_cameras=frozenset({"x"}), scope_zones=frozenset())], False, "covers"),
        (CAM, [auth(status="revoked")], False, "no live authorisation"),
        (CAM, [auth(status="revoked"), auth(reference="W-2")], True, "'W-2'"),
        (
            CameraFacts.of("cam-1", ["plate"], "Act 1", "DPIA-1", dt.date(2025, 1, 1)),
            [auth()],
            False,
            "purpose 'face' is not registered",
        ),
        (
            CameraFacts.of("cam-1", ["face"], "", "DPIA-1", dt.date(2025, 1, 1)),
            [auth()],
            False,
            "missing legal_basis",
        ),
    ],
)
def test_may_recognise_faces(
    camera: CameraFacts, auths: list[AuthorisationFacts], allowed: bool, says: str
) -> None:
    decision = may_recognise_faces(camera, auths, T0 + H)
    assert decision.allowed is allowed
    assert says in decision.reason
