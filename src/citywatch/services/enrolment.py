"""Enrolling a subject on a watchlist from photos with exactly one face each.

A photo with no face, or with several (bystanders), is refused and nothing of it is stored; any
refused photo refuses the whole enrolment, naming each photo and why.  The watchlist must be
bound to an authorisation that is scheduled or live, and a new subject must fit under its size
limit (``max_subjects``).  The watchlists themselves, removing a subject and the gallery a
camera worker loads are in :mod:`citywatch.services.watchlists`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citywatch.audit.chain import Actor, append
from citywatch.services.common import ServiceError, now_or, require_text, unit_of_work
from citywatch.services.names import clean_name
from citywatch.services.watchlists import _get_watchlist, _usable
from citywatch.store.media import MediaStore
from citywatch.store.models import SubjectEmbeddingRow, SubjectRow
from citywatch.vision.record import FloatArray, ImageBGR

DEFAULT_MODEL = "dlib_face_recognition_resnet_model_v1"
MAX_PHOTOS_PER_SUBJECT = 20
MAX_IMAGE_SIDE = 8192

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
