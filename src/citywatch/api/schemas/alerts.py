"""Alerts, reviews and the searches of plate reads and alerts as the API takes and returns them."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal

from pydantic import AwareDatetime, Field, model_validator

from citywatch.alerts.events import LABELS, vehicle_fields
from citywatch.api.schemas.base import API, MAX_PAGE, In, Out
from citywatch.decisions.hotlist import describe_difference
from citywatch.services.alerts import alert_vehicle_check
from citywatch.services.sightings import stored_box
from citywatch.store.models import AlertRow, PlateReadRow

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
