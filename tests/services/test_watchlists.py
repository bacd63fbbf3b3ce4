from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citywatch.audit.chain import entries, verify
from citywatch.services.authorisations import revoke_authorisation
from citywatch.services.common import NotFoundError, PermissionDenied, ServiceError
from citywatch.services.enrolment import MAX_PHOTOS_PER_SUBJECT, EnrolmentError, enrol_subject
from citywatch.services.watchlists import (
    create_watchlist,
    list_subjects,
    list_watchlists,
    load_gallery,
    remove_subject,
)
from citywatch.store.media import MediaStore
from citywatch.store.models import SubjectEmbeddingRow, SubjectRow
from tests.services.helpers import (
    ADMIN,
    NOW,
    add_authorisation,
    add_camera,
    audit_actions,
    fake_embed_faces,
    photo,
)

DAY = dt.timedelta(days=1)


def setup_watchlist(session: Session, name: str = "missing", max_subjects: int = 1000) -> None:
    add_camera(session, "cam-1")
    add_authorisation(session, "W-1", cameras=("cam-1",))
    create_watchlist(session, ADMIN, name, "W-1", max_subjects, now=NOW)


def enrol(session: Session, media: MediaStore, name: str, *photos: np.ndarray, wl: str = "missing"):  # type: ignore[no-untyped-def]
    images = [(f"{name}-{i}.jpg", p) for i, p in enumerate(photos)]
    return enrol_subject(
        session,
        media,
        ADMIN,
        wl,
        name,
        images,
        fake_embed_faces,
        reason="reported missing, case 12",
        image_source="family photos",
        now=NOW,
    )


def n_rows(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_create_watchlist_needs_a_usable_authorisation(session: Session) -> None:
    with pytest.raises(NotFoundError, match="'W-1'"):
        create_watchlist(session, ADMIN, "wl", "W-1", now=NOW)
    add_authorisation(session, "W-1")
    create_watchlist(session, ADMIN, "wl", "W-1", now=NOW)
    with pytest.raises(ServiceError, match="already exists"):
        create_watchlist(session, ADMIN, "wl", "W-1", now=NOW)
    with pytest.raises(PermissionDenied, match="ended"):
        create_watchlist(session, ADMIN, "wl2", "W-1", now=NOW + 90 * DAY)
    revoke_authorisation(session, ADMIN, "W-1", reason="withdrawn")
    with pytest.raises(PermissionDenied, match="revoked"):
        create_watchlist(session, ADMIN, "wl3", "W-1", now=NOW)
    with pytest.raises(ServiceError, match="max_subjects"):
        create_watchlist(session, ADMIN, "wl4", "W-1", 0, now=NOW)


def test_enrol_stores_normalised_embeddings_and_photos(session: Session, media: MediaStore) -> None:
    setup_watchlist(session)
    result = enrol(session, media, "Jane Roe", photo(1, 1), photo(1, 2))
    assert result.created and result.embeddings_added == 2 and result.watchlist == "missing"
    assert len(result.photo_paths) == 2
    for rel in result.photo_paths:
        assert rel.startswith("subject/") and media.path(rel).is_file()
    embs = list(session.scalars(select(SubjectEmbeddingRow).order_by(SubjectEmbeddingRow.id)))
    assert [e.dim for e in embs] == [128, 128]
    vec = np.frombuffer(embs[0].embedding, dtype="<f4")
    assert abs(float(np.linalg.norm(vec)) - 1.0) < 1e-5
    want = fake_embed_faces(photo(1, 1))[0]
    assert np.allclose(vec, want / np.linalg.norm(want), atol=1e-6)
    entry = list(entries(session))[-1]
    assert entry.action == "subject.enrol" and entry.reason == "reported missing, case 12"
    assert entry.details["photos"] == ["Jane Roe-0.jpg", "Jane Roe-1.jpg"]
    # enrolling the same name again adds photos to that subject
    again = enrol(session, media, "Jane Roe", photo(1, 3))
    assert not again.created and again.subject_id == result.subject_id
    assert n_rows(session, SubjectEmbeddingRow) == 3
    assert verify(session).ok


def test_enrol_refuses_a_photo_with_two_faces(session: Session, media: MediaStore) -> None:
    setup_watchlist(session)
    before = audit_actions(session)
    with pytest.raises(EnrolmentError) as err:
        enrol(session, media, "Jane Roe", photo(1, 1), photo(2, 5))
    message = str(err.value)
    assert "'Jane Roe-1.jpg'" in message and "2 faces found" in message
    assert "Jane Roe-0.jpg" not in message
    assert n_rows(session, SubjectRow) == 0
    assert n_rows(session, SubjectEmbeddingRow) == 0
    assert not any(media.root.rglob("*.jpg"))
    assert audit_actions(session) == before


def test_enrol_refuses_no_face_and_names_every_bad_photo(
    session: Session, media: MediaStore
) -> None:
    setup_watchlist(session)
    with pytest.raises(EnrolmentError) as err:
        enrol(session, media, "X", photo(0), photo(3), np.zeros((8, 8), np.uint8))
    message = str(err.value)
    assert "'X-0.jpg': no face found" in message
    assert "'X-1.jpg': 3 faces found" in message
    assert "'X-2.jpg': expected an HxWx3 uint8 BGR image" in message


def test_enrol_limits(session: Session, media: MediaStore) -> None:
    setup_watchlist(session, max_subjects=1)
    with pytest.raises(EnrolmentError, match="no photos"):
        enrol(session, media, "A")
    with pytest.raises(EnrolmentError, match=f"at most {MAX_PHOTOS_PER_SUBJECT}"):
        enrol(session, media, "A", *[photo(1, i) for i in range(MAX_PHOTOS_PER_SUBJECT + 1)])
    with pytest.raises(EnrolmentError, match="outside 16"):
        enrol(session, media, "A", np.zeros((8, 8, 3), np.uint8))
    enrol(session, media, "A", photo(1, 1))
    with pytest.raises(EnrolmentError, match="is full"):
        enrol(session, media, "B", photo(1, 2))
    with pytest.raises(ServiceError, match="a reason is required"):
        enrol_subject(
            session, media, ADMIN, "missing", "C", [("c", photo())], fake_embed_faces, " ", "src"
        )
    with pytest.raises(NotFoundError, match="'nope'"):
        enrol(session, media, "C", photo(1, 1), wl="nope")


def test_remove_subject_deletes_rows_and_photos(session: Session, media: MediaStore) -> None:
    setup_watchlist(session)
    result = enrol(session, media, "Jane Roe", photo(1, 1), photo(1, 2))
    enrol(session, media, "John Doe", photo(1, 3))
    assert remove_subject(session, media, ADMIN, "missing", "Jane Roe", reason="found") == 2
    assert [s.name for s in session.scalars(select(SubjectRow))] == ["John Doe"]
    assert n_rows(session, SubjectEmbeddingRow) == 1
    assert not any(media.path(p).exists() for p in result.photo_paths)
    assert audit_actions(session)[-1] == "subject.remove"
    with pytest.raises(NotFoundError):
        remove_subject(session, media, ADMIN, "missing", "Jane Roe", reason="again")


def test_lists(session: Session, media: MediaStore) -> None:
    setup_watchlist(session)
    enrol(session, media, "B", photo(1, 1), photo(1, 2))
    enrol(session, media, "A", photo(1, 3))
    (summary,) = list_watchlists(session)
    assert (summary.name, summary.subjects, summary.authorisation_reference) == (
        "missing",
        2,
        "W-1",
    )
    subjects = list_subjects(session, ADMIN, "missing")
    assert [(s.name, s.photos) for s in subjects] == [("A", 1), ("B", 2)]
    last = list(entries(session))[-1]
    assert (last.action, last.actor, last.details) == ("subject.list", "admin", {"count": 2})


def test_gallery_only_for_covered_cameras_with_live_authorisation(
    session: Session, media: MediaStore
) -> None:
    setup_watchlist(session)  # W-1 covers cam-1 only
    add_camera(session, "cam-2", zone="south")
    add_camera(session, "cam-p", purposes=["plate"])
    add_authorisation(session, "W-2", cameras=(), zones=("south",), ends=NOW + 2 * DAY)
    create_watchlist(session, ADMIN, "other", "W-2", now=NOW)
    enrol(session, media, "Jane", photo(1, 1), photo(1, 2))
    enrol(session, media, "Bob", photo(1, 3), wl="other")

    g1 = load_gallery(session, "cam-1", NOW)
    assert g1.size == 2 and g1.subject_names == ("Jane", "Jane")
    assert g1.embeddings.shape == (2, 128) and g1.embeddings.dtype == np.float32
    assert np.allclose(np.linalg.norm(g1.embeddings, axis=1), 1.0, atol=1e-5)
    assert set(g1.watchlist_names) == {"missing"}

    g2 = load_gallery(session, "cam-2", NOW)
    assert g2.subject_names == ("Bob",)
    assert load_gallery(session, "cam-2", NOW + 3 * DAY).size == 0  # W-2 ended

    for cam, says in [("cam-p", "purpose 'face'"), ("nope", "not registered")]:
        g = load_gallery(session, cam, NOW)
        assert g.size == 0 and says in g.reason and g.embeddings.shape == (0, 128)

    revoke_authorisation(session, ADMIN, "W-1", reason="withdrawn")
    revoked = load_gallery(session, "cam-1", NOW)
    assert revoked.size == 0 and "revoked" in revoked.reason
    assert load_gallery(session, "cam-2", NOW, model="another-model").size == 0
