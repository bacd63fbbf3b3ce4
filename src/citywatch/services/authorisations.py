"""Authorisations for face recognition: created, confirmed, refused, revoked (all audited)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from citywatch.audit.chain import Actor, append
from citywatch.policy.authorisation import (
    AuthorisationFacts,
    authorisation_is_live,
    confirmation_deadline,
    may_confirm,
    may_recognise_faces,
    may_refuse,
)
from citywatch.policy.decision import Decision
from citywatch.services.cameras import camera_facts
from citywatch.services.common import (
    NotFoundError,
    PermissionDenied,
    ServiceError,
    aware,
    now_or,
    require_text,
    unit_of_work,
)
from citywatch.store.media import MediaStore
from citywatch.store.models import AuthorisationRow, CameraRow

if TYPE_CHECKING:
    from citywatch.services.lifecycle import DeletionReport


def authorisation_facts(row: AuthorisationRow) -> AuthorisationFacts:
    return AuthorisationFacts(
        reference=row.reference,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        scope_cameras=frozenset(row.scope_cameras),
        scope_zones=frozenset(row.scope_zones),
        urgent=row.urgent,
        confirmed_at=row.confirmed_at,
        status=row.status,
    )


def _clean_scope(values: Iterable[str], what: str) -> list[str]:
    out = sorted({v.strip() for v in values if v and v.strip()})
    if any(len(v) > 200 for v in out):
        raise ServiceError(f"{what}: an entry is longer than 200 characters")
    return out


def create_authorisation(
    session: Session,
    actor: Actor,
    reference: str,
    authority: str,
    purpose: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    scope_cameras: Iterable[str],
    scope_zones: Iterable[str],
    urgent: bool = False,
) -> AuthorisationRow:
    """Record an authorisation.  Its scope must name at least one camera or zone."""
    ref = require_text(reference, "authorisation reference")
    starts = aware(starts_at, f"authorisation {ref!r}: starts_at")
    ends = aware(ends_at, f"authorisation {ref!r}: ends_at")
    if ends <= starts:
        raise ServiceError(f"authorisation {ref!r}: ends_at must be after starts_at")
    cameras = _clean_scope(scope_cameras, f"authorisation {ref!r}: scope_cameras")
    zones = _clean_scope(scope_zones, f"authorisation {ref!r}: scope_zones")
    if not cameras and not zones:
        raise ServiceError(f"authorisation {ref!r}: the scope names no camera and no zone")
    with unit_of_work(session):
        if session.scalar(select(AuthorisationRow.id).where(AuthorisationRow.reference == ref)):
            raise ServiceError(f"authorisation {ref!r} already exists")
        row = AuthorisationRow(
            reference=ref,
            authority=require_text(authority, f"authorisation {ref!r}: authority"),
            purpose=require_text(purpose, f"authorisation {ref!r}: purpose"),
            scope_cameras=cameras,
            scope_zones=zones,
            starts_at=starts,
            ends_at=ends,
            urgent=urgent,
            confirmed_at=None,
            status="active",
        )
        session.add(row)
        session.flush()
        append(
            session,
            actor,
            "authorisation.create",
            f"authorisation:{ref}",
            details={
                "authority": row.authority,
                "purpose": row.purpose,
                "starts_at": starts,
                "ends_at": ends,
                "scope_cameras": cameras,
                "scope_zones": zones,
                "urgent": urgent,
            },
        )
    return row


def get_authorisation(session: Session, reference: str) -> AuthorisationRow:
    row = session.scalar(select(AuthorisationRow).where(AuthorisationRow.reference == reference))
    if row is None:
        raise NotFoundError(f"authorisation {reference!r} does not exist")
    return row


def confirm_authorisation(
    session: Session, actor: Actor, reference: str, *, now: dt.datetime | None = None
) -> AuthorisationRow:
    """Record the written confirmation of an urgent authorisation (before its deadline)."""
    at = now_or(now)
    with unit_of_work(session):
        row = get_authorisation(session, reference)
        facts = authorisation_facts(row)
        decision = may_confirm(facts, at)
        if not decision:
            raise PermissionDenied(decision.reason)
        row.confirmed_at = at
        append(
            session,
            actor,
            "authorisation.confirm",
            f"authorisation:{reference}",
            details={"deadline": confirmation_deadline(facts), "confirmed_at": at},
        )
    return row


def refuse_authorisation(
    session: Session,
    media: MediaStore,
    actor: Actor,
    reference: str,
    *,
    reason: str,
    now: dt.datetime | None = None,
) -> DeletionReport:
    """Record that an urgent authorisation was refused: it is void at once, and every alert,
    snapshot and watchlist entry made under it is deleted (rows now, files after the commit).
    The refusal and the counts deleted are one audit entry."""
    from citywatch.services.lifecycle import delete_files, purge_under

    why = require_text(reason, f"refusing authorisation {reference!r}: a reason")
    at = now_or(now)
    with unit_of_work(session):
        row = get_authorisation(session, reference)
        decision = may_refuse(authorisation_facts(row), at)
        if not decision:
            raise PermissionDenied(decision.reason)
        row.status = "revoked"
        deleted = purge_under(session, row)
        append(
            session,
            actor,
            "authorisation.refuse",
            f"authorisation:{reference}",
            details={"deleted": deleted.counts.as_details()},
            reason=why,
        )
    return delete_files(media, deleted, f"authorisation {reference!r}")


def revoke_authorisation(
    session: Session, actor: Actor, reference: str, *, reason: str
) -> AuthorisationRow:
    why = require_text(reason, f"revoking authorisation {reference!r}: a reason")
    with unit_of_work(session):
        row = get_authorisation(session, reference)
        if row.status == "revoked":
            raise ServiceError(f"authorisation {reference!r} is already revoked")
        row.status = "revoked"
        append(session, actor, "authorisation.revoke", f"authorisation:{reference}", reason=why)
    return row


def live_authorisations(session: Session, now: dt.datetime) -> list[AuthorisationRow]:
    """Authorisations live at ``now`` (active, in period, urgent ones confirmed in time)."""
    at = aware(now, "now")
    rows = session.scalars(
        select(AuthorisationRow)
        .where(AuthorisationRow.status == "active")
        .where(AuthorisationRow.starts_at <= at)
        .where(AuthorisationRow.ends_at > at)
        .order_by(AuthorisationRow.id)
    )
    return [r for r in rows if authorisation_is_live(authorisation_facts(r), at)]


def list_authorisations(session: Session) -> list[AuthorisationRow]:
    return list(session.scalars(select(AuthorisationRow).order_by(AuthorisationRow.id)))


def face_recognition_decision(session: Session, camera_id: str, now: dt.datetime) -> Decision:
    """May ``camera_id`` run face recognition at ``now``?  (registration + live authorisation)"""
    at = aware(now, "now")
    cam = session.get(CameraRow, camera_id)
    if cam is None:
        return Decision.deny(f"camera {camera_id!r} is not registered")
    auths = [authorisation_facts(r) for r in list_authorisations(session)]
    return may_recognise_faces(camera_facts(cam), auths, at)
