"""Watchlists: bound to an authorisation; subjects enrolled from photos with exactly one face.

A watchlist can be created and filled only while its authorisation is scheduled or live, and
only up to its size limit (``max_subjects``).  When the authorisation ends, the lifecycle sweep
(:mod:`citywatch.services.lifecycle`) destroys its subjects, embeddings and photos.

A photo with no face, or with several (bystanders), is refused and nothing of it is stored.
The gallery a camera worker loads holds only subjects of watchlists whose authorisation is live
and covers that camera.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
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
from citywatch.vision.record import FloatArray, ImageBGR, IntArray

log = logging.getLogger(__name__)

DEFAULT_MODEL = "dlib_face_recognition_resnet_model_v1"
MAX_PHOTOS_PER_SUBJECT = 20
MAX_IMAGE_SIDE = 8192
MAX_WATCHLIST_SUBJECTS = 1_000_000

EmbedFaces = Callable[[ImageBGR], FloatArray]


class EnrolmentError(ServiceError):
    """A subject could not be enrolled; the message names each refused photo."""

    def __init__(self, message: str, refused: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.refused = tuple(refused)  # one line per refused photo: which and why


@dataclass(frozen=True, slots=True)
class EnrolResult:
    subject_id: int
    subject_name: str
    watchlist_id: int
    watchlist: str
    created: bool  # False: photos were added to an existing subject of that name
    embeddings_added: int
    photo_paths: tuple[str, ...]


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


def _embedding(label: str, image: ImageBGR, embed_faces: EmbedFaces) -> tuple[FloatArray, str]:
    """The one face's normalised embedding, or ``(empty, problem)``."""
    none = np.zeros((0,), np.float32)
    if (
        not isinstance(image, np.ndarray)
        or image.ndim != 3
        or image.shape[2] != 3
        or image.dtype != np.uint8
    ):
        got = getattr(image, "shape", type(image).__name__)
        return none, f"photo {label!r}: expected an HxWx3 uint8 BGR image, got {got}"
    if max(image.shape[:2]) > MAX_IMAGE_SIDE or min(image.shape[:2]) < 16:
        return none, (
            f"photo {label!r}: size {image.shape[1]}x{image.shape[0]} is outside "
            f"16..{MAX_IMAGE_SIDE} pixels per side"
        )
    emb = np.asarray(embed_faces(image), dtype=np.float32)
    if emb.ndim != 2:
        return none, f"photo {label!r}: the face embedder returned shape {emb.shape}"
    if emb.shape[0] == 0:
        return none, f"photo {label!r}: no face found; use a clear photo of the subject's face"
    if emb.shape[0] > 1:
        return none, (
            f"photo {label!r}: {emb.shape[0]} faces found; use a photo with exactly one face "
            "(other people's faces are never enrolled)"
        )
    vec = emb[0]
    norm = float(np.linalg.norm(vec))
    if vec.size == 0 or not np.isfinite(vec).all() or norm == 0.0:
        return none, f"photo {label!r}: the face embedder returned an unusable embedding"
    return (vec / norm).astype(np.float32), ""


def enrol_subject(
    session: Session,
    media: MediaStore,
    actor: Actor,
    watchlist_name: str,
    subject_name: str,
    images: Sequence[tuple[str, ImageBGR]],
    embed_faces: EmbedFaces,
    reason: str,
    image_source: str,
    *,
    model: str = DEFAULT_MODEL,
    now: dt.datetime | None = None,
) -> EnrolResult:
    """Enrol a subject (or add photos to the subject of that name) from one-face photos.

    ``images`` are ``(label, BGR image)``; ``embed_faces(image)`` returns the ``(K, dim)``
    embeddings of every face in the image.  All photos are checked before anything is stored;
    any refused photo refuses the whole enrolment, naming each photo and why.
    """
    name = clean_name(subject_name, "subject name")
    why = require_text(reason, f"enrolling {name!r}: a reason")
    source = require_text(image_source, f"enrolling {name!r}: the image source")
    at = now_or(now)
    if not images:
        raise EnrolmentError(f"enrolling {name!r}: no photos given")
    if len(images) > MAX_PHOTOS_PER_SUBJECT:
        raise EnrolmentError(
            f"enrolling {name!r}: {len(images)} photos given, at most {MAX_PHOTOS_PER_SUBJECT}"
        )
    vectors: list[FloatArray] = []
    problems: list[str] = []
    for label, image in images:
        vec, problem = _embedding(label, image, embed_faces)
        if problem:
            problems.append(problem)
        else:
            vectors.append(vec)
    if problems:
        raise EnrolmentError(f"enrolling {name!r} refused: " + "; ".join(problems), problems)
    dims = {int(v.shape[0]) for v in vectors}
    if len(dims) != 1:
        raise EnrolmentError(f"enrolling {name!r}: embeddings of different sizes {sorted(dims)}")

    saved: list[str] = []
    try:
        with unit_of_work(session):
            wl = _get_watchlist(session, watchlist_name, for_update=True)
            _usable(wl.authorisation, at, f"watchlist {wl.name!r}")
            subject = session.scalar(
                select(SubjectRow).where(SubjectRow.watchlist_id == wl.id, SubjectRow.name == name)
            )
            created = subject is None
            if subject is None:
                count = session.scalar(
                    select(func.count())
                    .select_from(SubjectRow)
                    .where(SubjectRow.watchlist_id == wl.id)
                )
                if (count or 0) >= wl.max_subjects:
                    raise EnrolmentError(
                        f"watchlist {wl.name!r} is full ({wl.max_subjects} subjects)"
                    )
                subject = SubjectRow(
                    watchlist_id=wl.id, name=name, reason=why, image_source=source, created_at=at
                )
                session.add(subject)
                session.flush()
            else:
                have = session.scalar(
                    select(func.count())
                    .select_from(SubjectEmbeddingRow)
                    .where(SubjectEmbeddingRow.subject_id == subject.id)
                )
                if (have or 0) + len(vectors) > MAX_PHOTOS_PER_SUBJECT:
                    raise EnrolmentError(
                        f"subject {name!r} has {have} photos; adding {len(vectors)} would pass "
                        f"the limit of {MAX_PHOTOS_PER_SUBJECT}"
                    )
            for vec, (_label, image) in zip(vectors, images, strict=True):
                emb = SubjectEmbeddingRow(
                    subject_id=subject.id,
                    embedding=vec.astype("<f4").tobytes(),
                    dim=int(vec.shape[0]),
                    model=model,
                    created_at=at,
                )
                session.add(emb)
                session.flush()
                emb.photo_path = media.save_snapshot("subject", f"s{subject.id}-e{emb.id}", image)
                saved.append(emb.photo_path)
            append(
                session,
                actor,
                "subject.enrol",
                f"watchlist:{wl.name}/subject:{subject.id}",
                details={
                    "subject": name,
                    "created": created,
                    "photos": [label for label, _ in images],
                    "image_source": source,
                    "model": model,
                },
                reason=why,
            )
    except BaseException:
        for rel in saved:
            media.delete(rel)
        raise
    return EnrolResult(
        subject_id=subject.id,
        subject_name=name,
        watchlist_id=wl.id,
        watchlist=wl.name,
        created=created,
        embeddings_added=len(vectors),
        photo_paths=tuple(saved),
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
