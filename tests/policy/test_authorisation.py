from __future__ import annotations

import datetime as dt

import pytest

from citywatch.policy.authorisation import (
    URGENT_CONFIRMATION_WINDOW,
    AuthorisationFacts,
    AuthorisationState,
    LifecycleAction,
    authorisation_is_live,
    authorisation_state,
    confirmation_deadline,
    covers_camera,
    lifecycle_action,
    may_confirm,
    may_recognise_faces,
    may_refuse,
    may_use_for_watchlists,
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


S = AuthorisationState
A = LifecycleAction
U = dict(urgent=True)


def test_the_urgent_window_is_24_hours() -> None:
    assert URGENT_CONFIRMATION_WINDOW == 24 * H
    assert confirmation_deadline(auth(urgent=True)) == T0 + 24 * H
    assert confirmation_deadline(auth()) is None


@pytest.mark.parametrize(
    ("facts", "now", "state", "action", "says"),
    [
        (auth(), T0 - H, S.SCHEDULED, A.KEEP, "starts at"),
        (auth(), T0, S.LIVE, A.KEEP, "live until"),
        (auth(), T0 + 240 * H, S.EXPIRED, A.DESTROY_WATCHLISTS, "ended at"),
        (auth(status="revoked"), T0 + H, S.REVOKED, A.DESTROY_WATCHLISTS, "is revoked"),
        (auth(status="revoked"), T0 - H, S.REVOKED, A.DESTROY_WATCHLISTS, "is revoked"),
        # urgent: live without confirmation for 24 h after its start, then void
        (auth(**U), T0 - H, S.SCHEDULED, A.KEEP, "starts at"),
        (auth(**U), T0 + 23 * H, S.AWAITING_CONFIRMATION, A.KEEP, "confirm by"),
        (auth(**U), T0 + 24 * H, S.LAPSED, A.PURGE, "not confirmed by"),
        (auth(**U), T0 + 500 * H, S.LAPSED, A.PURGE, "not confirmed by"),
        (auth(**U, status="revoked"), T0 + H, S.REFUSED, A.PURGE, "refused"),
        (auth(**U, status="revoked"), T0 + 500 * H, S.REFUSED, A.PURGE, "refused"),
        # confirmed in time: an ordinary authorisation from then on
        (auth(**U, confirmed_at=T0 + 2 * H), T0 + 3 * H, S.LIVE, A.KEEP, "urgent, confirmed"),
        (auth(**U, confirmed_at=T0 + 2 * H), T0 + 100 * H, S.LIVE, A.KEEP, "confirmed"),
        (
            auth(**U, confirmed_at=T0 + 2 * H),
            T0 + 240 * H,
            S.EXPIRED,
            A.DESTROY_WATCHLISTS,
            "ended",
        ),
        (
            auth(**U, confirmed_at=T0 + 2 * H, status="revoked"),
            T0 + 5 * H,
            S.REVOKED,
            A.DESTROY_WATCHLISTS,
            "is revoked",
        ),
        # a confirmation dated at or after the deadline does not save it
        (auth(**U, confirmed_at=T0 + 24 * H), T0 + 30 * H, S.LAPSED, A.PURGE, "not confirmed"),
        # a confirmation dated after "now" does not count yet
        (auth(**U, confirmed_at=T0 + 5 * H), T0 + 4 * H, S.AWAITING_CONFIRMATION, A.KEEP, "by"),
        # an urgent one that ends before its deadline: watchlists go at the end, the rest
        # at the deadline unless it is confirmed in time
        (
            auth(**U, ends_at=T0 + 12 * H),
            T0 + 13 * H,
            S.EXPIRED,
            A.DESTROY_WATCHLISTS,
            "ended",
        ),
        (auth(**U, ends_at=T0 + 12 * H), T0 + 24 * H, S.LAPSED, A.PURGE, "not confirmed"),
    ],
)
def test_state_and_lifecycle_action(
    facts: AuthorisationFacts,
    now: dt.datetime,
    state: AuthorisationState,
    action: LifecycleAction,
    says: str,
) -> None:
    got = authorisation_state(facts, now)
    assert got.state is state
    assert says in got.reason and "'W-1'" in got.reason
    act, why = lifecycle_action(facts, now)
    assert act is action and why == got
    live = authorisation_is_live(facts, now)
    assert live.allowed is (state in (S.LIVE, S.AWAITING_CONFIRMATION))
    usable = may_use_for_watchlists(facts, now)
    assert usable.allowed is (state in (S.LIVE, S.AWAITING_CONFIRMATION, S.SCHEDULED))


@pytest.mark.parametrize(
    ("facts", "now", "allowed", "says"),
    [
        (auth(**U), T0 + H, True, "may be confirmed until"),
        (auth(**U), T0 - H, True, "may be confirmed"),  # before it starts
        (auth(**U), T0 + 24 * H - dt.timedelta(seconds=1), True, "may be confirmed"),
        (auth(**U), T0 + 24 * H, False, "deadline"),
        (auth(), T0 + H, False, "not urgent"),
        (auth(**U, confirmed_at=T0 + H), T0 + 2 * H, False, "already confirmed"),
        (auth(**U, status="revoked"), T0 + 2 * H, False, "refused or revoked"),
    ],
)
def test_may_confirm(facts: AuthorisationFacts, now: dt.datetime, allowed: bool, says: str) -> None:
    decision = may_confirm(facts, now)
    assert decision.allowed is allowed
    assert says in decision.reason


@pytest.mark.parametrize(
    ("facts", "allowed", "says"),
    [
        (auth(**U), True, "may be refused"),
        (auth(), False, "revoke it instead"),
        (auth(**U, confirmed_at=T0 + H), False, "revoke it instead"),
        (auth(**U, status="revoked"), False, "already revoked"),
    ],
)
def test_may_refuse(facts: AuthorisationFacts, allowed: bool, says: str) -> None:
    decision = may_refuse(facts, T0 + 2 * H)
    assert decision.allowed is allowed
    assert says in decision.reason


def test_policies_refuse_naive_times() -> None:
    naive = dt.datetime(2025, 6, 1)
    for fn in (authorisation_state, may_confirm, may_refuse, lifecycle_action):
        with pytest.raises(ValueError, match="timezone-aware"):
            fn(auth(urgent=True), naive)
