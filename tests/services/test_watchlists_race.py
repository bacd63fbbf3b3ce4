"""Watchlists under concurrency, on PostgreSQL (issue 21, mutation testing).

An enrolment locks its watchlist's row (``SELECT ... FOR UPDATE``) before it counts the
subjects, so two enrolments at once cannot both pass the watchlist's size limit; and a
watchlist deleted between the name lookup and the lock is refused in words.  SQLite serialises
writers on its own, so these run on PostgreSQL only (skipped without it, a failure under
``CITYWATCH_STRICT=1``).  No sleeps: the first enrolment is held inside its transaction by an
event, and the test waits until the second is either waiting for a lock (PostgreSQL says so)
or past the point where it would have waited.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text
from sqlalchemy.orm import Session, sessionmaker

from citywatch.audit.chain import entries
from citywatch.services.authorisations import refuse_authorisation
from citywatch.services.common import NotFoundError
from citywatch.services.enrolment import EnrolmentError, EnrolResult, enrol_subject
from citywatch.services.watchlists import create_watchlist
from citywatch.store.db import make_engine, make_session_factory
from citywatch.store.media import MediaStore
from citywatch.store.models import SubjectRow
from citywatch.vision.record import ImageBGR
from tests.services.helpers import (
    ADMIN,
    NOW,
    add_authorisation,
    add_camera,
    fake_embed_faces,
    photo,
)
from tests.store.db_fixtures import _truncate_pg

GUARD_S = 30.0  # a deadlock guard only: the test never waits for time to pass


@pytest.fixture
def pg_engine(pg_database_url: str) -> Iterator[Engine]:
    eng = make_engine(pg_database_url)
    _truncate_pg(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def pg_sessions(pg_engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(pg_engine)


class HeldMedia(MediaStore):
    """The real store, whose first photo write says so and waits to be let go: the enrolment
    is then inside its transaction, past the size check, with nothing committed."""

    def __init__(self, root: Any, inside: threading.Event, go: threading.Event | None) -> None:
        super().__init__(root)
        self.inside, self.go = inside, go

    def save_snapshot(self, kind: str, event_id: str, image_bgr: ImageBGR) -> str:
        self.inside.set()
        if self.go is not None and not self.go.wait(GUARD_S):
            raise TimeoutError("the test never let the enrolment go")
        return super().save_snapshot(kind, event_id, image_bgr)


def _waiting_for_a_lock(engine: Engine) -> bool:
    with engine.connect() as conn:
        n = conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar()
    return bool(n)


def _enrol(sessions: sessionmaker[Session], media: MediaStore, name: str, seed: int) -> EnrolResult:
    with sessions() as s:
        return enrol_subject(
            s, media, ADMIN, "missing", name, [(f"{name}.jpg", photo(1, seed))],
            fake_embed_faces, reason="reported missing", image_source="family photos", now=NOW,
        )  # fmt: skip


def test_two_enrolments_at_once_cannot_both_pass_the_size_limit(
    pg_engine: Engine, pg_sessions: sessionmaker[Session], tmp_path: Any
) -> None:
    with pg_sessions() as s:
        add_camera(s, "cam-1")
        add_authorisation(s, "W-1", cameras=("cam-1",))
        create_watchlist(s, ADMIN, "missing", "W-1", 1, now=NOW)
    first_inside, second_inside, go = threading.Event(), threading.Event(), threading.Event()
    first_media = HeldMedia(tmp_path / "media", first_inside, go)
    second_media = HeldMedia(tmp_path / "media", second_inside, None)
    results: dict[str, EnrolResult | BaseException] = {}

    def run(name: str, media: MediaStore, seed: int) -> None:
        try:
            results[name] = _enrol(pg_sessions, media, name, seed)
        except BaseException as err:
            results[name] = err

    first = threading.Thread(target=run, args=("Ann", first_media, 1))
    second = threading.Thread(target=run, args=("Bob", second_media, 2))
    first.start()
    try:
        assert first_inside.wait(GUARD_S), "the first enrolment never reached its photo"
        second.start()
        # The second enrolment must stop at the first one's row lock; without the lock it
        # counts the subjects (none committed yet), adds its own and writes its photo.
        deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=GUARD_S)
        while not second_inside.wait(0.01) and not _waiting_for_a_lock(pg_engine):
            assert dt.datetime.now(dt.UTC) < deadline, "the second neither waited nor ran"
    finally:
        go.set()
        first.join(GUARD_S)
        second.join(GUARD_S)
    assert not first.is_alive() and not second.is_alive()
    assert isinstance(results["Ann"], EnrolResult), results["Ann"]
    refused = results["Bob"]
    assert isinstance(refused, EnrolmentError), refused
    assert str(refused) == "watchlist 'missing' is full (1 subjects)"
    assert not second_inside.is_set()  # refused before any photo of Bob was written
    with pg_sessions() as s:
        assert list(s.scalars(select(SubjectRow.name))) == ["Ann"]
        enrols = [e for e in entries(s) if e.action == "subject.enrol"]
    assert [(e.target.split("/")[0], e.details["subject"]) for e in enrols] == [
        ("watchlist:missing", "Ann")
    ]
    root = tmp_path / "media"
    assert [str(p.relative_to(root)) for p in root.rglob("*.jpg")] == list(
        results["Ann"].photo_paths
    )


def test_a_watchlist_deleted_between_lookup_and_lock_is_refused_in_words(
    pg_engine: Engine, pg_sessions: sessionmaker[Session], media: MediaStore
) -> None:
    """The enrolment finds the watchlist by name, then locks its row; an urgent authorisation
    refused in between deletes the watchlist, and the lock finds no row."""
    with pg_sessions() as s:
        add_camera(s, "cam-1")
        add_authorisation(
            s, "U-1", cameras=("cam-1",), starts=NOW - dt.timedelta(hours=2),
            ends=NOW + dt.timedelta(days=1), urgent=True,
        )  # fmt: skip
        create_watchlist(s, ADMIN, "missing", "U-1", 10, now=NOW)
    refused_at: list[str] = []

    def refuse_before_the_lock(_conn: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        if "FOR UPDATE" in statement and not refused_at:
            refused_at.append(statement)
            with pg_sessions() as other:
                refuse_authorisation(other, media, ADMIN, "U-1", reason="judge refused", now=NOW)

    event.listen(pg_engine, "before_cursor_execute", refuse_before_the_lock)
    try:
        with pytest.raises(NotFoundError) as gone:
            _enrol(pg_sessions, media, "Ann", 1)
    finally:
        event.remove(pg_engine, "before_cursor_execute", refuse_before_the_lock)
    assert len(refused_at) == 1
    assert str(gone.value) == "watchlist 'missing' does not exist"
    with pg_sessions() as s:
        assert list(s.scalars(select(SubjectRow))) == []
        actions = [e.action for e in entries(s)]
    assert actions[-1] == "authorisation.refuse" and "subject.enrol" not in actions
    assert list(media.root.rglob("*.jpg")) == []
