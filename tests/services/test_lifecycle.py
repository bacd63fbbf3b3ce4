"""The authorisation lifecycle: void urgent authorisations lose everything made under them;
ended ones lose their watchlists.  Times are passed in (no sleeping)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from citywatch.audit.chain import entries, verify
from citywatch.policy.authorisation import AuthorisationState, LifecycleAction
from citywatch.services.authorisations import (
    confirm_authorisation,
    get_authorisation,
    refuse_authorisation,
    revoke_authorisation,
)
from citywatch.services.common import PermissionDenied
from citywatch.services.enrolment import enrol_subject
from citywatch.services.events import EventRecorder
from citywatch.services.lifecycle import LifecycleSweeper
from citywatch.services.watchlists import create_watchlist, list_watchlists
from citywatch.store.media import MediaStore
from citywatch.store.models import AlertRow, SubjectEmbeddingRow, SubjectRow, WatchlistRow
from tests.services.helpers import (
    ADMIN,
    NOW,
    add_authorisation,
    add_camera,
    audit_actions,
    audit_count,
    face_match,
    fake_embed_faces,
    photo,
)

H = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


@dataclass
class Made:
    """What was made under one authorisation: ids and the media files."""

    watchlist: str
    alerts: list[int]
    snapshots: list[str]
    photos: list[str]


def make_under(
    session: Session,
    factory: sessionmaker[Session],
    media: MediaStore,
    ref: str,
    *,
    camera: str,
    wl: str,
    seed: int,
) -> Made:
    """A watchlist with two subjects (three photos) and two face alerts, under ``ref``."""
    row = create_watchlist(session, ADMIN, wl, ref, now=NOW)
    photos: list[str] = []
    subjects = []
    for i, name in enumerate(("Jane Roe", "John Doe")):
        shots = [(f"{name}-{k}.jpg", photo(1, seed + 2 * i + k)) for k in range(2 - i)]
        r = enrol_subject(
            session, media, ADMIN, wl, name, shots, fake_embed_faces, "case 7", "police", now=NOW
        )
        photos += r.photo_paths
        subjects.append(r.subject_id)
    rec = EventRecorder(factory, media, lambda _r: None, lambda _e: None, clock=lambda: NOW)
    alerts = [
        rec.record_face_match(
            face_match(
                camera_id=camera,
                track_id=seed * 10 + k,
                first_seen_s=float(k),
                subject_id=sid,
                watchlist_id=row.id,
            )
        )
        for k, sid in enumerate(subjects)
    ]
    assert all(a is not None for a in alerts)
    snaps = [
        str(p)
        for p in session.scalars(select(AlertRow.snapshot_path).where(AlertRow.id.in_(alerts)))
    ]
    assert len(snaps) == 2 and all(media.path(p).is_file() for p in snaps + photos)
    return Made(wl, [a for a in alerts if a is not None], snaps, photos)


@pytest.fixture
def world(
    session: Session, session_factory: sessionmaker[Session], media: MediaStore
) -> dict[str, Made]:
    """U-1: urgent, started an hour before NOW, unconfirmed.  W-1: a regular one (30 days)."""
    add_camera(session, "cam-1")
    add_camera(session, "cam-2", zone="south")
    add_authorisation(session, "U-1", cameras=("cam-1",), urgent=True, starts=NOW - H)
    add_authorisation(session, "W-1", cameras=("cam-2",))
    return {
        "U-1": make_under(session, session_factory, media, "U-1", camera="cam-1", wl="u", seed=1),
        "W-1": make_under(session, session_factory, media, "W-1", camera="cam-2", wl="w", seed=50),
    }


def count(session: Session, model: Any, *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def wl_id(session: Session, name: str) -> int | None:
    return session.scalar(select(WatchlistRow.id).where(WatchlistRow.name == name))


def assert_gone(session: Session, media: MediaStore, made: Made) -> None:
    session.expire_all()
    assert count(session, AlertRow, AlertRow.id.in_(made.alerts)) == 0
    assert wl_id(session, made.watchlist) is None
    assert not any(media.path(p).exists() for p in made.snapshots + made.photos)


def assert_kept(session: Session, media: MediaStore, made: Made) -> None:
    session.expire_all()
    assert count(session, AlertRow, AlertRow.id.in_(made.alerts)) == 2
    wid = wl_id(session, made.watchlist)
    assert wid is not None
    assert count(session, SubjectRow, SubjectRow.watchlist_id == wid) == 2
    assert all(media.path(p).is_file() for p in made.snapshots + made.photos)


PURGED = {
    "alerts": 2,
    "snapshots": 2,
    "watchlists": 1,
    "subjects": 2,
    "embeddings": 3,
    "photos": 3,
}


def test_unconfirmed_urgent_authorisation_is_purged_after_24_hours(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    world: dict[str, Made],
) -> None:
    sweeper = LifecycleSweeper(session_factory, media)
    before = sweeper.run(NOW + 22 * H)  # still within its 24 hours: nothing happens
    assert before.items == () and before.lapsed == () and before.errors == ()
    assert_kept(session, media, world["U-1"])

    report = sweeper.run(NOW + 23 * H + dt.timedelta(seconds=1))  # 24 h after its start
    assert report.errors == () and report.lapsed == ("U-1",)
    (item,) = report.items
    assert item.target == "authorisation:U-1" and item.action is LifecycleAction.PURGE
    assert item.state is AuthorisationState.LAPSED
    assert item.report.counts.as_details() == PURGED
    assert item.report.files_deleted == 5 and item.report.files_failed == ()
    assert_gone(session, media, world["U-1"])
    assert count(session, SubjectEmbeddingRow) == 3  # only W-1's remain
    assert_kept(session, media, world["W-1"])
    assert get_authorisation(session, "U-1").status == "revoked"

    last = list(entries(session))[-1]
    assert last.action == "authorisation.lapse" and last.target == "authorisation:U-1"
    assert last.actor == "system:lifecycle" and last.details["deleted"] == PURGED
    assert "not confirmed by" in (last.reason or "")
    assert verify(session).ok

    n = audit_count(session)
    again = sweeper.run(NOW + 30 * H)  # idempotent: nothing left, nothing audited
    assert again.items == () and again.lapsed == () and audit_count(session) == n
    with pytest.raises(PermissionDenied, match="deadline"):
        confirm_authorisation(session, ADMIN, "U-1", now=NOW + 30 * H)


def test_refused_urgent_authorisation_is_purged_at_once(
    session: Session, media: MediaStore, world: dict[str, Made]
) -> None:
    report = refuse_authorisation(
        session, media, ADMIN, "U-1", reason="judge refused", now=NOW + 2 * H
    )
    assert report.counts.as_details() == PURGED and report.files_deleted == 5
    assert_gone(session, media, world["U-1"])
    assert_kept(session, media, world["W-1"])
    last = list(entries(session))[-1]
    assert last.action == "authorisation.refuse" and last.reason == "judge refused"
    assert last.details == {"deleted": PURGED}
    assert verify(session).ok
    with pytest.raises(PermissionDenied, match="already revoked"):
        refuse_authorisation(session, media, ADMIN, "U-1", reason="again", now=NOW + 3 * H)
    with pytest.raises(PermissionDenied, match="not urgent"):
        refuse_authorisation(session, media, ADMIN, "W-1", reason="no", now=NOW + 3 * H)


def test_revoking_an_unconfirmed_urgent_one_is_a_refusal_for_the_sweep(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    world: dict[str, Made],
) -> None:
    revoke_authorisation(session, ADMIN, "U-1", reason="withdrawn")
    report = LifecycleSweeper(session_factory, media).run(NOW + 2 * H)
    (item,) = report.items
    assert item.state is AuthorisationState.REFUSED and report.lapsed == ()
    assert_gone(session, media, world["U-1"])
    assert audit_actions(session)[-1] == "authorisation.purge"


def test_confirmed_urgent_authorisation_keeps_everything(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    world: dict[str, Made],
) -> None:
    confirm_authorisation(session, ADMIN, "U-1", now=NOW + 20 * H)
    n = audit_count(session)
    report = LifecycleSweeper(session_factory, media).run(NOW + 5 * DAY)
    assert report.items == () and report.lapsed == () and audit_count(session) == n
    assert_kept(session, media, world["U-1"])
    assert_kept(session, media, world["W-1"])
    with pytest.raises(PermissionDenied, match=r"confirmed .* revoke it instead"):
        refuse_authorisation(session, media, ADMIN, "U-1", reason="x", now=NOW + 5 * DAY)


def test_watchlists_are_destroyed_when_their_authorisation_expires(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    world: dict[str, Made],
) -> None:
    confirm_authorisation(session, ADMIN, "U-1", now=NOW + H)
    sweeper = LifecycleSweeper(session_factory, media)
    assert sweeper.run(NOW + 29 * DAY).items == ()  # both still live
    report = sweeper.run(NOW + 31 * DAY)  # both ended
    assert report.errors == ()
    assert sorted(i.target for i in report.items) == ["watchlist:u", "watchlist:w"]
    for item in report.items:
        assert item.action is LifecycleAction.DESTROY_WATCHLISTS
        assert item.state is AuthorisationState.EXPIRED
        assert item.report.counts.as_details() == {
            "alerts": 0,
            "snapshots": 0,
            "watchlists": 1,
            "subjects": 2,
            "embeddings": 3,
            "photos": 3,
        }
    session.expire_all()
    assert count(session, SubjectRow) == 0 and count(session, SubjectEmbeddingRow) == 0
    for made in world.values():
        assert not any(media.path(p).exists() for p in made.photos)
        # the alerts stay (retention decides), still naming who and which list
        assert all(media.path(p).is_file() for p in made.snapshots)
        kept = session.scalars(select(AlertRow).where(AlertRow.id.in_(made.alerts))).all()
        assert len(kept) == 2 and all(a.subject_id is None and a.subject_name for a in kept)
    assert {w.name: w.subjects for w in list_watchlists(session)} == {"u": 0, "w": 0}
    destroyed = [e for e in entries(session) if e.action == "watchlist.destroy"]
    assert {e.target for e in destroyed} == {"watchlist:u", "watchlist:w"}
    assert all(e.details["deleted"]["embeddings"] == 3 for e in destroyed)
    n = audit_count(session)
    assert sweeper.run(NOW + 32 * DAY).items == () and audit_count(session) == n
    assert verify(session).ok


def test_revoked_regular_authorisation_loses_its_watchlists_not_its_alerts(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    world: dict[str, Made],
) -> None:
    revoke_authorisation(session, ADMIN, "W-1", reason="case closed")
    report = LifecycleSweeper(session_factory, media).run(NOW + H)
    (item,) = report.items
    assert item.target == "watchlist:w" and item.state is AuthorisationState.REVOKED
    session.expire_all()
    assert count(session, AlertRow, AlertRow.id.in_(world["W-1"].alerts)) == 2
    assert count(session, SubjectRow, SubjectRow.watchlist_id == wl_id(session, "w")) == 0
    assert_kept(session, media, world["U-1"])


def test_dry_run_counts_but_deletes_nothing(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    world: dict[str, Made],
) -> None:
    n = audit_count(session)
    report = LifecycleSweeper(session_factory, media).run(NOW + 2 * DAY, dry_run=True)
    assert report.dry_run and report.lapsed == ("U-1",)
    (item,) = report.items
    assert item.report.counts.as_details() == PURGED and item.report.files_deleted == 0
    assert audit_count(session) == n
    assert_kept(session, media, world["U-1"])
    assert get_authorisation(session, "U-1").status == "active"


def test_an_unconfirmed_lapse_with_nothing_made_is_still_audited_once(
    session: Session, session_factory: sessionmaker[Session], media: MediaStore
) -> None:
    add_authorisation(session, "U-9", urgent=True, starts=NOW)
    sweeper = LifecycleSweeper(session_factory, media)
    report = sweeper.run(NOW + 2 * DAY)
    assert report.lapsed == ("U-9",) and report.totals.empty
    assert audit_actions(session)[-1] == "authorisation.lapse"
    n = audit_count(session)
    assert sweeper.run(NOW + 3 * DAY).lapsed == () and audit_count(session) == n


def test_one_failing_authorisation_does_not_stop_the_sweep(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    world: dict[str, Made],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import citywatch.services.lifecycle as lifecycle

    def broken(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(lifecycle, "purge_under", broken)
    report = LifecycleSweeper(session_factory, media).run(NOW + 31 * DAY)
    assert len(report.errors) == 1 and "disk on fire" in report.errors[0]
    assert [i.target for i in report.items] == ["watchlist:w"]  # W-1 still handled
    assert get_authorisation(session, "U-1").status == "active"  # rolled back
    assert verify(session).ok


def test_a_file_that_cannot_be_deleted_is_reported(
    session: Session,
    media: MediaStore,
    world: dict[str, Made],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stuck = world["U-1"].photos[0]
    real = media.delete

    def delete(rel: str) -> bool:
        if rel == stuck:
            raise PermissionError(13, "Permission denied")
        return real(rel)

    monkeypatch.setattr(media, "delete", delete)
    report = refuse_authorisation(session, media, ADMIN, "U-1", reason="refused", now=NOW + H)
    assert report.files_failed == (stuck,) and report.files_deleted == 4
    session.expire_all()
    assert count(session, AlertRow, AlertRow.id.in_(world["U-1"].alerts)) == 0


def test_nothing_new_can_be_made_under_a_void_authorisation(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    world: dict[str, Made],
) -> None:
    late = NOW + 2 * DAY
    with pytest.raises(PermissionDenied, match="not confirmed"):
        create_watchlist(session, ADMIN, "u2", "U-1", now=late)
    with pytest.raises(PermissionDenied, match="not confirmed"):
        enrol_subject(
            session,
            media,
            ADMIN,
            "u",
            "X",
            [("x", photo(1, 99))],
            fake_embed_faces,
            "r",
            "s",
            now=late,
        )
    rec = EventRecorder(
        session_factory, media, lambda _r: None, lambda _e: None, clock=lambda: late
    )
    with pytest.raises(PermissionDenied, match="not confirmed"):
        rec.record_face_match(face_match(track_id=999, watchlist_id=wl_id(session, "u")))
