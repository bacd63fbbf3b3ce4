"""Authorisation and registration policy, word for word and at the edges: reasons in full, a
caller's confirmation window honoured everywhere it is passed, a confirmation at the very
moment of ``now``, the scope matched by camera and by zone, the UTC day whatever the server's
zone.  (Found by mutation testing: see docs/mutation.md.)"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from citywatch.config.camera import CameraConfig
from citywatch.policy.authorisation import (
    AuthorisationFacts,
    AuthorisationState,
    LifecycleAction,
    authorisation_is_live,
    authorisation_state,
    lifecycle_action,
    may_confirm,
    may_recognise_faces,
    may_refuse,
    may_use_for_watchlists,
)
from citywatch.policy.decision import Decision
from citywatch.policy.register import CameraFacts, camera_may_analyse, check_camera_registration

T0 = dt.datetime(2025, 6, 1, 0, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)
NAIVE = T0.replace(tzinfo=None)
S = AuthorisationState


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


URGENT = auth(urgent=True)


def at(hours: float) -> str:
    return (T0 + hours * H).isoformat()


@pytest.mark.parametrize(
    "call",
    [
        lambda: authorisation_state(auth(), NAIVE),
        lambda: may_confirm(URGENT, NAIVE),
        lambda: may_refuse(URGENT, NAIVE),
    ],
)
def test_a_naive_now_is_refused_by_name(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match=r"^now must be timezone-aware$"):
        call()


def test_a_short_confirmation_window_passed_by_the_caller_counts_everywhere() -> None:
    """Two hours after the start, an urgent authorisation with a one-hour window has lapsed
    (with the default 24 hours it would still await confirmation)."""
    now, window = T0 + 2 * H, H
    lapsed = f"authorisation 'W-1' is urgent and was not confirmed by {at(1)}"
    assert authorisation_state(URGENT, now, window).state is S.LAPSED
    assert authorisation_is_live(URGENT, now, urgent_window=window) == Decision(False, lapsed)
    assert may_use_for_watchlists(URGENT, now, window) == Decision(False, lapsed)
    assert lifecycle_action(URGENT, now, window)[0] is LifecycleAction.PURGE
    assert may_confirm(URGENT, now, window) == Decision(
        False,
        f"authorisation 'W-1': the confirmation deadline {at(1)} has passed; it is void "
        "and what was made under it is deleted (record a new authorisation instead)",
    )
    # confirmed after the one-hour deadline: too late, whatever the default would say
    late = auth(urgent=True, confirmed_at=T0 + 2 * H)
    assert authorisation_state(late, T0 + 3 * H, window).state is S.LAPSED
    # and the default: still awaiting, usable, kept
    assert authorisation_is_live(URGENT, now).allowed
    assert may_use_for_watchlists(URGENT, now) == Decision(
        True, f"authorisation 'W-1' is live (urgent, confirm by {at(24)})"
    )
    assert lifecycle_action(URGENT, now)[0] is LifecycleAction.KEEP


def test_a_long_confirmation_window_keeps_a_late_confirmation_valid() -> None:
    confirmed = auth(urgent=True, confirmed_at=T0 + 30 * H)
    state = authorisation_state(confirmed, T0 + 31 * H, 48 * H)
    assert (
        state.state is S.LIVE and state.reason == "authorisation 'W-1' is live (urgent, confirmed)"
    )


def test_a_confirmation_counts_from_the_moment_it_was_given() -> None:
    confirmed = auth(urgent=True, confirmed_at=T0 + 2 * H)
    assert authorisation_state(confirmed, T0 + 2 * H).state is S.LIVE
    assert authorisation_state(confirmed, T0 + 2 * H - dt.timedelta(seconds=1)).state is (
        S.AWAITING_CONFIRMATION
    )


@pytest.mark.parametrize(
    ("facts", "now", "reason"),
    [
        (URGENT, T0 + H, f"authorisation 'W-1' may be confirmed until {at(24)}"),
        (auth(), T0 + H, "authorisation 'W-1' is not urgent: nothing to confirm"),
        (auth(urgent=True, confirmed_at=T0 + H), T0 + 2 * H,
         f"authorisation 'W-1' was already confirmed at {at(1)}"),
        (auth(urgent=True, status="refused"), T0 + H,
         "authorisation 'W-1' was refused or revoked (refused)"),
    ],
)  # fmt: skip
def test_may_confirm_reasons_in_full(
    facts: AuthorisationFacts, now: dt.datetime, reason: str
) -> None:
    assert may_confirm(facts, now).reason == reason


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        (URGENT, "authorisation 'W-1' may be refused"),
        (auth(), "authorisation 'W-1' is not urgent: revoke it instead of refusing it"),
        (auth(urgent=True, confirmed_at=T0 + H),
         f"authorisation 'W-1' was confirmed at {at(1)}: revoke it instead"),
        (auth(urgent=True, status="revoked"), "authorisation 'W-1' is already revoked"),
    ],
)  # fmt: skip
def test_may_refuse_reasons_in_full(facts: AuthorisationFacts, reason: str) -> None:
    assert may_refuse(facts, T0 + 2 * H).reason == reason


CAM = CameraFacts.of("cam-1", ["face"], "Act 1", "DPIA-1", dt.date(2025, 1, 1), zone="north")
LIVE_UNTIL = f"camera 'cam-1': authorisation 'W-1' is live until {at(240)}"
ELSEWHERE = auth(reference="W-0", scope_cameras=frozenset({"cam-9"}), scope_zones=frozenset())


@pytest.mark.parametrize(
    ("auths", "reason"),
    [
        # a first authorisation that does not cover the camera does not end the search
        ([ELSEWHERE, auth()], LIVE_UNTIL),
        # covered by its id alone, and by its zone alone
        ([auth(scope_zones=frozenset())], LIVE_UNTIL),
        ([auth(scope_cameras=frozenset())], LIVE_UNTIL),
        ([auth(status="revoked"), auth(reference="W-2", status="expired")],
         "camera 'cam-1': no live authorisation (authorisation 'W-1' is revoked; "
         "authorisation 'W-2' is expired)"),
        ([ELSEWHERE], "camera 'cam-1': no authorisation covers it"),
    ],
)  # fmt: skip
def test_may_recognise_faces_reasons_in_full(auths: list[AuthorisationFacts], reason: str) -> None:
    assert may_recognise_faces(CAM, auths, T0 + H).reason == reason


# ------------------------------------------------------------------------------ registration


def facts(**kw: object) -> CameraFacts:
    base: dict[str, object] = {
        "id": "cam-1",
        "purposes": ["face", "plate"],
        "legal_basis": "Act 12 s.3",
        "impact_assessment": "DPIA-7",
        "approved_on": dt.date(2025, 1, 1),
    }
    base.update(kw)
    return CameraFacts.of(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("camera", "purpose", "reason"),
    [
        (facts(), "face", "camera 'cam-1': registered for 'face' under Act 12 s.3"),
        (facts(), "speed",
         "camera 'cam-1': purpose 'speed' is not registered (registered: face, plate)"),
        (facts(impact_assessment="  "), "face", "camera 'cam-1': missing impact_assessment"),
        (facts(legal_basis="\t"), "face", "camera 'cam-1': missing legal_basis"),
    ],
)  # fmt: skip
def test_camera_may_analyse_reasons_in_full(camera: CameraFacts, purpose: str, reason: str) -> None:
    assert camera_may_analyse(camera, purpose, T0 + H).reason == reason


def test_camera_facts_keep_the_id_and_default_to_no_zone() -> None:
    f = CameraFacts.of("cam-7", ["plate"], "Act", "DPIA", None)
    assert (f.id, f.zone) == ("cam-7", "")
    cfg = CameraConfig.model_validate(
        {"id": "cam-8", "url": "x.mp4", "purposes": ["plate"], "legal_basis": "Act",
         "impact_assessment": "DPIA", "approved_on": "2025-06-01"}
    )  # fmt: skip
    assert CameraFacts.from_config(cfg).id == "cam-8"
    # approved today: not in the future
    assert check_camera_registration(cfg, today=dt.date(2025, 6, 1)) == []


def test_the_approval_day_is_the_utc_day_whatever_the_servers_zone(
    far_east_server: None,
) -> None:
    noon = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
    assert noon.astimezone().date() == dt.date(2025, 6, 2)  # the server's zone is in effect
    decision = camera_may_analyse(facts(approved_on=dt.date(2025, 6, 2)), "face", noon)
    assert decision == Decision(False, "camera 'cam-1': approved_on 2025-06-02 is in the future")
    with pytest.raises(ValueError, match=r"^policy times must be timezone-aware$"):
        camera_may_analyse(facts(), "face", noon.replace(tzinfo=None))
