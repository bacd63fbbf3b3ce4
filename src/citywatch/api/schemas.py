"""What the REST API takes and returns: ``XCreate`` / ``XPublic`` models, apart from the tables.

Public models list their fields one by one, so nothing reaches a response by accident: never a
camera URL with credentials (only the redacted form), a password hash, a token or an embedding,
and never a media path (snapshots are served by id through their own routes).

Every list is wrapped in :class:`Page`: ``items`` plus either a cursor (``next_before_id``:
pass it as ``before_id`` to get the next, older page) or ``offset``/``limit``/``total``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, Generic, Literal, TypeVar

from fastapi import HTTPException, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, model_validator

from citywatch.alerts.events import LABELS, vehicle_fields
from citywatch.api.security import Principal
from citywatch.audit.chain import Actor
from citywatch.config.camera import CameraConfig, Purpose
from citywatch.decisions.hotlist import describe_difference
from citywatch.services.alerts import alert_vehicle_check
from citywatch.services.sightings import stored_box
from citywatch.sources.redact import redact_text
from citywatch.store.models import AlertRow, AuthorisationRow, CameraRow, PlateReadRow

T = TypeVar("T")

API = "/api/v1"
MAX_PAGE = 500
Name = Field(min_length=1, max_length=200)
Reason = Field(min_length=1, max_length=1000, description="Why (recorded in the audit log)")


class Out(BaseModel):
    """A response model (read-only view of a row)."""

    model_config = ConfigDict(frozen=True)


class In(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class Page(Out, Generic[T]):
    """One page of a list."""

    items: list[T]
    limit: int = Field(description="Page size asked for")
    next_before_id: int | None = Field(
        default=None, description="Cursor lists: pass as before_id for the next (older) page"
    )
    offset: int | None = Field(default=None, description="Offset lists: where this page starts")
    total: int | None = Field(default=None, description="Offset lists: items in all pages")


def offset_page(items: Sequence[T], *, offset: int, limit: int) -> Page[T]:
    """A page cut from a complete (already ordered) list."""
    return Page[T](
        items=list(items[offset : offset + limit]), limit=limit, offset=offset, total=len(items)
    )


class Error(Out):
    """Every error response: ``detail`` says what was wrong (never a secret)."""

    detail: Any


def unprocessable(loc: Sequence[str | int], problems: Sequence[str], kind: str) -> HTTPException:
    """A 422 shaped like FastAPI's validation errors: one entry per problem, at ``loc``."""
    detail = [{"loc": list(loc), "msg": p, "type": kind} for p in problems]
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail)


#: Error responses every protected route may answer (declared for the OpenAPI schema).
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Error, "description": "Refused by a service rule"},
    401: {"model": Error, "description": "No or unknown credential"},
    403: {"model": Error, "description": "The role lacks the permission, or CSRF failed"},
    404: {"model": Error, "description": "Not found"},
    413: {"model": Error, "description": "Request body too large"},
}


# ---------------------------------------------------------------------------- health


class AlertDeliveryPublic(Out):
    """One external alert sink's outbox (its key is a hash: no host, no token)."""

    pending: int = Field(description="Alerts not delivered yet")
    oldest_pending_s: float | None = Field(description="Age of the oldest undelivered alert")
    failed: int = Field(description="Alerts the sink refused for good (a 4xx reply)")
    last_error: str | None = Field(description="The error holding the pending alerts back")
    last_error_at: dt.datetime | None


class HealthPublic(Out):
    status: Literal["ok", "degraded"]
    version: str
    database: bool = Field(description="The database answered")
    cameras: dict[str, int] = Field(
        description="Number of cameras per source state; 'degraded' while any is 'stale' "
        "(its health record was not rewritten: the process analysing it stopped or hangs)"
    )
    evidence_unwritable: int = Field(
        default=0,
        description="Cameras whose evidence snapshots cannot be written (media folder full or "
        "read-only): 'degraded' while any",
    )
    recording_failed: int = Field(
        default=0,
        description="Cameras whose continuous recording failed (media folder full or "
        "read-only, database away; the analysis goes on): 'degraded' while any",
    )
    recording_storage: str | None = Field(
        default=None,
        description="The node's recording segments against recording.storage.budget_gb: ok, "
        "warning (past warn_fraction), over; 'degraded' unless ok; null when nothing records",
    )
    alert_delivery: dict[str, AlertDeliveryPublic] = Field(
        default_factory=dict,
        description="Per webhook / MQTT sink (by its outbox key): the delivery backlog; "
        "'degraded' while an alert waits longer than alerts.outbox.stale_after_s",
    )


# ---------------------------------------------------------------------------- cameras


class LocationModel(In):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class CameraWrite(In):
    """A camera's registration.  ``url`` is write-only: only its redacted form is ever shown."""

    name: str = Field(default="", max_length=200)
    url: SecretStr = Field(
        min_length=1, max_length=2000, description="Stream URL (write-only; may hold credentials)"
    )
    purposes: list[Purpose] = Field(default_factory=list, max_length=2)
    location: LocationModel | None = None
    zone: str = Field(default="", max_length=200)
    withhold_location: str = Field(default="", max_length=500)
    legal_basis: str = Field(default="", max_length=500)
    impact_assessment: str = Field(default="", max_length=500)
    approved_on: dt.date | None = None
    operator: str = Field(default="", max_length=200)

    def config(self, camera_id: str) -> CameraConfig:
        data = self.model_dump(exclude={"url", "location"})
        data["location"] = self.location.model_dump() if self.location else None
        return CameraConfig.model_validate(
            {**data, "id": camera_id, "url": self.url.get_secret_value()}
        )


class CameraCreate(CameraWrite):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")


class CameraPublic(Out):
    id: str
    name: str
    url_redacted: str
    purposes: list[str]
    lat: float | None
    lon: float | None
    zone: str
    withhold_location: str
    legal_basis: str
    impact_assessment: str
    approved_on: dt.date | None
    operator: str
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, row: CameraRow) -> CameraPublic:
        return cls(
            id=row.id,
            name=row.name,
            url_redacted=row.url_redacted,
            purposes=list(row.purposes),
            lat=row.lat,
            lon=row.lon,
            zone=row.zone,
            withhold_location=row.withhold_location,
            legal_basis=row.legal_basis,
            impact_assessment=row.impact_assessment,
            approved_on=row.approved_on,
            operator=row.operator,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class CameraHealthPublic(Out):
    """How a camera's source and worker are doing (numbers and states only).  ``state`` is
    ``stale`` when the engine stopped rewriting the camera's health record."""

    camera_id: str
    state: str
    record_age_s: float | None = Field(
        default=None, description="Seconds since the engine wrote this record"
    )
    input_fps: float | None = None
    analysed_fps: float | None = None
    reconnects: int | None = None
    frames_dropped: int | None = None
    lag_s: float | None = None
    pending_results: int | None = None
    last_error: str = ""
    last_error_at: dt.datetime | None = Field(
        default=None, description="When the source recorded last_error (it may be past)"
    )
    media_error: str = Field(
        default="",
        description="Why evidence snapshots cannot be written now (alerts are stored without "
        "them); empty when the media folder takes files",
    )
    results_lost: int | None = Field(
        default=None, description="Results decided but never stored (counted, logged)"
    )
    recording: str = Field(
        default="",
        description="Continuous recording: empty (not recorded), waiting, recording, failed, "
        "stopped",
    )
    recording_error: str = Field(default="", description="Why recording failed; empty when not")
    lookalike_magnets: list[LookalikeMagnetPublic] = Field(
        default_factory=list,
        description="Watchlist entries this camera's passers-by keep scoring near (lookalike "
        "magnets): expect false alerts for them; the admin who enrolled them should check the "
        "photo.  Each has its own, stricter threshold",
    )

    @classmethod
    def of(cls, camera_id: str, record: dict[str, Any] | None) -> CameraHealthPublic:
        rec = record if isinstance(record, dict) else {}
        source = rec.get("source") if isinstance(rec.get("source"), dict) else {}
        worker = rec.get("worker") if isinstance(rec.get("worker"), dict) else {}
        assert isinstance(source, dict) and isinstance(worker, dict)
        error = str(source.get("last_error") or worker.get("last_error") or rec.get("error") or "")
        return cls(
            camera_id=camera_id,
            state=str(source.get("state") or ("error" if rec.get("error") else "unknown")),
            input_fps=_num(source.get("input_fps")),
            analysed_fps=_num(source.get("analysed_fps")),
            reconnects=_int(source.get("reconnects")),
            frames_dropped=_int(source.get("frames_dropped")),
            lag_s=_num(worker.get("lag_s")),
            pending_results=_int(rec.get("pending_results")),
            last_error=redact_text(error)[:500],
            last_error_at=_epoch(source.get("last_error_at")) if source.get("last_error") else None,
            record_age_s=_num(rec.get("age_s")),
            media_error=redact_text(str(worker.get("media_error") or ""))[:500],
            results_lost=_int(worker.get("results_lost")),
            recording=str(worker.get("recording") or ""),
            recording_error=redact_text(str(worker.get("recording_error") or ""))[:500],
            lookalike_magnets=_magnets(rec.get("lookalike_magnets")),
        )


class LookalikeMagnetPublic(Out):
    """A watchlist entry passers-by keep scoring near (counts only)."""

    subject_id: int
    near_misses: int = Field(description="Passers-by within the band under the threshold")
    passers_by: int = Field(description="Passers-by whose closest entry it was")
    highest: float = Field(description="Highest score a passer-by reached")
    own_threshold: float = Field(description="The entry's own threshold")


def _magnets(value: Any) -> list[LookalikeMagnetPublic]:
    out: list[LookalikeMagnetPublic] = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict):
            try:
                out.append(LookalikeMagnetPublic.model_validate(item))
            except ValueError:
                continue
    return out


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value == value and abs(value) != float("inf") else None


def _epoch(value: Any) -> dt.datetime | None:
    seconds = _num(value)
    return None if seconds is None else dt.datetime.fromtimestamp(seconds, dt.UTC)


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


# ---------------------------------------------------------------------------- alerts


AlertKind = Literal["face", "plate"]
AlertStatus = Literal["pending", "confirmed", "rejected"]


class AlertPublic(Out):
    """A possible match (face) or hotlist hit (plate); a person confirms or rejects it."""

    id: int
    kind: str
    label: str
    status: str
    camera_id: str
    score: float
    threshold: float | None
    distance: int | None
    subject_name: str | None
    watchlist: str | None = Field(description="Watchlist (face) or hotlist (plate) name")
    plate: str | None
    read: str | None
    differences: str | None = Field(
        default=None, description="Plate hits: how the read differs from the hotlist entry"
    )
    track_id: int
    first_seen_s: float
    last_seen_s: float
    seen_at: dt.datetime
    snapshot_url: str | None
    snapshot_error: str | None = Field(
        default=None,
        description="Why there is no evidence snapshot: 'snapshot could not be written: <reason>'",
    )
    clip_url: str | None = Field(
        default=None, description="The evidence clip (H.264 in MP4, range requests)"
    )
    clip_error: str | None = Field(
        default=None, description="Why there is no clip: 'clip could not be made: <reason>'"
    )
    photo_url: str | None = Field(description="The watchlist reference photo (face alerts)")
    crop_url: str | None = Field(
        default=None,
        description="The matched face (or the plate) cut from the snapshot at ``box``",
    )
    box: list[float] | None = Field(
        default=None,
        min_length=4,
        max_length=4,
        description="The face (or plate) in the snapshot: x0, y0, x1, y1 pixels",
    )
    sightings: int = Field(
        default=1,
        description="Tracks of this subject (plate) on this camera counted on the alert while "
        "it was pending, the first included",
    )
    last_sighting_at: dt.datetime | None = Field(
        default=None, description="When the latest of those was seen (None: only the first)"
    )
    evidence: dict[str, Any] | None = Field(
        default=None,
        description="Face alerts: frames used, per-frame scores and quality, face size (px), "
        "the lead over the next entry (margin) and the threshold applied",
    )
    vehicle: str | None = Field(
        default=None, description="Plate alerts: the vehicle seen with the read ('red car')"
    )
    vehicle_kind: str | None = None
    vehicle_colour: str | None = None
    hotlist_vehicle: str | None = Field(
        default=None, description="The vehicle the hotlist entry describes ('white car')"
    )
    vehicle_mismatch: bool = Field(
        default=False,
        description="The type differs from the hotlist's, or the colour is far from it: a "
        "cloned plate or a misread (docs/vehicles.md)",
    )
    vehicle_note: str | None = Field(
        default=None, description="'hotlist says white car; seen: red car (...)'"
    )
    reviewed_by: str | None
    reviewed_at: dt.datetime | None
    review_reason: str | None
    created_at: dt.datetime

    @classmethod
    def of(cls, row: AlertRow) -> AlertPublic:
        return cls(
            **vehicle_fields(alert_vehicle_check(row), row.vehicle_kind, row.vehicle_colour),
            id=row.id,
            kind=row.kind,
            label=LABELS.get((row.kind, row.status), f"{row.kind} alert ({row.status})"),
            status=row.status,
            camera_id=row.camera_id,
            score=row.score,
            threshold=row.threshold,
            distance=row.distance,
            subject_name=row.subject_name,
            watchlist=row.list_name,
            evidence=face_evidence(row),
            plate=row.plate,
            read=row.read,
            differences=describe_difference(row.read, row.plate) if row.kind == "plate" else None,
            track_id=row.track_id,
            first_seen_s=row.first_seen_s,
            last_seen_s=row.last_seen_s,
            seen_at=row.seen_at,
            snapshot_url=f"{API}/alerts/{row.id}/snapshot.jpg" if row.snapshot_path else None,
            clip_url=f"{API}/alerts/{row.id}/clip.mp4" if row.clip_path else None,
            clip_error=row.clip_error,
            snapshot_error=row.snapshot_error,
            photo_url=(
                f"{API}/alerts/{row.id}/photo.jpg"
                if row.kind == "face" and row.subject_id is not None
                else None
            ),
            crop_url=(
                f"{API}/alerts/{row.id}/crop.jpg"
                if row.snapshot_path and stored_box(row) is not None
                else None
            ),
            box=list(box) if (box := stored_box(row)) is not None else None,
            sightings=row.sightings or 1,
            last_sighting_at=row.last_sighting_at,
            reviewed_by=row.reviewed_by,
            reviewed_at=row.reviewed_at,
            review_reason=row.review_reason,
            created_at=row.created_at,
        )


class ReviewIn(In):
    decision: Literal["confirm", "reject"]
    reason: str = Field(min_length=1, max_length=2000, pattern=r"\S")


# ---------------------------------------------------------------------------- search

CaseRef = Field(
    min_length=1,
    max_length=200,
    pattern=r"\S",
    description="Case reference the search is made for (recorded in the audit log)",
)


class PlateSearch(In):
    """Plate reads by pattern (``*`` any run, ``?`` one character) or, fuzzy, near a plate."""

    pattern: str = Field(min_length=1, max_length=50)
    case_ref: str = CaseRef
    fuzzy: bool = Field(default=False, description="Match plates within max_distance edits")
    max_distance: int = Field(default=1, ge=0, le=2)
    camera_id: str | None = Field(default=None, max_length=63)
    zone: str | None = Field(default=None, max_length=200)
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    offset: int = Field(default=0, ge=0, le=9_000)
    limit: int = Field(default=100, ge=1, le=1000)

    @model_validator(mode="after")
    def _whole_plate_when_fuzzy(self) -> PlateSearch:
        if self.fuzzy and any(ch in self.pattern for ch in "*?"):
            raise ValueError("fuzzy search takes a whole plate, not a wildcard pattern")
        return self


class VehicleSearch(In):
    """Plate reads by the vehicle that held the plate: type and/or colour, with a plate
    pattern or else at one camera or zone within at most 24 hours (docs/vehicles.md)."""

    case_ref: str = CaseRef
    pattern: str | None = Field(default=None, min_length=1, max_length=50)
    vehicle_kind: str | None = Field(default=None, max_length=20)
    vehicle_colour: str | None = Field(default=None, max_length=20)
    camera_id: str | None = Field(default=None, max_length=63)
    zone: str | None = Field(default=None, max_length=200)
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    offset: int = Field(default=0, ge=0, le=9_000)
    limit: int = Field(default=100, ge=1, le=1000)


class AlertSearch(In):
    """History search of alerts by subject (name or plate), camera and time."""

    case_ref: str = CaseRef
    subject: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"\S")
    camera_id: str | None = Field(default=None, max_length=63)
    kind: Literal["face", "plate"] | None = None
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    before_id: int | None = Field(default=None, ge=1, le=2**62)
    limit: int = Field(default=100, ge=1, le=MAX_PAGE)


class PlateReadPublic(Out):
    id: int
    camera_id: str
    plate: str
    confidence: float
    plate_format: str
    votes: int
    reads: int
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime
    evidence_hold: bool
    distance: int | None = Field(default=None, description="Fuzzy search: edits to the query")
    snapshot_url: str | None = Field(description="Add ?case_ref=... to fetch it")
    snapshot_error: str | None = Field(
        default=None, description="Why the snapshot of a held read is missing"
    )
    vehicle_kind: str | None = Field(
        default=None,
        description="Type of the vehicle whose box held the plate (car, truck, bus, "
        "motorcycle), voted over the track; None when no vehicle held it",
    )
    vehicle_colour: str | None = Field(
        default=None, description="That vehicle's body colour, named (docs/vehicles.md)"
    )

    @classmethod
    def of(cls, row: PlateReadRow, distance: int | None = None) -> PlateReadPublic:
        return cls(
            id=row.id,
            camera_id=row.camera_id,
            plate=row.plate,
            confidence=row.confidence,
            plate_format=row.plate_format,
            votes=row.votes,
            reads=row.reads,
            first_seen_at=row.first_seen_at,
            last_seen_at=row.last_seen_at,
            evidence_hold=row.evidence_hold,
            distance=distance,
            snapshot_url=(
                f"{API}/search/plates/{row.id}/snapshot.jpg" if row.snapshot_path else None
            ),
            snapshot_error=row.snapshot_error,
            vehicle_kind=row.vehicle_kind,
            vehicle_colour=row.vehicle_colour,
        )


# ---------------------------------------------------------------------------- lists


class WatchlistCreate(In):
    name: str = Name
    authorisation_reference: str = Field(min_length=1, max_length=100)
    max_subjects: int = Field(default=1000, ge=1, le=1_000_000)


class WatchlistPublic(Out):
    id: int
    name: str
    authorisation_reference: str
    max_subjects: int
    subjects: int
    created_at: dt.datetime


class SubjectPublic(Out):
    id: int
    name: str
    reason: str
    image_source: str
    photos: int
    created_at: dt.datetime


class EnrolPublic(Out):
    subject_id: int
    subject_name: str
    watchlist: str
    created: bool = Field(description="False: photos were added to an existing subject")
    photos_added: int


class RemovedPublic(Out):
    removed: int = Field(description="How many items (photos, plates) were removed")


class HotlistCreate(In):
    name: str = Name
    reason: str = Reason


class HotlistPublic(Out):
    id: int
    name: str
    reason: str
    entries: int
    created_at: dt.datetime


class PlateAdd(In):
    plate: str = Field(min_length=1, max_length=100)
    reason: str = Reason
    vehicle_kind: str | None = Field(
        default=None,
        max_length=20,
        description="The vehicle the plate belongs on: car, truck (van), bus, motorcycle",
    )
    vehicle_colour: str | None = Field(
        default=None, max_length=20, description="Its colour: white, grey (silver), black, ..."
    )


class HotlistEntryPublic(Out):
    id: int
    plate: str
    raw: str
    reason: str
    vehicle_kind: str | None = None
    vehicle_colour: str | None = None
    created_at: dt.datetime


class ImportPublic(Out):
    hotlist: str
    added: int


class AuthorisationCreate(In):
    reference: str = Field(min_length=1, max_length=100, pattern=r"\S")
    authority: str = Field(min_length=1, max_length=200, pattern=r"\S")
    purpose: str = Field(min_length=1, max_length=500, pattern=r"\S")
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    scope_cameras: list[str] = Field(default_factory=list, max_length=1000)
    scope_zones: list[str] = Field(default_factory=list, max_length=1000)
    urgent: bool = False


class AuthorisationPublic(Out):
    id: int
    reference: str
    authority: str
    purpose: str
    scope_cameras: list[str]
    scope_zones: list[str]
    starts_at: dt.datetime
    ends_at: dt.datetime
    urgent: bool
    confirmed_at: dt.datetime | None
    status: str
    created_at: dt.datetime

    @classmethod
    def of(cls, row: AuthorisationRow) -> AuthorisationPublic:
        return cls(
            id=row.id,
            reference=row.reference,
            authority=row.authority,
            purpose=row.purpose,
            scope_cameras=list(row.scope_cameras),
            scope_zones=list(row.scope_zones),
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            urgent=row.urgent,
            confirmed_at=row.confirmed_at,
            status=row.status,
            created_at=row.created_at,
        )


def actor_of(principal: Principal | None) -> Actor:
    """The audit actor of a protected route's principal (``requires`` never gives None there)."""
    if principal is None:  # pragma: no cover - requires() refuses before the route runs
        raise RuntimeError("a protected route ran without a principal")
    return principal.actor()


def face_evidence(row: AlertRow) -> dict[str, Any] | None:
    """A face alert's stored evidence (``alerts.face_evidence``), None for others or when
    unreadable."""
    if row.kind != "face" or not row.face_evidence:
        return None
    try:
        data = json.loads(row.face_evidence)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
