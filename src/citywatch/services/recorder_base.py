"""The groundwork of :class:`~citywatch.services.events.EventRecorder`: its settings, the
deny-by-default checks made before a sighting is stored, the lookups of earlier alerts, the
commit that moves a staged snapshot into place, and the daily count of face tracks analysed and
discarded.

The sightings themselves (face matches, plate reads, hotlist hits) and the alerts they raise
are recorded by :mod:`citywatch.services.events`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from citywatch.audit.chain import Actor
from citywatch.decisions.types import Box, FaceMatch, FaceTrackCount, PlateRead
from citywatch.policy.authorisation import (
    authorisation_is_live,
    covers_camera,
    may_recognise_faces,
)
from citywatch.policy.register import camera_may_analyse
from citywatch.services.authorisations import authorisation_facts, list_authorisations
from citywatch.services.cameras import camera_facts
from citywatch.services.common import NotFoundError, PermissionDenied
from citywatch.services.evidence import EvidenceWriter, MediaHealth
from citywatch.store.media import MediaStore, StagedFile
from citywatch.store.models import (
    AlertRow,
    CameraRow,
    FaceCountRow,
    PlateReadRow,
    WatchlistRow,
)
from citywatch.store.types import from_unix, utcnow
from citywatch.vision.record import ImageBGR

if TYPE_CHECKING:
    from citywatch.services.events import HotlistMatch, Publish


class RecorderBase:
    """What :class:`~citywatch.services.events.EventRecorder` is built on (its settings are
    documented there)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        media: MediaStore,
        hotlist_match: HotlistMatch,
        publish: Publish,
        *,
        run_id: str = "",
        keep_read_snapshots: bool = False,
        actor: Actor | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        repeat_window_s: float = 120.0,
        group_window_s: float = 900.0,
        plate_min_confidence: float = 0.0,
        replayable: bool = False,
        recheck_replays: bool | None = None,
        on_alert: Callable[[AlertRow, Box | None], None] | None = None,
        evidence: Callable[[FaceMatch | PlateRead], ImageBGR | None] | None = None,
    ) -> None:
        self._sessions = session_factory
        self._media = media
        self._evidence = EvidenceWriter(media)
        self._match = hotlist_match
        self._publish = publish
        self._run_id = run_id
        self._keep_read_snapshots = keep_read_snapshots
        self._actor = actor or Actor.system("recorder")
        self._clock = clock
        self._repeat_window_s = repeat_window_s
        self._group_window_s = group_window_s
        self._plate_min_confidence = plate_min_confidence
        self._replayable = replayable
        self._recheck_replays = not run_id if recheck_replays is None else recheck_replays
        # told of every alert stored, after its commit (evidence clips: services/clips.py)
        self._on_alert = on_alert
        # the snapshot of a sighting, asked only when one is stored (a camera analysed on
        # its substream decodes its main stream's picture then: engine/dual.py)
        self._evidence_of = evidence

    @property
    def run_id(self) -> str:
        return self._run_id

    @property
    def repeat_window_s(self) -> float:
        return self._repeat_window_s

    @property
    def group_window_s(self) -> float:
        return self._group_window_s

    @property
    def plate_min_confidence(self) -> float:
        return self._plate_min_confidence

    @property
    def replayable(self) -> bool:
        return self._replayable

    def _picture(self, s: FaceMatch | PlateRead) -> ImageBGR | None:
        if self._evidence_of is None or s.evidence is None:
            return s.evidence
        return self._evidence_of(s)

    def media_health(self) -> MediaHealth:
        """Snapshots written and not written by this recorder; the media folder's error."""
        return self._evidence.health()

    def _key(self, sighting: FaceMatch | PlateRead) -> str:
        """The content part of the event id ('' = key by track number)."""
        if not self._replayable:
            return ""
        if isinstance(sighting, FaceMatch):
            return f"subject:{sighting.subject_id}"
        return f"plate:{sighting.text}"

    def _check_camera(self, session: Session, camera_id: str, purpose: str) -> None:
        """Deny by default: an unregistered camera, or one without the basis, stores nothing."""
        cam = session.get(CameraRow, camera_id)
        if cam is None:
            raise NotFoundError(f"camera {camera_id!r} is not registered; sighting not stored")
        now = self._clock()
        if purpose == "face":
            auths = [authorisation_facts(a) for a in list_authorisations(session)]
            decision = may_recognise_faces(camera_facts(cam), auths, now)
        else:
            decision = camera_may_analyse(camera_facts(cam), purpose, now)
        if not decision.allowed:
            raise PermissionDenied(f"{decision.reason}; sighting not stored")

    def _check_watchlist(self, session: Session, m: FaceMatch) -> None:
        """The match's watchlist must be bound to an authorisation that is live now and covers
        this camera: a worker handed a gallery of another camera's watchlists (or an outdated
        one) stores nothing, even when some other authorisation covers the camera."""
        cam = session.get(CameraRow, m.camera_id)
        wl = session.get(WatchlistRow, m.watchlist_id)
        if cam is None or wl is None:
            raise NotFoundError(
                f"camera {m.camera_id!r} / watchlist {m.watchlist_id}: not found; "
                "sighting not stored"
            )
        facts = authorisation_facts(wl.authorisation)
        if not covers_camera(facts, cam.id, cam.zone):
            raise PermissionDenied(
                f"camera {cam.id!r}: watchlist {wl.name!r} is held under authorisation "
                f"{facts.reference!r}, which does not cover this camera; sighting not stored"
            )
        live = authorisation_is_live(facts, self._clock())
        if not live:
            raise PermissionDenied(f"watchlist {wl.name!r}: {live.reason}; sighting not stored")

    def _existing_alert(self, session: Session, eid: str) -> int | None:
        return session.scalar(select(AlertRow.id).where(AlertRow.event_id == eid))

    def _repeat_of(
        self, session: Session, eid: str, camera_id: str, same: Any, at: dt.datetime
    ) -> int | None:
        """A recent alert of the same kind, camera and subject/plate: a new track of the same
        person or car within ``repeat_window_s`` is the same event for the control room."""
        if self._repeat_window_s <= 0:
            return None
        since = at - dt.timedelta(seconds=self._repeat_window_s)
        return session.scalar(
            select(AlertRow.id)
            .where(AlertRow.camera_id == camera_id, AlertRow.event_id != eid, same)
            .where(AlertRow.seen_at >= since, AlertRow.seen_at <= at)
            .order_by(AlertRow.id.desc())
            .limit(1)
        )

    def _commit(self, session: Session, staged: StagedFile | None) -> None:
        """Commit, then move the staged snapshot into place; when that fails the rows that
        name it are told why instead.  A failed commit leaves no file behind."""
        try:
            session.commit()
        except BaseException:
            self._evidence.discard(staged)
            raise
        error = self._evidence.publish(staged)
        if error is None or staged is None:
            return
        for table in (AlertRow, PlateReadRow):
            session.execute(
                update(table)
                .where(table.snapshot_path == staged.rel)
                .values(snapshot_path=None, snapshot_error=error)
                .execution_options(synchronize_session=False)
            )
        session.commit()
        for obj in list(session.identity_map.values()):
            if isinstance(obj, AlertRow | PlateReadRow) and obj.snapshot_path == staged.rel:
                session.refresh(obj)

    def record_face_count(self, c: FaceTrackCount) -> None:
        """Add analysed-and-discarded face tracks to the camera's count for that UTC day."""
        if c.tracks <= 0:
            return
        day = from_unix(c.wall_time).date()
        with self._sessions() as session:
            dialect = session.get_bind().dialect.name
            values = {"camera_id": c.camera_id, "day": day, "tracks": c.tracks}
            if dialect == "postgresql":
                pg = postgresql.insert(FaceCountRow).values(**values)
                stmt = pg.on_conflict_do_update(
                    index_elements=["camera_id", "day"],
                    set_={"tracks": FaceCountRow.tracks + pg.excluded.tracks},
                )
                session.execute(stmt)
            else:  # SQLite: make_engine refuses every other database
                lite = sqlite.insert(FaceCountRow).values(**values)
                stmt2 = lite.on_conflict_do_update(
                    index_elements=["camera_id", "day"],
                    set_={"tracks": FaceCountRow.tracks + lite.excluded.tracks},
                )
                session.execute(stmt2)
            session.commit()
