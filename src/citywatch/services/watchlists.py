"""Watchlists: bound to an authorisation; subjects enrolled from photos with exactly one face.

A watchlist can be created and filled only while its authorisation is scheduled or live, and
only up to its size limit (``max_subjects``).  When the authorisation ends, the lifecycle sweep
(:mod:`citywatch.services.lifecycle`) destroys its subjects, embeddings and photos.

Subjects are enrolled from photos by :mod:`citywatch.services.enrolment`: a photo with no face,
or with several (bystanders), is refused and nothing of it is stored.
The gallery a camera worker loads holds only subjects of watchlists whose authorisation is live
and covers that camera.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citywatch.audit.chain import Actor, append
from citywatch.policy.authorisation import (
    authorisation_is_live,
    covers_camera,
    may_recognise_faces,
    may_use_for_watchlists,
)
from citywatch.services.authorisations import authorisation_facts, get_authorisation
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
from citywatch.services.names import clean_name, name_key
from citywatch.store.media import MediaStore
from citywatch.store.models import (
    AuthorisationRow,
    CameraRow,
    SubjectEmbeddingRow,
    SubjectRow,
    WatchlistRow,
)
from citywatch.vision.record import FloatArray, IntArray

log = logging.getLogger(__name__)

MAX_WATCHLIST_SUBJECTS = 1_000_000


@dataclass(frozen=True, slots=True)
class WatchlistSummary:
    id: int
    name: str
    authorisation_reference: str
    max_subjects: int
    subjects: int
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class SubjectSummary:
    id: int
    name: str
    reason: str
    image_source: str
    photos: int
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class GalleryData:
    """Row ``i`` of ``embeddings`` belongs to subject ``subject_ids[i]`` (one row per photo)."""

    embeddings: FloatArray  # (M, dim) float32, L2-normalised
    subject_ids: IntArray  # (M,)
    subject_names: tuple[str, ...]
    watchlist_ids: IntArray  # (M,)
    watchlist_names: tuple[str, ...]
    reason: str  # why it holds what it holds (or why it is empty)

    @property
    def size(self) -> int:
        return int(self.embeddings.shape[0])

    @classmethod
    def empty(cls, reason: str, dim: int = 128) -> GalleryData:
        return cls(
            embeddings=np.zeros((0, dim), np.float32),
            subject_ids=np.zeros(0, np.int64),
            subject_names=(),
            watchlist_ids=np.zeros(0, np.int64),
            watchlist_names=(),
            reason=reason,
        )


def _get_watchlist(session: Session, name: str, *, for_update: bool = False) -> WatchlistRow:
    """``for_update``: lock the row (PostgreSQL) so concurrent enrolments cannot both pass the
    size limit; SQLite serialises writers on its own."""
    found = watchlist_named(session, name)
    if found is None:
        raise NotFoundError(f"watchlist {name!r} does not exist")
    if not for_update:
        return found
    row = session.scalar(
        select(WatchlistRow).where(WatchlistRow.id == found.id).with_for_update(of=WatchlistRow)
    )
    if row is None:
        raise NotFoundError(f"watchlist {name!r} does not exist")
    return row


def watchlist_named(session: Session, name: str) -> WatchlistRow | None:
    """The watchlist called ``name``, compared apart from case."""
    row = session.scalar(select(WatchlistRow).where(WatchlistRow.name == name))
    if row is not None:
        return row
    key = name_key(name)
    rows = session.scalars(select(WatchlistRow))
    return next((r for r in rows if name_key(r.name) == key), None)


def _usable(auth: AuthorisationRow, now: dt.datetime, what: str) -> None:
    """Deny unless the authorisation is scheduled or live (not ended, revoked or void)."""
    decision = may_use_for_watchlists(authorisation_facts(auth), now)
    if not decision:
        raise PermissionDenied(f"{what}: {decision.reason}")


def create_watchlist(
    session: Session,
    actor: Actor,
    name: str,
    authorisation_reference: str,
    max_subjects: int = 1000,
    *,
    now: dt.datetime | None = None,
) -> WatchlistRow:
    """A watchlist bound to an existing, not revoked, not ended authorisation."""
    wl = clean_name(name, "watchlist name")
    _check_limit(wl, max_subjects)
    at = now_or(now)
    with unit_of_work(session):
        auth = get_authorisation(session, authorisation_reference)
        _usable(auth, at, f"watchlist {wl!r}")
        taken = watchlist_named(session, wl)
        if taken is not None:
            same = "" if taken.name == wl else f" (as {taken.name!r})"
            raise ServiceError(f"watchlist {wl!r} already exists{same}")
        row = WatchlistRow(name=wl, authorisation_id=auth.id, max_subjects=max_subjects)
        session.add(row)
        session.flush()
        append(
            session,
            actor,
            "watchlist.create",
            f"watchlist:{wl}",
            details={"authorisation": auth.reference, "max_subjects": max_subjects},
        )
    return row


def _check_limit(wl: str, max_subjects: int) -> None:
    if not 1 <= max_subjects <= MAX_WATCHLIST_SUBJECTS:
        raise ServiceError(
            f"watchlist {wl!r}: max_subjects must be 1..{MAX_WATCHLIST_SUBJECTS}, "
            f"got {max_subjects}"
        )


def remove_subject(
    session: Session,
    media: MediaStore,
    actor: Actor,
    watchlist_name: str,
    subject_name: str,
    *,
    reason: str,
) -> int:
    """Delete the subject, its embeddings and its photos; returns the photos removed."""
    why = require_text(reason, f"removing {subject_name!r}: a reason")
    with unit_of_work(session):
        wl = _get_watchlist(session, watchlist_name)
        subject = session.scalar(
            select(SubjectRow).where(
                SubjectRow.watchlist_id == wl.id, SubjectRow.name == subject_name
            )
        )
        if subject is None:
            raise NotFoundError(f"watchlist {wl.name!r} has no subject {subject_name!r}")
        paths = [e.photo_path for e in subject.embeddings if e.photo_path]
        sid = subject.id
        session.delete(subject)
        session.flush()
        append(
            session,
            actor,
            "subject.remove",
            f"watchlist:{wl.name}/subject:{sid}",
            details={"subject": subject_name, "photos": len(paths)},
            reason=why,
        )
    for rel in paths:  # after the commit: a rollback must not have lost the photos
        try:
            media.delete(rel)
        except OSError as err:
            log.warning("subject %d: could not delete photo %s: %s", sid, rel, err.strerror)
    return len(paths)


def list_watchlists(session: Session) -> list[WatchlistSummary]:
    """Watchlists with subject counts (no names of subjects: not audited)."""
    counts = (
        select(SubjectRow.watchlist_id, func.count().label("n"))
        .group_by(SubjectRow.watchlist_id)
        .subquery()
    )
    rows = session.execute(
        select(WatchlistRow, AuthorisationRow.reference, counts.c.n)
        .join(AuthorisationRow, AuthorisationRow.id == WatchlistRow.authorisation_id)
        .outerjoin(counts, counts.c.watchlist_id == WatchlistRow.id)
        .order_by(WatchlistRow.name)
    )
    return [
        WatchlistSummary(
            id=wl.id,
            name=wl.name,
            authorisation_reference=ref,
            max_subjects=wl.max_subjects,
            subjects=int(n or 0),
            created_at=wl.created_at,
        )
        for wl, ref, n in rows
    ]


def list_subjects(session: Session, actor: Actor, watchlist_name: str) -> list[SubjectSummary]:
    """The subjects of a watchlist (names: personal data, so the access is audited)."""
    with unit_of_work(session):
        wl = _get_watchlist(session, watchlist_name)
        photos = (
            select(SubjectEmbeddingRow.subject_id, func.count().label("n"))
            .group_by(SubjectEmbeddingRow.subject_id)
            .subquery()
        )
        rows = session.execute(
            select(SubjectRow, photos.c.n)
            .outerjoin(photos, photos.c.subject_id == SubjectRow.id)
            .where(SubjectRow.watchlist_id == wl.id)
            .order_by(SubjectRow.name)
        ).all()
        out = [
            SubjectSummary(
                id=s.id,
                name=s.name,
                reason=s.reason,
                image_source=s.image_source,
                photos=int(n or 0),
                created_at=s.created_at,
            )
            for s, n in rows
        ]
        append(session, actor, "subject.list", f"watchlist:{wl.name}", details={"count": len(out)})
    return out


def load_gallery(
    session: Session,
    camera_id: str,
    now: dt.datetime,
    *,
    model: str | None = None,
    dim: int = 128,
) -> GalleryData:
    """Subjects this camera may look for now; empty (with the reason) when it may not.

    Only watchlists bound to an authorisation that is live at ``now`` and covers the camera
    (by id or zone) contribute.  ``model``: keep only embeddings made by that embedder.
    """
    at = aware(now, "now")
    cam = session.get(CameraRow, camera_id)
    if cam is None:
        return GalleryData.empty(f"camera {camera_id!r} is not registered", dim)
    facts = camera_facts(cam)
    auths = list(session.scalars(select(AuthorisationRow).order_by(AuthorisationRow.id)))
    decision = may_recognise_faces(facts, [authorisation_facts(a) for a in auths], at)
    if not decision.allowed:
        return GalleryData.empty(decision.reason, dim)
    usable = [
        a.id
        for a in auths
        if covers_camera(authorisation_facts(a), cam.id, cam.zone)
        and authorisation_is_live(authorisation_facts(a), at)
    ]
    stmt = (
        select(
            SubjectEmbeddingRow.embedding,
            SubjectEmbeddingRow.dim,
            SubjectRow.id,
            SubjectRow.name,
            WatchlistRow.id,
            WatchlistRow.name,
        )
        .join(SubjectRow, SubjectRow.id == SubjectEmbeddingRow.subject_id)
        .join(WatchlistRow, WatchlistRow.id == SubjectRow.watchlist_id)
        .where(WatchlistRow.authorisation_id.in_(usable))
        .order_by(SubjectRow.id, SubjectEmbeddingRow.id)
    )
    if model is not None:
        stmt = stmt.where(SubjectEmbeddingRow.model == model)
    vecs: list[FloatArray] = []
    sids: list[int] = []
    snames: list[str] = []
    wids: list[int] = []
    wnames: list[str] = []
    other_model: dict[int, int] = {}  # embeddings of another face model: dimension -> count
    for blob, edim, sid, sname, wid, wname in session.execute(stmt):
        if edim != dim:
            other_model[edim] = other_model.get(edim, 0) + 1
            continue
        if len(blob) != dim * 4:
            raise ServiceError(
                f"subject {sid}: stored embedding has {len(blob) // 4} values, its row says {edim}"
            )
        vec = np.frombuffer(blob, dtype="<f4").astype(np.float32)
        norm = float(np.linalg.norm(vec))
        if norm == 0.0 or not np.isfinite(norm):
            continue
        vecs.append(vec / norm)
        sids.append(sid)
        snames.append(sname)
        wids.append(wid)
        wnames.append(wname)
    stale = ""
    if other_model:
        dims = ", ".join(f"{n} of {d} values" for d, n in sorted(other_model.items()))
        stale = (
            f"; {sum(other_model.values())} enrolled photo(s) were embedded by another face "
            f"model ({dims}; this one gives {dim}): re-enrol them"
        )
        log.warning("camera %s: %s", camera_id, stale[2:])
    if not vecs:
        return GalleryData.empty(f"{decision.reason}; no subjects enrolled{stale}", dim)
    return GalleryData(
        embeddings=np.stack(vecs).astype(np.float32),
        subject_ids=np.asarray(sids, np.int64),
        subject_names=tuple(snames),
        watchlist_ids=np.asarray(wids, np.int64),
        watchlist_names=tuple(wnames),
        reason=decision.reason + stale,
    )
