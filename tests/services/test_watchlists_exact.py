"""Watchlists, exactly (issue 21, mutation testing): every refusal's message and limit at its
edge, what an enrolment and a removal store and audit (whole entries), the photos an enrolment
that fails half-way leaves behind (none), and what a camera's gallery holds and why."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from citywatch.audit.chain import AuditEntry, entries
from citywatch.services.common import NotFoundError, PermissionDenied, ServiceError
from citywatch.services.enrolment import (
    DEFAULT_MODEL,
    MAX_IMAGE_SIDE,
    MAX_PHOTOS_PER_SUBJECT,
    EnrolmentError,
    enrol_subject,
)
from citywatch.services.watchlists import (
    MAX_WATCHLIST_SUBJECTS,
    GalleryData,
    create_watchlist,
    list_subjects,
    list_watchlists,
    load_gallery,
    remove_subject,
)
from citywatch.store.media import MediaStore
from citywatch.store.models import SubjectEmbeddingRow, SubjectRow, WatchlistRow
from tests.services.helpers import (
    ADMIN,
    NOW,
    add_authorisation,
    add_camera,
    fake_embed_faces,
    photo,
)

D = dt.timedelta(days=1)


def _setup(session: Session, max_subjects: int = 1000) -> WatchlistRow:
    add_camera(session, "cam-1")
    add_authorisation(session, "W-1", cameras=("cam-1",))
    return create_watchlist(session, ADMIN, "missing", "W-1", max_subjects, now=NOW)


def _enrol(
    session: Session,
    media: MediaStore,
    name: str,
    *photos: Any,
    wl: str = "missing",
    embed: Any = fake_embed_faces,
    **kw: Any,
) -> Any:
    images = [(f"{name}-{i}.jpg", p) for i, p in enumerate(photos)]
    return enrol_subject(
        session, media, ADMIN, wl, name, images, embed,
        reason="reported missing", image_source="family photos", now=NOW, **kw,
    )  # fmt: skip


def _refused(session: Session, media: MediaStore, *photos: Any, **kw: Any) -> EnrolmentError:
    with pytest.raises(EnrolmentError) as err:
        _enrol(session, media, "A", *photos, **kw)
    return err.value


def _last(session: Session) -> AuditEntry:
    return list(entries(session))[-1]


def _whole(e: AuditEntry) -> tuple[object, ...]:
    return (e.actor, e.role, e.action, e.target, e.details, e.reason)


def test_create_checks_its_limits_and_names_and_audits_whole(session: Session) -> None:
    add_authorisation(session, "W-1")
    for bad in (0, MAX_WATCHLIST_SUBJECTS + 1):
        with pytest.raises(ServiceError) as err:
            create_watchlist(session, ADMIN, "wl", "W-1", bad, now=NOW)
        assert str(err.value) == (
            f"watchlist 'wl': max_subjects must be 1..{MAX_WATCHLIST_SUBJECTS}, got {bad}"
        )
    one = create_watchlist(session, ADMIN, " wl ", "W-1", 1, now=NOW)
    assert (one.name, one.max_subjects) == ("wl", 1)
    assert _whole(_last(session)) == (
        "admin",
        "admin",
        "watchlist.create",
        "watchlist:wl",
        {"authorisation": "W-1", "max_subjects": 1},
        None,
    )
    big = create_watchlist(session, ADMIN, "big", "W-1", MAX_WATCHLIST_SUBJECTS, now=NOW)
    assert big.max_subjects == MAX_WATCHLIST_SUBJECTS
    with pytest.raises(ServiceError) as err:
        create_watchlist(session, ADMIN, "wl", "W-1", now=NOW)
    assert str(err.value) == "watchlist 'wl' already exists"
    with pytest.raises(ServiceError) as err:
        create_watchlist(session, ADMIN, "WL", "W-1", now=NOW)
    assert str(err.value) == "watchlist 'WL' already exists (as 'wl')"
    with pytest.raises(PermissionDenied) as denied:
        create_watchlist(session, ADMIN, "late", "W-1", now=NOW + 90 * D)
    assert str(denied.value).startswith("watchlist 'late': authorisation 'W-1' ")
    assert "ended" in str(denied.value)


def test_a_watchlist_is_found_apart_from_case(session: Session, media: MediaStore) -> None:
    _setup(session)
    done = _enrol(session, media, "Jane", photo(1, 1), wl="MISSING")
    assert (done.watchlist, done.created) == ("missing", True)
    assert [s.name for s in list_subjects(session, ADMIN, "Missing")] == ["Jane"]
    with pytest.raises(NotFoundError) as err:
        _enrol(session, media, "Jane", photo(1, 1), wl="nope")
    assert str(err.value) == "watchlist 'nope' does not exist"


def test_every_kind_of_bad_photo_is_named_with_why(session: Session, media: MediaStore) -> None:
    _setup(session)
    err = _refused(
        session,
        media,
        np.zeros((20, 20), np.uint8),
        np.zeros((20, 20, 4), np.uint8),
        np.zeros((20, 20, 3), np.float32),
        [[1, 2, 3]],
        np.zeros((15, 20, 3), np.uint8),
        np.zeros((16, MAX_IMAGE_SIDE + 1, 3), np.uint8),
        photo(0),
        photo(2),
    )
    assert err.refused == (
        "photo 'A-0.jpg': expected an HxWx3 uint8 BGR image, got (20, 20)",
        "photo 'A-1.jpg': expected an HxWx3 uint8 BGR image, got (20, 20, 4)",
        "photo 'A-2.jpg': expected an HxWx3 uint8 BGR image, got (20, 20, 3)",
        "photo 'A-3.jpg': expected an HxWx3 uint8 BGR image, got list",
        f"photo 'A-4.jpg': size 20x15 is outside 16..{MAX_IMAGE_SIDE} pixels per side",
        f"photo 'A-5.jpg': size {MAX_IMAGE_SIDE + 1}x16 is outside 16..{MAX_IMAGE_SIDE} "
        "pixels per side",
        "photo 'A-6.jpg': no face found; use a clear photo of the subject's face",
        "photo 'A-7.jpg': 2 faces found; use a photo with exactly one face (other people's "
        "faces are never enrolled)",
    )
    assert str(err) == "enrolling 'A' refused: " + "; ".join(err.refused)


def test_an_embedder_s_bad_answers_are_refused(session: Session, media: MediaStore) -> None:
    _setup(session)
    answers = {
        1: np.ones(128, np.float32),
        2: np.zeros((1, 128), np.float32),
        3: np.full((1, 128), np.nan, np.float32),
        4: np.zeros((1, 0), np.float32),
    }
    err = _refused(
        session, media, *(photo(1, k) for k in answers), embed=lambda im: answers[im[0, 0, 1]]
    )
    assert err.refused == (
        "photo 'A-0.jpg': the face embedder returned shape (128,)",
        "photo 'A-1.jpg': the face embedder returned an unusable embedding",
        "photo 'A-2.jpg': the face embedder returned an unusable embedding",
        "photo 'A-3.jpg': the face embedder returned an unusable embedding",
    )

    def two_sizes(image: np.ndarray) -> np.ndarray:
        return np.ones((1, 64 if image[0, 0, 1] == 1 else 128), np.float32)

    mixed = _refused(session, media, photo(1, 1), photo(1, 2), embed=two_sizes)
    assert str(mixed) == "enrolling 'A': embeddings of different sizes [64, 128]"


def test_photo_counts_at_their_limits(session: Session, media: MediaStore) -> None:
    _setup(session, max_subjects=2)
    assert str(_refused(session, media)) == "enrolling 'A': no photos given"
    many = [photo(1, i) for i in range(MAX_PHOTOS_PER_SUBJECT + 1)]
    assert str(_refused(session, media, *many)) == (
        f"enrolling 'A': {MAX_PHOTOS_PER_SUBJECT + 1} photos given, at most "
        f"{MAX_PHOTOS_PER_SUBJECT}"
    )
    first = _enrol(session, media, "A", *many[: MAX_PHOTOS_PER_SUBJECT - 1])
    assert first.embeddings_added == MAX_PHOTOS_PER_SUBJECT - 1
    assert str(_refused(session, media, photo(1, 1), photo(1, 2))) == (
        f"subject 'A' has {MAX_PHOTOS_PER_SUBJECT - 1} photos; adding 2 would pass the limit "
        f"of {MAX_PHOTOS_PER_SUBJECT}"
    )
    last = _enrol(session, media, "A", photo(1, 1))
    assert (last.created, last.subject_id, last.embeddings_added) == (False, first.subject_id, 1)
    assert _enrol(session, media, "B", photo(1, 2)).created  # the second of two subjects
    with pytest.raises(EnrolmentError) as full:
        _enrol(session, media, "C", photo(1, 3))
    assert str(full.value) == "watchlist 'missing' is full (2 subjects)"
    with pytest.raises(ServiceError) as err:
        enrol_subject(
            session, media, ADMIN, "missing", "C", [("c", photo())], fake_embed_faces, "r", " "
        )
    assert str(err.value) == "enrolling 'C': the image source is required"


def test_an_enrolment_is_stored_and_audited_whole(session: Session, media: MediaStore) -> None:
    wl = _setup(session)
    at = NOW + dt.timedelta(hours=3)
    images = [("front", photo(1, 1)), ("side", photo(1, 2))]
    result = enrol_subject(
        session, media, ADMIN, "missing", " Jane Roe ", images,
        fake_embed_faces, " reported missing ", " family photos ", model="test-model", now=at,
    )  # fmt: skip
    subject = session.get(SubjectRow, result.subject_id)
    assert subject is not None
    assert (subject.name, subject.reason, subject.image_source, subject.watchlist_id) == (
        "Jane Roe",
        "reported missing",
        "family photos",
        wl.id,
    )
    assert subject.created_at.replace(tzinfo=dt.UTC) == at
    assert (result.subject_name, result.watchlist_id, result.watchlist) == (
        "Jane Roe",
        wl.id,
        "missing",
    )
    embs = list(session.scalars(select(SubjectEmbeddingRow).order_by(SubjectEmbeddingRow.id)))
    assert [(e.model, e.dim, e.photo_path) for e in embs] == [
        ("test-model", 128, p) for p in result.photo_paths
    ]
    assert all(e.created_at.replace(tzinfo=dt.UTC) == at for e in embs)
    assert [
        p.startswith("subject/") and f"s{subject.id}-e{e.id}" in p
        for e, p in zip(embs, result.photo_paths, strict=True)
    ] == [True, True]
    assert _whole(_last(session)) == (
        "admin",
        "admin",
        "subject.enrol",
        f"watchlist:missing/subject:{subject.id}",
        {
            "subject": "Jane Roe",
            "created": True,
            "photos": ["front", "side"],
            "image_source": "family photos",
            "model": "test-model",
        },
        "reported missing",
    )
    again = _enrol(session, media, "Jane Roe", photo(1, 3))
    assert _last(session).details["created"] is False and not again.created
    assert _last(session).details["model"] == DEFAULT_MODEL


def test_an_enrolment_that_fails_half_way_leaves_no_photo(
    session: Session, media: MediaStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _setup(session)
    real = media.save_snapshot
    saved: list[str] = []

    def second_fails(kind: str, event_id: str, image: np.ndarray) -> str:
        if saved:
            raise OSError("disk full")
        saved.append(real(kind, event_id, image))
        return saved[-1]

    monkeypatch.setattr(media, "save_snapshot", second_fails)
    with pytest.raises(OSError, match="disk full"):
        _enrol(session, media, "Jane", photo(1, 1), photo(1, 2))
    assert len(saved) == 1 and not media.path(saved[0]).exists()
    assert session.scalars(select(SubjectRow)).all() == []


def test_enrolling_under_an_ended_authorisation_is_refused(
    session: Session, media: MediaStore
) -> None:
    _setup(session)
    with pytest.raises(PermissionDenied) as err:
        enrol_subject(
            session, media, ADMIN, "missing", "Jane", [("a", photo(1, 1))], fake_embed_faces,
            "r", "s", now=NOW + 90 * D,
        )  # fmt: skip
    assert str(err.value).startswith("watchlist 'missing': authorisation 'W-1' ")


def test_a_removal_is_audited_whole_and_a_stuck_photo_logged(
    session: Session, media: MediaStore, caplog: pytest.LogCaptureFixture
) -> None:
    _setup(session)
    done = _enrol(session, media, "Jane Roe", photo(1, 1), photo(1, 2))
    with pytest.raises(ServiceError) as err:
        remove_subject(session, media, ADMIN, "missing", "Jane Roe", reason="")
    assert str(err.value) == "removing 'Jane Roe': a reason is required"
    with pytest.raises(NotFoundError) as missing:
        remove_subject(session, media, ADMIN, "missing", "Nobody", reason="r")
    assert str(missing.value) == "watchlist 'missing' has no subject 'Nobody'"
    stuck = done.photo_paths[0]
    media.delete(stuck)
    media.path(stuck).mkdir()  # a folder where the photo was: it cannot be unlinked
    caplog.set_level(logging.WARNING, logger="citywatch.services.watchlists")
    assert remove_subject(session, media, ADMIN, "MISSING", "Jane Roe", reason=" found ") == 2
    assert not media.path(done.photo_paths[1]).exists()
    assert _whole(_last(session)) == (
        "admin",
        "admin",
        "subject.remove",
        f"watchlist:missing/subject:{done.subject_id}",
        {"subject": "Jane Roe", "photos": 2},
        "found",
    )
    (record,) = [r for r in caplog.records if r.name == "citywatch.services.watchlists"]
    assert record.getMessage() == (
        f"subject {done.subject_id}: could not delete photo {stuck}: Is a directory"
    )


def test_the_lists_say_everything_in_name_order(session: Session, media: MediaStore) -> None:
    _setup(session, max_subjects=7)
    add_authorisation(session, "W-2")
    empty = create_watchlist(session, ADMIN, "another", "W-2", now=NOW)
    _enrol(session, media, "Bob", photo(1, 1), photo(1, 2))
    _enrol(session, media, "Amy", photo(1, 3))
    summaries = list_watchlists(session)
    assert [(w.name, w.authorisation_reference, w.max_subjects, w.subjects) for w in summaries] == [
        ("another", "W-2", 1000, 0),
        ("missing", "W-1", 7, 2),
    ]
    assert summaries[0].id == empty.id and summaries[0].created_at == empty.created_at
    subjects = list_subjects(session, ADMIN, "missing")
    assert [(s.name, s.reason, s.image_source, s.photos) for s in subjects] == [
        ("Amy", "reported missing", "family photos", 1),
        ("Bob", "reported missing", "family photos", 2),
    ]
    assert all(s.created_at.replace(tzinfo=dt.UTC) == NOW for s in subjects)
    rows = {s.name: s.id for s in session.scalars(select(SubjectRow))}
    assert [s.id for s in subjects] == [rows["Amy"], rows["Bob"]]
    assert list_subjects(session, ADMIN, "another") == []
    assert _whole(_last(session)) == (
        "admin",
        "admin",
        "subject.list",
        "watchlist:another",
        {"count": 0},
        None,
    )


def test_a_gallery_holds_live_covering_watchlists_in_order_with_its_reason(
    session: Session, media: MediaStore
) -> None:
    wl = _setup(session)  # W-1 covers cam-1 until NOW + 30 days
    add_authorisation(session, "W-old", cameras=("cam-1",), ends=NOW + 2 * D)
    old = create_watchlist(session, ADMIN, "old", "W-old", now=NOW)
    b = _enrol(session, media, "Bob", photo(1, 1), photo(1, 2))
    a = _enrol(session, media, "Amy", photo(1, 3))
    o = _enrol(session, media, "Otto", photo(1, 4), wl="old")
    now = load_gallery(session, "cam-1", NOW)
    assert now.subject_ids.tolist() == [b.subject_id, b.subject_id, a.subject_id, o.subject_id]
    assert now.subject_names == ("Bob", "Bob", "Amy", "Otto")
    assert now.watchlist_ids.tolist() == [wl.id, wl.id, wl.id, old.id]
    assert now.watchlist_names == ("missing", "missing", "missing", "old")
    assert (now.subject_ids.dtype, now.watchlist_ids.dtype) == (np.int64, np.int64)
    # W-old has ended: its watchlist drops out though W-1 still lets the camera recognise
    later = load_gallery(session, "cam-1", NOW + 3 * D)
    assert later.subject_names == ("Bob", "Bob", "Amy")
    assert later.reason == load_gallery(session, "cam-1", NOW + 3 * D).reason
    assert later.reason and "no subjects" not in later.reason
    missing = load_gallery(session, "nope", NOW, dim=64)
    assert missing.reason == "camera 'nope' is not registered"
    assert missing.embeddings.shape == (0, 64) and missing.size == 0
    assert load_gallery(session, "cam-1", NOW, model=DEFAULT_MODEL).size == 4
    with pytest.raises(ServiceError) as err:
        load_gallery(session, "cam-1", dt.datetime(2025, 6, 1))
    assert str(err.value) == "now must be a timezone-aware time, got 2025-06-01T00:00:00"


def test_a_gallery_skips_other_models_and_broken_rows_and_says_so(
    session: Session, media: MediaStore, caplog: pytest.LogCaptureFixture
) -> None:
    _setup(session)
    small = _enrol(
        session, media, "Small", photo(1, 1), embed=lambda _im: np.ones((1, 64), np.float32)
    )
    caplog.set_level(logging.WARNING, logger="citywatch.services.watchlists")
    only_small = load_gallery(session, "cam-1", NOW)
    base = load_gallery(session, "cam-1", NOW, dim=64).reason
    stale = (
        "1 enrolled photo(s) were embedded by another face model (1 of 64 values; this one "
        "gives 128): re-enrol them"
    )
    assert only_small.size == 0
    assert only_small.reason == f"{base}; no subjects enrolled; {stale}"
    assert caplog.records[0].getMessage() == f"camera cam-1: {stale}"
    jane = _enrol(session, media, "Jane", photo(1, 2))
    both = load_gallery(session, "cam-1", NOW)
    assert (both.size, both.reason) == (1, f"{base}; {stale}")
    assert both.subject_ids.tolist() == [jane.subject_id]
    # a zero vector is skipped; a row whose bytes do not match its size is an error
    row = session.scalars(
        select(SubjectEmbeddingRow).where(SubjectEmbeddingRow.subject_id == jane.subject_id)
    ).one()
    row.embedding = np.zeros(128, "<f4").tobytes()
    session.commit()
    assert load_gallery(session, "cam-1", NOW).reason == f"{base}; no subjects enrolled; {stale}"
    row.embedding = np.ones(3, "<f4").tobytes()
    session.commit()
    with pytest.raises(ServiceError) as err:
        load_gallery(session, "cam-1", NOW)
    assert (
        str(err.value)
        == f"subject {jane.subject_id}: stored embedding has 3 values, its row says 128"
    )
    assert small.embeddings_added == 1


def test_removing_a_subject_touches_only_that_watchlist_s_namesake(
    session: Session, media: MediaStore
) -> None:
    _setup(session)
    add_authorisation(session, "W-2")
    create_watchlist(session, ADMIN, "other", "W-2", now=NOW)
    here = _enrol(session, media, "Jane", photo(1, 1))
    there = _enrol(session, media, "Jane", photo(1, 2), wl="other")
    assert remove_subject(session, media, ADMIN, "other", "Jane", reason="found") == 1
    left = [(s.id, s.watchlist_id) for s in session.scalars(select(SubjectRow))]
    assert left == [(here.subject_id, here.watchlist_id)]
    assert media.path(here.photo_paths[0]).is_file()
    assert not media.path(there.photo_paths[0]).exists()


def test_a_subject_without_photos_lists_none(session: Session, media: MediaStore) -> None:
    wl = _setup(session)
    session.add(
        SubjectRow(watchlist_id=wl.id, name="Bare", reason="r", image_source="s", created_at=NOW)
    )
    session.commit()
    assert [(s.name, s.photos) for s in list_subjects(session, ADMIN, "missing")] == [("Bare", 0)]


def test_an_empty_gallery_has_every_field_empty_and_typed(session: Session) -> None:
    _setup(session)
    add_camera(session, "cam-p", purposes=["plate"])  # no face recognition here
    for gallery, dim in (
        (load_gallery(session, "cam-p", NOW, dim=64), 64),
        (GalleryData.empty("why"), 128),
    ):
        assert gallery.embeddings.shape == (0, dim) and gallery.embeddings.dtype == np.float32
        assert gallery.subject_ids.shape == (0,) and gallery.subject_ids.dtype == np.int64
        assert gallery.watchlist_ids.shape == (0,) and gallery.watchlist_ids.dtype == np.int64
        assert (gallery.subject_names, gallery.watchlist_names, gallery.size) == ((), (), 0)


def test_photo_sides_at_their_limits_are_accepted(session: Session, media: MediaStore) -> None:
    _setup(session)
    edge = np.full((16, MAX_IMAGE_SIDE, 3), 120, np.uint8)
    edge[0, 0, 0], edge[0, 0, 1] = 1, 7  # one face, seed 7 (tests/services/helpers.py)
    assert _enrol(session, media, "Edge", edge).embeddings_added == 1


def test_a_gallery_orders_by_subject_normalises_and_counts_other_models(
    session: Session, media: MediaStore
) -> None:
    _setup(session)
    bob = _enrol(session, media, "Bob", photo(1, 1))
    amy = _enrol(session, media, "Amy", photo(1, 2))
    _enrol(session, media, "Bob", photo(1, 3))  # a later photo of the first subject
    g = load_gallery(session, "cam-1", NOW)
    assert g.subject_ids.tolist() == [bob.subject_id, bob.subject_id, amy.subject_id]
    # a stored vector that is not of unit length comes back normalised
    row = session.scalars(
        select(SubjectEmbeddingRow).where(SubjectEmbeddingRow.subject_id == amy.subject_id)
    ).one()
    row.embedding = np.full(128, 2.0, "<f4").tobytes()
    session.commit()
    g = load_gallery(session, "cam-1", NOW)
    assert np.allclose(g.embeddings[2], np.full(128, 1 / np.sqrt(128)), atol=1e-6)
    # a zero vector first is skipped, and the subjects after it still come
    first = session.scalars(select(SubjectEmbeddingRow).order_by(SubjectEmbeddingRow.id)).first()
    assert first is not None
    first.embedding = np.zeros(128, "<f4").tobytes()
    session.commit()
    g = load_gallery(session, "cam-1", NOW)
    assert g.subject_ids.tolist() == [bob.subject_id, amy.subject_id]
    # photos of two other face models, counted by their size
    for dim, n in ((64, 2), (256, 1)):
        for i in range(n):
            _enrol(
                session, media, f"Old{dim}-{i}", photo(1, 9),
                embed=lambda _im, d=dim: np.ones((1, d), np.float32),
            )  # fmt: skip
    g = load_gallery(session, "cam-1", NOW)
    assert g.reason.endswith(
        "; 3 enrolled photo(s) were embedded by another face model (2 of 64 values, 1 of 256 "
        "values; this one gives 128): re-enrol them"
    )


def test_an_empty_gallery_of_another_size_keeps_its_size(
    session: Session, media: MediaStore
) -> None:
    _setup(session)  # cam-1 may recognise faces; nobody enrolled
    g = load_gallery(session, "cam-1", NOW, dim=64)
    assert g.embeddings.shape == (0, 64) and g.reason.endswith("; no subjects enrolled")


def test_a_subject_needs_a_name(session: Session, media: MediaStore) -> None:
    _setup(session)
    with pytest.raises(ServiceError) as err:
        _enrol(session, media, " ", photo(1, 1))
    assert str(err.value) == "subject name is required"


def test_a_subject_without_photos_takes_the_full_twenty(
    session: Session, media: MediaStore
) -> None:
    wl = _setup(session)
    session.add(
        SubjectRow(watchlist_id=wl.id, name="A", reason="r", image_source="s", created_at=NOW)
    )
    session.commit()
    done = _enrol(session, media, "A", *(photo(1, i) for i in range(MAX_PHOTOS_PER_SUBJECT)))
    assert (done.created, done.embeddings_added) == (False, MAX_PHOTOS_PER_SUBJECT)


def test_a_watchlist_needs_a_name(session: Session) -> None:
    add_authorisation(session, "W-1")
    with pytest.raises(ServiceError) as err:
        create_watchlist(session, ADMIN, "  ", "W-1", now=NOW)
    assert str(err.value) == "watchlist name is required"
