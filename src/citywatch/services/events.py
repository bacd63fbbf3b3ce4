"""Recording what the decision layer reports: face matches, plate reads, face counts.

Each write is keyed by an ``event_id`` derived from (kind, camera, track, first-seen time), so
replaying the same footage is idempotent: the second write is a no-op that returns the first
row's id and publishes nothing.  Alerts are published after their transaction commits.

Evidence snapshots are staged before the transaction and moved into place after it commits
(:mod:`citywatch.services.evidence`): a row that does not commit leaves no file, and a media
folder that is full or read-only stores the row without its snapshot, saying why.

A later track of an alerted subject or plate on the same camera, while that alert is pending
and within ``group_window_s`` of its last sighting, is counted on it (``alerts.sightings``,
``alerts.last_sighting_at``, one ``alert_sightings`` row keyed by the track's event id, audited
``alert.sighting``) instead of raising a new alert: looped or loitering footage stays one alert.
A hotlist hit whose voted confidence is under ``plate_min_confidence`` is stored as a read and
alerts nobody.

A plate read replayed from recorded footage (a file camera run again: same event id) is
checked against the hotlist as it is now, and alerts once for an entry added since; a live
read (``run_id`` set) is checked against the hotlist of its time only, so a batch retried
after a store outage raises nothing new.

The recorder's settings, the checks made before anything is stored, the commit that moves a
snapshot into place and the daily face counts are in :mod:`citywatch.services.recorder_base`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from citywatch.alerts.events import AlertEvent
from citywatch.audit.chain import append
from citywatch.decisions.types import Box, FaceMatch, PlateRead
from citywatch.services.alerts import alert_event
from citywatch.services.common import NotFoundError
from citywatch.services.recorder_base import RecorderBase
from citywatch.services.sightings import BOX_COLUMNS, box_columns, count_sighting, counted
from citywatch.store.media import StagedFile
from citywatch.store.models import (
    AlertRow,
    HotlistEntryRow,
    HotlistRow,
    PlateReadRow,
    SubjectRow,
    WatchlistRow,
)
from citywatch.store.types import from_unix

log = logging.getLogger(__name__)


class HotlistHitLike(Protocol):
    """What the recorder reads from a hotlist hit (:class:`~citywatch.decisions.types.HotlistHit`
    fits)."""

    @property
    def hotlist_id(self) -> int: ...
    @property
    def entry(self) -> str: ...
    @property
    def distance(self) -> int: ...


HotlistMatch = Callable[[PlateRead], HotlistHitLike | None]
Publish = Callable[[AlertEvent], None]


def event_id(
    kind: str,
    camera_id: str,
    track_id: int,
    first_seen_s: float,
    run_id: str = "",
    *,
    content: str = "",
) -> str:
    """Deterministic id of a track-level event (sha256 hex).

    ``content`` is what the track showed (the plate read, the subject).  With it the id is
    (kind, camera, media time of the first sighting, run, content) and the tracker's number is
    left out: a camera worker restarted on another node (a Ray actor) that re-analyses the
    same footage numbers its tracks afresh, yet must write the same ids, and a different
    sighting that happens to share the first-seen time still gets its own id because it shows
    something else.  Without ``content`` the track number is part of the key."""
    if content:
        key = f"{kind}|{camera_id}|{first_seen_s:.6f}|{run_id}|{content}"
    else:
        key = f"{kind}|{camera_id}|{track_id}|{first_seen_s:.6f}|{run_id}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class EventRecorder(RecorderBase):
    """Stores sightings and publishes alerts; safe to share between threads of one process.

    ``run_id`` tells apart runs whose media clock restarts (a live stream reconnecting): pass the
    stream's start time for live sources, leave it empty for files so a replay is idempotent.
    ``keep_read_snapshots``: keep the evidence image of every plate read, not only of hits.
    ``clock``: the time the legal-basis and authorisation checks are made at (tests pin it).
    ``repeat_window_s``: a new track of a subject or plate already alerted on the same camera
    this recently raises no new alert (0 = alert on every track).
    ``group_window_s``: while that alert is pending, a new track within this many seconds of
    its last sighting is counted on it (the window slides; 0 = off, only ``repeat_window_s``).
    ``plate_min_confidence``: a hotlist hit alerts only from a voted read this confident.
    ``replayable``: key events by what the track showed (subject, plate read) instead of the
    tracker's number, for workers that may be restarted and re-analyse the same footage (the
    Ray engine's camera actors): see :func:`event_id`.
    ``recheck_replays``: a replayed plate read is checked against today's hotlist (default:
    when ``run_id`` is empty, i.e. recorded footage; a live read keeps the hotlist of its time).
    ``evidence``: the snapshot of a sighting, asked only when one is stored (a camera analysed
    on its substream decodes its main stream's picture: ``engine/dual.py``); default: the
    sighting's own ``evidence``.
    """

    def __repr__(self) -> str:
        return f"EventRecorder(media={self._media!r}, run_id={self._run_id!r})"

    def _emit(self, event: AlertEvent) -> None:
        try:
            self._publish(event)
        except Exception:  # the alert is stored; a sink failure must not lose it
            log.exception("alert %s (camera %s): publishing failed", event.id, event.camera_id)

    def _commit_sighting(
        self,
        session: Session,
        eid: str,
        staged: StagedFile | None,
        count: Callable[[], int | None],
    ) -> int | None:
        """Count a track on a pending alert (``count``) and commit: that alert's id, or None
        when there is none.  A concurrent writer that counted the same track first wins (its
        alert id is returned): the clash shows when our row is flushed, which a query inside
        ``count`` does before the commit."""
        try:
            grouped = count()
            if grouped is not None:
                self._commit(session, staged)
        except IntegrityError:
            session.rollback()
            self._evidence.discard(staged)
            found = counted(session, eid)
            if found is None:
                raise
            return found
        return grouped

    def record_face_match(self, m: FaceMatch) -> int | None:
        """Store a possible match as a pending alert and return its id.  A later track of
        the same subject on this camera is counted on its pending alert (that alert's id is
        returned).  ``None`` when its subject was removed, or when the same subject was
        alerted (and reviewed) on this camera within ``repeat_window_s``."""
        eid = event_id(
            "face", m.camera_id, m.track_id, m.first_seen_s, self._run_id, content=self._key(m)
        )
        with self._sessions() as session:
            found = self._existing_alert(session, eid) or counted(session, eid)
            if found is not None:
                return found
            self._check_camera(session, m.camera_id, "face")
            subject = session.get(SubjectRow, m.subject_id)
            if subject is None or subject.watchlist_id != m.watchlist_id:
                log.warning(
                    "camera %s track %d: subject %d is no longer on watchlist %d; match dropped",
                    m.camera_id,
                    m.track_id,
                    m.subject_id,
                    m.watchlist_id,
                )
                return None
            self._check_watchlist(session, m)
            seen_at = from_unix(m.frame_wall_time)
            same = AlertRow.subject_id == subject.id
            grouped = self._commit_sighting(session, eid, None, lambda: count_sighting(
                session, self._actor, self._group_window_s, eid=eid, kind="face",
                camera_id=m.camera_id, same=same, at=seen_at, track_id=m.track_id,
            ))  # fmt: skip
            if grouped is not None:
                return grouped
            repeat = self._repeat_of(session, eid, m.camera_id, same, seen_at)
            if repeat is not None:
                log.info("camera %s track %d: repeat of alert %d", m.camera_id, m.track_id, repeat)
                return None
            watchlist = session.get(WatchlistRow, m.watchlist_id)
            staged, snapshot_error = None, None
            picture = self._picture(m)
            if picture is not None:
                staged, snapshot_error = self._evidence.stage("face", eid, picture)
            row = AlertRow(
                event_id=eid,
                kind="face",
                camera_id=m.camera_id,
                subject_id=subject.id,
                watchlist_id=m.watchlist_id,
                subject_name=subject.name,
                list_name=watchlist.name if watchlist else None,
                score=float(m.score),
                threshold=float(m.threshold),
                **box_columns(m.box),
                face_evidence=json.dumps(m.scores.evidence()) if m.scores is not None else None,
                track_id=m.track_id,
                first_seen_s=m.first_seen_s,
                last_seen_s=m.last_seen_s,
                seen_at=seen_at,
                snapshot_path=staged.rel if staged else None,
                snapshot_error=snapshot_error,
                status="pending",
            )
            return self._insert_alert(session, row, staged, m.box)

    def _insert_alert(
        self, session: Session, row: AlertRow, staged: StagedFile | None, box: Box | None = None
    ) -> int:
        try:
            session.add(row)
            session.flush()
            append(
                session,
                self._actor,
                "alert.create",
                f"alert:{row.id}",
                details={
                    "kind": row.kind,
                    "camera_id": row.camera_id,
                    "subject_id": row.subject_id,
                    "plate": row.plate,
                    "read": row.read,
                    "score": row.score,
                    **({"snapshot_error": row.snapshot_error} if row.snapshot_error else {}),
                },
            )
            self._commit(session, staged)
        except IntegrityError:
            session.rollback()
            self._evidence.discard(staged)
            found = self._existing_alert(session, row.event_id)
            if found is None:
                raise
            return found
        except BaseException:
            self._evidence.discard(staged)
            raise
        self._emit(alert_event(row))
        if self._on_alert is not None:
            try:
                self._on_alert(row, box)
            except Exception:  # the alert is stored; a missing clip must not lose it
                log.exception("alert %s: clip request failed", row.id)
        return row.id

    def _hit(self, r: PlateRead) -> HotlistHitLike | None:
        """The hotlist hit of a read, None when it hits nothing or its voted confidence is
        under ``plate_min_confidence`` (stored as a read, alerts nobody)."""
        hit = self._match(r)
        if hit is not None and r.confidence < self._plate_min_confidence:
            log.info(
                "camera %s track %d: read %s hits hotlist entry %s at confidence %.2f, under "
                "the minimum %.2f: stored, no alert",
                r.camera_id,
                r.track_id,
                r.text,
                hit.entry,
                r.confidence,
                self._plate_min_confidence,
            )
            return None
        return hit

    def record_plate_read(self, r: PlateRead) -> tuple[int, int | None]:
        """Store the read; when the hotlist matcher hits, hold it as evidence and alert.

        A replay of a stored read (same event id) stores nothing new; from recorded footage
        it is checked against the hotlist as it is now (see :meth:`_replayed_read`)."""
        key = self._key(r)
        eid = event_id("plate", r.camera_id, r.track_id, r.first_seen_s, self._run_id, content=key)
        hit_eid = event_id(
            "hotlist", r.camera_id, r.track_id, r.first_seen_s, self._run_id, content=key
        )
        with self._sessions() as session:
            stored = session.scalar(select(PlateReadRow).where(PlateReadRow.event_id == eid))
            if stored is not None:
                return stored.id, self._replayed_read(session, r, stored, eid, hit_eid)
            self._check_camera(session, r.camera_id, "plate")
            hit = self._hit(r)
            last = from_unix(r.frame_wall_time)
            span = dt.timedelta(seconds=max(0.0, r.last_seen_s - r.first_seen_s))
            staged, snapshot_error = None, None
            picture = self._picture(r) if hit is not None or self._keep_read_snapshots else None
            if picture is not None:
                staged, snapshot_error = self._evidence.stage("plate", eid, picture)
            read = PlateReadRow(
                event_id=eid,
                camera_id=r.camera_id,
                track_id=r.track_id,
                plate=r.text,
                confidence=float(r.confidence),
                plate_format=r.plate_format,
                votes=r.votes,
                reads=r.reads,
                first_seen_s=r.first_seen_s,
                last_seen_s=r.last_seen_s,
                first_seen_at=last - span,
                last_seen_at=last,
                snapshot_path=staged.rel if staged else None,
                snapshot_error=snapshot_error,
                evidence_hold=hit is not None,
                **box_columns(r.box),
                vehicle_kind=r.vehicle_kind or None,
                vehicle_colour=r.vehicle_colour or None,
                vehicle_score=float(r.vehicle_score) if r.vehicle_kind else None,
            )
            try:
                session.add(read)
                session.flush()
            except IntegrityError:
                session.rollback()
                self._evidence.discard(staged)
                again = session.scalar(select(PlateReadRow.id).where(PlateReadRow.event_id == eid))
                if again is None:
                    raise
                return again, self._existing_alert(session, hit_eid)
            except BaseException:
                self._evidence.discard(staged)
                raise
            alert_id = self._alert_on_hit(session, r, read, hit, hit_eid, staged)
            read_id = session.scalar(select(PlateReadRow.id).where(PlateReadRow.event_id == eid))
            if read_id is None:  # pragma: no cover - the alert's own transaction stored it
                raise NotFoundError(f"plate read {eid} vanished while its alert was stored")
            return read_id, alert_id

    def _replayed_read(
        self, session: Session, r: PlateRead, read: PlateReadRow, eid: str, hit_eid: str
    ) -> int | None:
        """A read stored before, sent again: its alert if it has one.  From recorded footage
        (``recheck_replays``) a read without an alert is matched against today's hotlist and
        alerts once for an entry added since it was stored; a live read keeps the answer of
        its time (a batch retried after an outage is the same read, not a new sighting)."""
        found = self._existing_alert(session, hit_eid) or counted(session, hit_eid)
        if found is not None or not self._recheck_replays:
            return found
        same = r if r.text == read.plate else dataclasses.replace(r, text=read.plate)
        hit = self._hit(dataclasses.replace(same, confidence=read.confidence))
        if hit is None:
            return None
        self._check_camera(session, r.camera_id, "plate")
        staged = None
        picture = self._picture(r) if read.snapshot_path is None else None
        if picture is not None:
            staged, error = self._evidence.stage("plate", eid, picture)
            read.snapshot_path = staged.rel if staged else None
            read.snapshot_error = error
        read.evidence_hold = True
        log.info(
            "camera %s: read %d matches hotlist entry %s added since it was stored",
            read.camera_id,
            read.id,
            hit.entry,
        )
        return self._alert_on_hit(session, same, read, hit, hit_eid, staged)

    def _alert_on_hit(
        self,
        session: Session,
        r: PlateRead,
        read: PlateReadRow,
        hit: HotlistHitLike | None,
        hit_eid: str,
        staged: StagedFile | None,
    ) -> int | None:
        """Commit the (flushed) read, with an alert when it hit and is no repeat of a recent
        alert on the same plate; the alert shares the read's snapshot and box.  A hit of a
        plate whose alert on this camera is still pending is counted on that alert."""
        last = read.last_seen_at
        if hit is not None:
            same = AlertRow.plate == hit.entry
            grouped = self._commit_sighting(session, hit_eid, staged, lambda: count_sighting(
                session, self._actor, self._group_window_s, eid=hit_eid, kind="plate",
                camera_id=read.camera_id, same=same, at=last, track_id=read.track_id,
                plate_read_id=read.id,
            ))  # fmt: skip
            if grouped is not None:
                return grouped
        if hit is None or self._repeat_of(
            session, hit_eid, read.camera_id, AlertRow.plate == hit.entry, last
        ):
            # no hit, or a repeat sighting of an alerted plate: the read is stored (and
            # held as evidence when it hit), the control room is not alerted twice
            self._commit(session, staged)
            return None
        entry = session.execute(
            select(
                HotlistEntryRow.id,
                HotlistRow.name,
                HotlistEntryRow.vehicle_kind,
                HotlistEntryRow.vehicle_colour,
            )
            .join(HotlistRow, HotlistRow.id == HotlistEntryRow.hotlist_id)
            .where(HotlistEntryRow.hotlist_id == hit.hotlist_id)
            .where(HotlistEntryRow.plate == hit.entry)
        ).first()
        alert = AlertRow(
            event_id=hit_eid,
            kind="plate",
            camera_id=read.camera_id,
            hotlist_entry_id=entry.id if entry else None,
            plate_read_id=read.id,
            list_name=entry.name if entry else None,
            plate=hit.entry,
            read=read.plate,
            score=float(read.confidence),
            distance=int(hit.distance),
            track_id=read.track_id,
            first_seen_s=read.first_seen_s,
            last_seen_s=read.last_seen_s,
            seen_at=last,
            **{name: getattr(read, name) for name in BOX_COLUMNS},
            snapshot_path=read.snapshot_path,
            snapshot_error=read.snapshot_error,
            status="pending",
            vehicle_kind=read.vehicle_kind,
            vehicle_colour=read.vehicle_colour,
            expected_vehicle_kind=entry.vehicle_kind if entry else None,
            expected_vehicle_colour=entry.vehicle_colour if entry else None,
        )
        return self._insert_alert(session, alert, staged)
