"""Watchlists, hotlists and their authorisations as the API takes and returns them."""

from __future__ import annotations

import datetime as dt

from pydantic import AwareDatetime, Field

from citywatch.api.schemas.base import In, Name, Out, Reason
from citywatch.store.models import AuthorisationRow

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
