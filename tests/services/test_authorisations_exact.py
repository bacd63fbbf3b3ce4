"""Authorisations, exactly (issue 21, mutation testing): what create, confirm, refuse and revoke
store and audit (whole entries), every refusal's message, the scope limits at their edges, and
which authorisations are live at the very start and end of their period."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from sqlalchemy.orm import Session

from citywatch.audit.chain import Actor, AuditEntry, entries, iso_utc
from citywatch.services.authorisations import (
    confirm_authorisation,
    create_authorisation,
    face_recognition_decision,
    get_authorisation,
    live_authorisations,
    refuse_authorisation,
    revoke_authorisation,
)
from citywatch.services.common import NotFoundError, PermissionDenied, ServiceError
from citywatch.services.enrolment import enrol_subject
from citywatch.services.lifecycle import DeletionCounts
from citywatch.services.watchlists import create_watchlist
from citywatch.store.media import MediaStore
from citywatch.store.models import AuthorisationRow
from tests.services.helpers import NOW, add_authorisation, add_camera, fake_embed_faces, photo

H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)
CLERK = Actor("clerk", "admin")


def _create(session: Session, reference: str = "W-9", **kw: object) -> AuthorisationRow:
    args: dict[str, object] = {
        "authority": "Court",
        "purpose": "missing person",
        "starts_at": NOW - D,
        "ends_at": NOW + D,
        "scope_cameras": ["cam-1"],
        "scope_zones": [],
    } | kw
    return create_authorisation(session, CLERK, reference, **args)  # type: ignore[arg-type]


def _refused(session: Session, error: type[Exception], **kw: object) -> str:
    before = len(list(entries(session)))
    with pytest.raises(error) as err:
        _create(session, **kw)  # type: ignore[arg-type]
    assert len(list(entries(session))) == before  # a refused create is not recorded
    return str(err.value)


def _last(session: Session) -> AuditEntry:
    return list(entries(session))[-1]


def _whole(e: AuditEntry) -> tuple[object, ...]:
    return (e.actor, e.role, e.action, e.target, e.details, e.reason)


def test_create_stores_and_audits_the_whole_authorisation(session: Session) -> None:
    row = _create(
        session,
        " W-1 ",
        authority=" District Court ",
        purpose=" missing person\n",
        scope_cameras=["cam-2", " cam-1", "cam-2", "", "  "],
        scope_zones=["south ", "north"],
        urgent=True,
    )
    stored = get_authorisation(session, "W-1")
    assert stored is row
    assert (stored.reference, stored.authority, stored.purpose) == (
        "W-1",
        "District Court",
        "missing person",
    )
    assert (stored.scope_cameras, stored.scope_zones) == (["cam-1", "cam-2"], ["north", "south"])
    assert (stored.urgent, stored.confirmed_at, stored.status) == (True, None, "active")
    assert stored.starts_at.astimezone(dt.UTC) == NOW - D
    assert stored.ends_at.astimezone(dt.UTC) == NOW + D
    assert _whole(_last(session)) == (
        "clerk",
        "admin",
        "authorisation.create",
        "authorisation:W-1",
        {
            "authority": "District Court",
            "purpose": "missing person",
            "starts_at": iso_utc(NOW - D),
            "ends_at": iso_utc(NOW + D),
            "scope_cameras": ["cam-1", "cam-2"],
            "scope_zones": ["north", "south"],
            "urgent": True,
        },
        None,
    )


def test_a_scope_of_zones_alone_and_entries_at_the_length_limit(session: Session) -> None:
    zones_only = _create(session, "W-Z", scope_cameras=[], scope_zones=["north"])
    assert (zones_only.scope_cameras, zones_only.scope_zones) == ([], ["north"])
    assert _create(session, "W-L", scope_cameras=["c" * 200]).scope_cameras == ["c" * 200]
    assert _refused(session, ServiceError, scope_cameras=["c" * 201]) == (
        "authorisation 'W-9': scope_cameras: an entry is longer than 200 characters"
    )
    assert _refused(session, ServiceError, scope_zones=["z" * 201]) == (
        "authorisation 'W-9': scope_zones: an entry is longer than 200 characters"
    )


def test_every_refused_create_says_why(session: Session) -> None:
    naive = dt.datetime(2025, 1, 1)
    assert _refused(session, ServiceError, ends_at=NOW - D) == (
        "authorisation 'W-9': ends_at must be after starts_at"
    )
    assert _refused(session, ServiceError, starts_at=NOW, ends_at=NOW) == (
        "authorisation 'W-9': ends_at must be after starts_at"
    )
    assert _refused(session, ServiceError, starts_at=naive) == (
        "authorisation 'W-9': starts_at must be a timezone-aware time, got 2025-01-01T00:00:00"
    )
    assert _refused(session, ServiceError, ends_at=naive) == (
        "authorisation 'W-9': ends_at must be a timezone-aware time, got 2025-01-01T00:00:00"
    )
    assert _refused(session, ServiceError, scope_cameras=[" "], scope_zones=[]) == (
        "authorisation 'W-9': the scope names no camera and no zone"
    )
    assert _refused(session, ServiceError, authority=" ") == (
        "authorisation 'W-9': authority is required"
    )
    assert _refused(session, ServiceError, purpose="") == "authorisation 'W-9': purpose is required"
    _create(session)
    assert _refused(session, ServiceError) == "authorisation 'W-9' already exists"
    with pytest.raises(NotFoundError) as err:
        get_authorisation(session, "nope")
    assert str(err.value) == "authorisation 'nope' does not exist"


def test_a_confirmation_is_stored_and_audited_whole(session: Session) -> None:
    _create(session, "U-1", starts_at=NOW - 2 * H, urgent=True)
    row = confirm_authorisation(session, CLERK, "U-1", now=NOW)
    assert row.confirmed_at is not None and row.confirmed_at.astimezone(dt.UTC) == NOW
    assert _whole(_last(session)) == (
        "clerk",
        "admin",
        "authorisation.confirm",
        "authorisation:U-1",
        {"deadline": iso_utc(NOW + 22 * H), "confirmed_at": iso_utc(NOW)},
        None,
    )
    before = len(list(entries(session)))
    with pytest.raises(PermissionDenied) as err:
        confirm_authorisation(session, CLERK, "U-1", now=NOW + H)
    assert str(err.value).startswith("authorisation 'U-1' was already confirmed at ")
    assert len(list(entries(session))) == before


def test_a_refusal_voids_it_deletes_what_was_made_and_is_audited_whole(
    session: Session, media: MediaStore
) -> None:
    _create(session, "U-1", starts_at=NOW - 2 * H, urgent=True)
    create_watchlist(session, CLERK, "wl-u", "U-1", now=NOW)
    enrolled = enrol_subject(
        session, media, CLERK, "wl-u", "Jane Roe", [("a", photo(1, 2))],
        fake_embed_faces, "suspect", "CCTV still", now=NOW,
    )  # fmt: skip
    with pytest.raises(ServiceError) as no_reason:
        refuse_authorisation(session, media, CLERK, "U-1", reason=" ", now=NOW)
    assert str(no_reason.value) == "refusing authorisation 'U-1': a reason is required"
    report = refuse_authorisation(session, media, CLERK, "U-1", reason=" judge refused ", now=NOW)
    counts = report.counts.as_details()
    assert report.counts == DeletionCounts(watchlists=1, subjects=1, embeddings=1, photos=1)
    assert report.files_deleted == len(enrolled.photo_paths) and report.files_failed == ()
    assert not any(media.path(p).exists() for p in enrolled.photo_paths)
    assert get_authorisation(session, "U-1").status == "revoked"
    assert _whole(_last(session)) == (
        "clerk",
        "admin",
        "authorisation.refuse",
        "authorisation:U-1",
        {"deleted": counts},
        "judge refused",
    )
    # a regular authorisation is revoked, not refused; nothing is deleted or recorded
    _create(session, "W-1")
    before = len(list(entries(session)))
    with pytest.raises(PermissionDenied) as err:
        refuse_authorisation(session, media, CLERK, "W-1", reason="r", now=NOW)
    assert str(err.value) == "authorisation 'W-1' is not urgent: revoke it instead of refusing it"
    assert len(list(entries(session))) == before
    assert get_authorisation(session, "W-1").status == "active"


def test_a_revocation_is_stored_and_audited_whole(session: Session) -> None:
    _create(session, "W-1")
    with pytest.raises(ServiceError) as err:
        revoke_authorisation(session, CLERK, "W-1", reason="")
    assert str(err.value) == "revoking authorisation 'W-1': a reason is required"
    row = revoke_authorisation(session, CLERK, "W-1", reason=" case closed ")
    assert row.status == "revoked"
    assert _whole(_last(session)) == (
        "clerk",
        "admin",
        "authorisation.revoke",
        "authorisation:W-1",
        {},
        "case closed",
    )
    with pytest.raises(ServiceError) as again:
        revoke_authorisation(session, CLERK, "W-1", reason="twice")
    assert str(again.value) == "authorisation 'W-1' is already revoked"


def test_live_at_the_first_instant_not_at_the_last_in_id_order(session: Session) -> None:
    _create(session, "W-b", starts_at=NOW, ends_at=NOW + D)
    _create(session, "W-a", starts_at=NOW - D, ends_at=NOW + 2 * D)
    assert [a.reference for a in live_authorisations(session, NOW)] == ["W-b", "W-a"]
    assert [a.reference for a in live_authorisations(session, NOW - H)] == ["W-a"]
    assert [a.reference for a in live_authorisations(session, NOW + D)] == ["W-a"]
    with pytest.raises(ServiceError) as err:
        live_authorisations(session, dt.datetime(2025, 6, 1))
    assert str(err.value) == "now must be a timezone-aware time, got 2025-06-01T00:00:00"


def test_face_recognition_decision_reads_zones_urgency_and_confirmation(
    session: Session,
) -> None:
    assert face_recognition_decision(session, "cam-9", NOW).reason == (
        "camera 'cam-9' is not registered"
    )
    add_camera(session, "cam-2", zone="south")
    _create(session, "W-z", scope_cameras=[], scope_zones=["south"])
    assert face_recognition_decision(session, "cam-2", NOW).allowed  # covered by its zone
    revoke_authorisation(session, CLERK, "W-z", reason="done")
    assert not face_recognition_decision(session, "cam-2", NOW).allowed
    # an urgent one lapses when not confirmed within a day of its start; confirmed, it holds
    add_authorisation(session, "U-1", cameras=("cam-2",), starts=NOW - 2 * H, urgent=True)
    assert face_recognition_decision(session, "cam-2", NOW).allowed
    assert not face_recognition_decision(session, "cam-2", NOW + 23 * H).allowed
    confirm_authorisation(session, CLERK, "U-1", now=NOW)
    assert face_recognition_decision(session, "cam-2", NOW + 23 * H).allowed
    assert [a.reference for a in live_authorisations(session, NOW + 23 * H)] == ["U-1"]
    with pytest.raises(ServiceError) as err:
        face_recognition_decision(session, "cam-2", dt.datetime(2025, 6, 1))
    assert str(err.value) == "now must be a timezone-aware time, got 2025-06-01T00:00:00"


def test_a_refusal_names_the_authorisation_when_a_photo_cannot_be_deleted(
    session: Session, media: MediaStore, caplog: pytest.LogCaptureFixture
) -> None:
    _create(session, "U-1", starts_at=NOW - 2 * H, urgent=True)
    create_watchlist(session, CLERK, "wl-u", "U-1", now=NOW)
    enrolled = enrol_subject(
        session, media, CLERK, "wl-u", "Jane Roe", [("a", photo(1, 2))],
        fake_embed_faces, "suspect", "CCTV still", now=NOW,
    )  # fmt: skip
    (stuck,) = enrolled.photo_paths
    media.delete(stuck)
    media.path(stuck).mkdir()  # a folder where the photo was: it cannot be unlinked
    caplog.set_level(logging.WARNING, logger="citywatch.services.lifecycle")
    report = refuse_authorisation(session, media, CLERK, "U-1", reason="judge refused", now=NOW)
    assert report.files_failed == (stuck,)
    (record,) = [r for r in caplog.records if r.name == "citywatch.services.lifecycle"]
    assert record.getMessage().startswith(
        f"authorisation 'U-1': could not delete media file {stuck}: "
    )
