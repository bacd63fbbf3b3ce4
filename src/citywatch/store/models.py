"""Database tables (SQLAlchemy 2 typed ORM).  Kept apart from any API schema.

Every datetime column is aware UTC (:class:`UTCDateTime`).  The schema is created and changed by
Alembic migrations only (``store/migrations``); a test checks the two agree.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from citywatch.store.types import UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ALERT_KINDS = ("face", "plate")
ALERT_STATUSES = ("pending", "confirmed", "rejected")
AUTHORISATION_STATUSES = ("active", "revoked")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012  (SQLAlchemy reads it at class creation)
        dt.datetime: UTCDateTime(),
        dt.date: Date(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }


class CameraRow(Base):
    __tablename__ = "cameras"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    url_redacted: Mapped[str] = mapped_column(String(2000))  # never the credentials
    # the substream analysed (config ``detect_url``), credentials removed; None: one stream
    detect_url_redacted: Mapped[str | None] = mapped_column(String(2000))
    purposes: Mapped[list[str]] = mapped_column(JSON())
    lat: Mapped[float | None] = mapped_column(Float())
    lon: Mapped[float | None] = mapped_column(Float())
    zone: Mapped[str] = mapped_column(String(200), default="")
    withhold_location: Mapped[str] = mapped_column(String(500), default="")
    legal_basis: Mapped[str] = mapped_column(String(500))
    impact_assessment: Mapped[str] = mapped_column(String(500))
    approved_on: Mapped[dt.date | None] = mapped_column(Date())
    operator: Mapped[str] = mapped_column(String(200), default="")
    # continuous recording, as registered (config ``recording``); the public register shows it
    records: Mapped[bool] = mapped_column(Boolean(), default=False, server_default=false())
    record_retain_hours: Mapped[float | None] = mapped_column(Float())
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AuthorisationRow(Base):
    """A warrant-like authorisation for face recognition: who granted it, where, until when."""

    __tablename__ = "authorisations"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'revoked')", name="status"),
        CheckConstraint("ends_at > starts_at", name="period"),
    )

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    reference: Mapped[str] = mapped_column(String(100), unique=True)
    authority: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(500))
    scope_cameras: Mapped[list[str]] = mapped_column(JSON())
    scope_zones: Mapped[list[str]] = mapped_column(JSON())
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime]
    urgent: Mapped[bool] = mapped_column(Boolean(), default=False)
    confirmed_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class WatchlistRow(Base):
    __tablename__ = "watchlists"

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    authorisation_id: Mapped[int] = mapped_column(
        ForeignKey("authorisations.id", ondelete="RESTRICT")
    )
    max_subjects: Mapped[int] = mapped_column(Integer(), default=1000)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    authorisation: Mapped[AuthorisationRow] = relationship(lazy="joined")
    subjects: Mapped[list[SubjectRow]] = relationship(
        back_populates="watchlist", cascade="all, delete-orphan", passive_deletes=True
    )


class SubjectRow(Base):
    __tablename__ = "subjects"
    __table_args__ = (UniqueConstraint("watchlist_id", "name"),)

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    watchlist_id: Mapped[int] = mapped_column(
        ForeignKey("watchlists.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(1000), default="")
    image_source: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    watchlist: Mapped[WatchlistRow] = relationship(back_populates="subjects")
    embeddings: Mapped[list[SubjectEmbeddingRow]] = relationship(
        back_populates="subject", cascade="all, delete-orphan", passive_deletes=True
    )


class SubjectEmbeddingRow(Base):
    __tablename__ = "subject_embeddings"

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    subject_id: Mapped[int] = mapped_column(
        ForeignKey("subjects.id", ondelete="CASCADE"), index=True
    )
    embedding: Mapped[bytes] = mapped_column(LargeBinary())  # float32, little-endian, L2-normed
    dim: Mapped[int] = mapped_column(Integer())
    model: Mapped[str] = mapped_column(String(100))
    photo_path: Mapped[str | None] = mapped_column(String(500))  # relative to the media dir
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    subject: Mapped[SubjectRow] = relationship(back_populates="embeddings")


class HotlistRow(Base):
    __tablename__ = "hotlists"

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    reason: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class HotlistEntryRow(Base):
    __tablename__ = "hotlist_entries"
    __table_args__ = (UniqueConstraint("hotlist_id", "plate"),)

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    hotlist_id: Mapped[int] = mapped_column(ForeignKey("hotlists.id", ondelete="CASCADE"))
    plate: Mapped[str] = mapped_column(String(20), index=True)  # normalised
    raw: Mapped[str] = mapped_column(String(100))  # as the operator typed it
    reason: Mapped[str] = mapped_column(String(1000), default="")
    # the vehicle the plate belongs on, when the list says (car, truck, bus, motorcycle; a
    # named colour): an alert compares it with the vehicle seen (decisions/vehicle_check.py)
    vehicle_kind: Mapped[str | None] = mapped_column(String(20))
    vehicle_colour: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PlateReadRow(Base):
    """One plate track's voted read.  ``event_id`` makes replayed writes idempotent."""

    __tablename__ = "plate_reads"
    __table_args__ = (Index("ix_plate_reads_camera_id_last_seen_at", "camera_id", "last_seen_at"),)

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id", ondelete="RESTRICT"))
    track_id: Mapped[int] = mapped_column(Integer())
    plate: Mapped[str] = mapped_column(String(20), index=True)
    confidence: Mapped[float] = mapped_column(Float())
    plate_format: Mapped[str] = mapped_column(String(10), default="")
    votes: Mapped[int] = mapped_column(Integer(), default=0)
    reads: Mapped[int] = mapped_column(Integer(), default=0)
    first_seen_s: Mapped[float] = mapped_column(Float())  # media time
    last_seen_s: Mapped[float] = mapped_column(Float())
    first_seen_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
    snapshot_path: Mapped[str | None] = mapped_column(String(500))
    # why the evidence snapshot is missing (media folder full or read-only); None when fine
    snapshot_error: Mapped[str | None] = mapped_column(String(300))
    evidence_hold: Mapped[bool] = mapped_column(Boolean(), default=False)
    # the plate in the evidence frame (pixels, x0 y0 x1 y1); None when not known
    box_x0: Mapped[float | None] = mapped_column(Float())
    box_y0: Mapped[float | None] = mapped_column(Float())
    box_x1: Mapped[float | None] = mapped_column(Float())
    box_y1: Mapped[float | None] = mapped_column(Float())
    # the vehicle whose box held the plate (voted over the track); None when none did
    vehicle_kind: Mapped[str | None] = mapped_column(String(20), index=True)
    vehicle_colour: Mapped[str | None] = mapped_column(String(20), index=True)
    vehicle_score: Mapped[float | None] = mapped_column(Float())
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AlertRow(Base):
    """A possible watchlist match or hotlist hit, pending human review."""

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint("kind IN ('face', 'plate')", name="kind"),
        CheckConstraint("status IN ('pending', 'confirmed', 'rejected')", name="status"),
        Index("ix_alerts_camera_id_seen_at", "camera_id", "seen_at"),
        Index("ix_alerts_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id", ondelete="RESTRICT"))
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("subjects.id", ondelete="SET NULL"))
    watchlist_id: Mapped[int | None] = mapped_column(
        ForeignKey("watchlists.id", ondelete="SET NULL")
    )
    hotlist_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("hotlist_entries.id", ondelete="SET NULL")
    )
    plate_read_id: Mapped[int | None] = mapped_column(
        ForeignKey("plate_reads.id", ondelete="SET NULL")
    )
    subject_name: Mapped[str | None] = mapped_column(String(200))  # as it was at alert time
    list_name: Mapped[str | None] = mapped_column(String(200))  # watchlist or hotlist name
    plate: Mapped[str | None] = mapped_column(String(20))  # the hotlist entry that matched
    read: Mapped[str | None] = mapped_column(String(20))  # what was read on the street
    score: Mapped[float] = mapped_column(Float())
    threshold: Mapped[float | None] = mapped_column(Float())
    distance: Mapped[int | None] = mapped_column(Integer())
    track_id: Mapped[int] = mapped_column(Integer())
    first_seen_s: Mapped[float] = mapped_column(Float())
    last_seen_s: Mapped[float] = mapped_column(Float())
    seen_at: Mapped[dt.datetime]
    snapshot_path: Mapped[str | None] = mapped_column(String(500))
    # why the evidence snapshot is missing (media folder full or read-only); None when fine
    snapshot_error: Mapped[str | None] = mapped_column(String(300))
    # face alerts: the scalar evidence (frames used, per-frame scores, margin, threshold), JSON
    face_evidence: Mapped[str | None] = mapped_column(Text())
    # the evidence clip (MP4, faces blurred as in the snapshot) or why there is none
    clip_path: Mapped[str | None] = mapped_column(String(500))
    clip_error: Mapped[str | None] = mapped_column(String(300))
    # the matched face (or the plate) in the evidence snapshot (pixels, x0 y0 x1 y1); the
    # review page cuts its crop from the snapshot at view time.  None when not known
    box_x0: Mapped[float | None] = mapped_column(Float())
    box_y0: Mapped[float | None] = mapped_column(Float())
    box_x1: Mapped[float | None] = mapped_column(Float())
    box_y1: Mapped[float | None] = mapped_column(Float())
    # sightings of the same subject/plate on this camera counted on the alert while it was
    # pending (the first included), and when the latest was (None: only the first)
    sightings: Mapped[int] = mapped_column(Integer(), default=1, server_default="1")
    last_sighting_at: Mapped[dt.datetime | None]
    # plate alerts: the vehicle seen with the read and the one the hotlist entry described,
    # as they were at alert time (None when not known)
    vehicle_kind: Mapped[str | None] = mapped_column(String(20))
    vehicle_colour: Mapped[str | None] = mapped_column(String(20))
    expected_vehicle_kind: Mapped[str | None] = mapped_column(String(20))
    expected_vehicle_colour: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    reviewed_by: Mapped[str | None] = mapped_column(String(200))
    reviewed_at: Mapped[dt.datetime | None]
    review_reason: Mapped[str | None] = mapped_column(Text())
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AlertSightingRow(Base):
    """A later track of an alert's subject or plate on its camera, counted on the pending
    alert instead of raising a new one.  ``event_id`` (the track's own) keeps a replayed
    batch from counting it twice; the rows go with their alert."""

    __tablename__ = "alert_sightings"

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    plate_read_id: Mapped[int | None] = mapped_column(
        ForeignKey("plate_reads.id", ondelete="SET NULL")
    )
    track_id: Mapped[int] = mapped_column(Integer())
    seen_at: Mapped[dt.datetime]


class FaceCountRow(Base):
    """Faces analysed and discarded, per camera per UTC day: a count, nothing else."""

    __tablename__ = "face_counts"

    camera_id: Mapped[str] = mapped_column(
        ForeignKey("cameras.id", ondelete="RESTRICT"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(Date(), primary_key=True)
    tracks: Mapped[int] = mapped_column(Integer(), default=0)


class AuditLogRow(Base):
    """Append-only, hash-chained.  Written only by :mod:`citywatch.audit.chain`."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer(), primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(50))
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(500))
    details: Mapped[str] = mapped_column(Text())  # canonical JSON (sorted keys, no spaces)
    reason: Mapped[str | None] = mapped_column(Text())  # reason or case reference
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)


# --- People and machines that use the API (issue 4) ------------------------------------------

USER_ROLES = ("admin", "operator", "investigator", "auditor", "supervisor")
TOKEN_ROLES = (*USER_ROLES, "scraper")


class UserRow(Base):
    """A person who signs in to the console.  Only an Argon2id hash of the password is kept."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "role IN ('admin', 'operator', 'investigator', 'auditor', 'supervisor')", name="role"
        ),
    )

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(Boolean(), default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: Who created the account (the audit actor's name; None for accounts from before 0004).
    created_by: Mapped[str | None] = mapped_column(String(200))
    #: An account that searches or approves, made by an administrator through the API, waits
    #: for a second administrator (or the server's CLI) to activate it; it cannot sign in.
    pending_activation: Mapped[bool] = mapped_column(Boolean(), default=False)
    activated_by: Mapped[str | None] = mapped_column(String(200))
    activated_at: Mapped[dt.datetime | None]


class ApiTokenRow(Base):
    """A bearer token for an integration.  Only the SHA-256 of the secret is kept."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint(
            "role IN ('admin', 'operator', 'investigator', 'auditor', 'supervisor', 'scraper')",
            name="role",
        ),
    )

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))


class LoginAttemptRow(Base):
    """Sign-in attempts counted per client address, and per account name and address.

    ``key`` is the SHA-256 of the scope, the name as typed (case-folded) and the address, so a
    name nobody has (people type passwords into the name field) is never stored in clear.
    An attempt is counted before its password is checked (one conditional UPDATE), so parallel
    requests cannot all be checked before the first failure is counted."""

    __tablename__ = "login_attempts"
    __table_args__ = (CheckConstraint("scope IN ('address', 'account')", name="scope"),)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[str] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(String(100), index=True)
    account: Mapped[str | None] = mapped_column(String(64), index=True)  # SHA-256 of the name
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    attempts: Mapped[int] = mapped_column(Integer(), default=0)
    window_started: Mapped[dt.datetime]
    locked_until: Mapped[dt.datetime | None]


class WebSessionRow(Base):
    """A signed-in console session.  ``id`` is the SHA-256 of the cookie's secret."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# --- Accountability (issue 5) ----------------------------------------------------------------

ACCESS_REQUEST_STATUSES = ("pending", "approved", "denied")


class AccessRequestRow(Base):
    """An investigator's request to view plate reads older than the access window, for one
    case and one period of reads; usable only once a second person approved it."""

    __tablename__ = "access_requests"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'denied')", name="status"),
        CheckConstraint("reads_until > reads_from", name="period"),
        Index("ix_access_requests_requested_by_case_ref", "requested_by", "case_ref"),
        Index("ix_access_requests_status_requested_at", "status", "requested_at"),
    )

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    case_ref: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text())
    reads_from: Mapped[dt.datetime]
    reads_until: Mapped[dt.datetime]
    requested_by: Mapped[str] = mapped_column(String(200))  # the audit actor's name
    requested_role: Mapped[str] = mapped_column(String(50))
    requested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_role: Mapped[str | None] = mapped_column(String(50))
    decided_at: Mapped[dt.datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(Text())
    expires_at: Mapped[dt.datetime | None]  # approved requests: usable until then


# --- Durable alert delivery (issue 13) -------------------------------------------------------

OUTBOX_STATES = ("pending", "delivered", "failed")


class AlertOutboxRow(Base):
    """One alert's delivery to one external sink (a webhook, the MQTT broker).

    Written in the alert's own transaction, one row per configured sink; a delivery loop per
    sink claims due rows (``claimed_by``/``claimed_until``: a lease, so two delivering
    processes never send the same row at once), sends them and marks them ``delivered``; a
    failed try sets ``next_attempt_at`` (exponential backoff with jitter).  ``failed``: the sink
    refused the alert for good (a 4xx reply).  The rows go with their alert (cascade) and are
    swept by retention.  ``sink`` is the sink's stable key (no URL, no secret)."""

    __tablename__ = "alert_outbox"
    __table_args__ = (
        UniqueConstraint("alert_id", "sink"),
        CheckConstraint("state IN ('pending', 'delivered', 'failed')", name="state"),
        Index("ix_alert_outbox_sink_state_next_attempt_at", "sink", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    sink: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer(), default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[dt.datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[dt.datetime | None]
    last_attempt_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    done_at: Mapped[dt.datetime | None]  # delivered, or given up on


# --- Continuous recording (issue 17) ---------------------------------------------------------


class RecordingSegmentRow(Base):
    """One segment of a camera's continuous recording (fragmented MP4, stream copy).

    The row is added when the segment starts (``complete`` false, ``ended_at`` None; the file
    is written under a temporary name) and finished when the file is renamed into place.
    Only complete segments are ever served; a partial one is finished or discarded on restart.
    """

    __tablename__ = "recording_segments"
    __table_args__ = (
        Index("ix_recording_segments_camera_id_started_at", "camera_id", "started_at"),
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="period"),
    )

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id", ondelete="RESTRICT"))
    started_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]
    path: Mapped[str] = mapped_column(String(500), unique=True)  # relative to the media folder
    bytes: Mapped[int] = mapped_column(Integer(), default=0)
    sha256: Mapped[str | None] = mapped_column(String(64))
    complete: Mapped[bool] = mapped_column(Boolean(), default=False, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
