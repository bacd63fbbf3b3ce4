"""The public transparency register: what the system is, where it looks, under whose authority,
how often it alerted and how often it was wrong.  Built from the database and the config; holds
nothing personal.

What is published, and what never is:

* every registered camera (a camera cannot analyse without being registered, so the list is
  complete by construction): its exact location, or only its zone and the reason when the config
  withholds the location (then its name is withheld too: a name often says where it hangs);
  purposes, legal basis, impact-assessment reference and status, operator;
* per authorisation: a public number (not the reference: a case may be traced by it), purpose,
  issuing authority, period, state, the cameras and zones it covers and how many watchlist
  entries it holds (a count);
* statistics per month (UTC): faces analysed (counted, never stored), alerts, confirmed,
  rejected (false alerts), pending, plate reads, hotlist hits; in total and per camera;
* the model card: the face threshold the system runs at and the measured rates behind it.

Never: plates, names, subject or alert ids, snapshots, camera URLs, reviewers, reasons.  Free
text typed by staff (purposes, zones, reasons) is checked against the plates and subject names
in the database before it is published, and withheld when it contains one.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citywatch.config.root import CitywatchConfig
from citywatch.policy.authorisation import authorisation_state, may_recognise_faces
from citywatch.services.authorisations import authorisation_facts, list_authorisations
from citywatch.services.cameras import camera_facts, list_cameras
from citywatch.services.register_card import ModelCardPublic, public_model_card
from citywatch.services.stats import daily_counts
from citywatch.store.models import (
    AlertRow,
    AuthorisationRow,
    CameraRow,
    HotlistEntryRow,
    PlateReadRow,
    SubjectRow,
    WatchlistRow,
)
from citywatch.store.types import utcnow

WITHHELD = "[withheld: contains personal data]"
NOT_PUBLISHED = (
    "No plates, names, faces, snapshots, alert or subject identifiers, camera addresses, "
    "reviewers or review reasons are published here.",
    "Faces that match nobody are analysed, counted and discarded at once: only the count is kept.",
    "A withheld camera location is published as its zone, with the reason; its name is withheld "
    "with it.",
    "Statistics are per calendar month in UTC; an alert counts in the month it was seen.",
)
_MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


class Public(BaseModel):
    model_config = ConfigDict(frozen=True)


class Location(Public):
    lat: float = Field(ge=-90, le=90, description="WGS84 latitude")
    lon: float = Field(ge=-180, le=180, description="WGS84 longitude")


class RegisterCamera(Public):
    id: str
    name: str = Field(description="Empty when the location is withheld")
    zone: str
    location: Location | None = Field(description="None when withheld or not recorded")
    location_withheld: bool
    withheld_reason: str | None = Field(description="Why only the zone is published")
    purposes: list[str] = Field(description="What the camera may analyse: face, plate")
    legal_basis: str
    impact_assessment: str = Field(description="Impact-assessment (DPIA) reference")
    impact_assessment_status: str = Field(description="approved, awaiting approval or missing")
    approved_on: dt.date | None
    operator: str
    face_recognition_authorised: bool = Field(
        description="A live authorisation covers face recognition on this camera now"
    )
    records: bool = Field(default=False, description="The camera is recorded continuously")
    record_retain_hours: float | None = Field(
        default=None, description="Hours a recording is kept (None: it does not record)"
    )


class RegisterAuthorisation(Public):
    number: int = Field(description="Public number of the authorisation (not its reference)")
    purpose: str
    authority: str = Field(description="Who issued it")
    starts_at: dt.datetime
    ends_at: dt.datetime
    urgent: bool
    confirmed: bool = Field(description="An urgent authorisation confirmed in writing")
    state: str = Field(
        description="scheduled, awaiting_confirmation, live, expired, revoked, refused, lapsed"
    )
    cameras: list[str] = Field(description="Camera ids it covers")
    zones: list[str] = Field(description="Zones it covers")
    watchlist_entries: int = Field(ge=0, description="People on its watchlists now (a count)")


class Counts(Public):
    faces_analysed: int = Field(ge=0, description="Face tracks analysed (counted, never stored)")
    face_alerts: int = Field(ge=0, description="Possible watchlist matches")
    hotlist_hits: int = Field(ge=0, description="Plate hotlist hits")
    alerts: int = Field(ge=0, description="face_alerts + hotlist_hits")
    confirmed: int = Field(ge=0, description="Alerts a person confirmed")
    rejected: int = Field(ge=0, description="Alerts a person rejected: false alerts")
    pending: int = Field(ge=0, description="Alerts not reviewed yet")
    plate_reads: int = Field(ge=0, description="Plate tracks read")


class MonthStatistics(Counts):
    month: str = Field(pattern=_MONTH, description="YYYY-MM (UTC)")


class CameraMonthStatistics(MonthStatistics):
    camera_id: str


class PublicRegister(Public):
    generated_at: dt.datetime
    operators: list[str]
    cameras: list[RegisterCamera]
    authorisations: list[RegisterAuthorisation]
    statistics: list[MonthStatistics] = Field(description="All cameras, per month, oldest first")
    statistics_by_camera: list[CameraMonthStatistics]
    model_card: ModelCardPublic
    not_published: list[str] = Field(description="What this register never contains")


# ----------------------------------------------------------------------------- statistics


@dataclass(slots=True)
class Tally:
    """Mutable counts while adding up days."""

    faces_discarded: int = 0
    face_alerts: int = 0
    hotlist_hits: int = 0
    confirmed: int = 0
    rejected: int = 0
    pending: int = 0
    plate_reads: int = 0

    def add(self, other: Tally) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def counts(self) -> dict[str, int]:
        return {
            "faces_analysed": self.faces_discarded + self.face_alerts,
            "face_alerts": self.face_alerts,
            "hotlist_hits": self.hotlist_hits,
            "alerts": self.face_alerts + self.hotlist_hits,
            "confirmed": self.confirmed,
            "rejected": self.rejected,
            "pending": self.pending,
            "plate_reads": self.plate_reads,
        }


@dataclass(frozen=True, slots=True)
class DayActivity:
    camera_id: str
    day: dt.date
    tally: Tally = field(default_factory=Tally)


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def activity(
    session: Session, *, since: dt.date | None = None, until: dt.date | None = None
) -> list[DayActivity]:
    """Counts per camera and UTC day in ``[since, until]``, ordered by camera then day.

    Faces and plate reads come from :func:`citywatch.services.stats.daily_counts`; alerts are
    few (each one is reviewed by a person), so they are added up here by review state."""
    acc: dict[tuple[str, dt.date], Tally] = defaultdict(Tally)
    for d in daily_counts(session, since=since, until=until):
        t = acc[(d.camera_id, d.day)]
        t.faces_discarded += d.faces_discarded
        t.plate_reads += d.plate_reads
    stmt = select(AlertRow.camera_id, AlertRow.seen_at, AlertRow.kind, AlertRow.status)
    if since is not None:
        stmt = stmt.where(AlertRow.seen_at >= _start_of(since))
    if until is not None:
        stmt = stmt.where(AlertRow.seen_at < _start_of(until + dt.timedelta(days=1)))
    for cam, seen, kind, status in session.execute(stmt):
        t = acc[(cam, seen.astimezone(dt.UTC).date())]
        if kind == "face":
            t.face_alerts += 1
        else:
            t.hotlist_hits += 1
        if status == "confirmed":
            t.confirmed += 1
        elif status == "rejected":
            t.rejected += 1
        else:
            t.pending += 1
    return [DayActivity(cam, day, t) for (cam, day), t in sorted(acc.items())]


def month_key(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def monthly(
    days: Iterable[DayActivity],
) -> tuple[list[MonthStatistics], list[CameraMonthStatistics]]:
    """Per month (all cameras), and per camera and month, oldest first."""
    total: dict[str, Tally] = defaultdict(Tally)
    per_cam: dict[tuple[str, str], Tally] = defaultdict(Tally)
    for d in days:
        key = month_key(d.day)
        total[key].add(d.tally)
        per_cam[(key, d.camera_id)].add(d.tally)
    months = [MonthStatistics(month=m, **t.counts()) for m, t in sorted(total.items())]
    cams = [
        CameraMonthStatistics(month=m, camera_id=c, **t.counts())
        for (m, c), t in sorted(per_cam.items())
    ]
    return months, cams


# ----------------------------------------------------------------------------- personal data


_WORD = re.compile(r"[A-Za-z0-9]+")


def _plate_candidates(texts: Iterable[str]) -> set[str]:
    """Runs of one to three words, joined without separators and upper-cased: how a plate
    written as ``AB 123 CD`` or ``AB-123-CD`` looks once normalised."""
    out: set[str] = set()
    for text in texts:
        words = [w.upper() for w in _WORD.findall(text)]
        for i in range(len(words)):
            for n in (1, 2, 3):
                joined = "".join(words[i : i + n])
                if 4 <= len(joined) <= 20 and i + n <= len(words):
                    out.add(joined)
    return out


def _chunks(values: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


@dataclass(frozen=True, slots=True)
class PersonalTerms:
    """Plates and subject names found in the database, to keep out of published free text."""

    names: tuple[re.Pattern[str], ...]
    plates: frozenset[str]

    @classmethod
    def load(cls, session: Session, texts: Iterable[str]) -> PersonalTerms:
        texts = [t for t in texts if t]
        candidates = sorted(_plate_candidates(texts))
        plates: set[str] = set()
        columns = (PlateReadRow.plate, HotlistEntryRow.plate, AlertRow.plate, AlertRow.read)
        for column in columns:
            for chunk in _chunks(candidates):
                plates.update(session.scalars(select(column).where(column.in_(chunk)).distinct()))
        names: set[str] = set(session.scalars(select(SubjectRow.name).distinct()))
        names.update(
            n for n in session.scalars(select(AlertRow.subject_name).distinct()) if n is not None
        )
        patterns = tuple(
            re.compile(rf"(?<![\w]){re.escape(n.strip())}(?![\w])", re.IGNORECASE)
            for n in sorted(names)
            if len(n.strip()) >= 3
        )
        return cls(patterns, frozenset(p for p in plates if p))

    def holds_personal(self, text: str) -> bool:
        if not text:
            return False
        if _plate_candidates([text]) & self.plates:
            return True
        return any(p.search(text) for p in self.names)

    def clean(self, text: str) -> str:
        return WITHHELD if self.holds_personal(text) else text


# ----------------------------------------------------------------------------- the register


def impact_assessment_status(row: CameraRow, today: dt.date) -> str:
    if not row.impact_assessment.strip() or row.approved_on is None:
        return "missing"
    if row.approved_on > today:
        return "awaiting approval"
    return "approved"


def public_state(row: AuthorisationRow, now: dt.datetime) -> str:
    """scheduled, awaiting_confirmation, live, expired, revoked, refused or lapsed."""
    return authorisation_state(authorisation_facts(row), now).state.value


def _watchlist_sizes(session: Session) -> dict[int, int]:
    stmt = (
        select(WatchlistRow.authorisation_id, func.count(SubjectRow.id))
        .join(SubjectRow, SubjectRow.watchlist_id == WatchlistRow.id)
        .group_by(WatchlistRow.authorisation_id)
    )
    return {int(a): int(n) for a, n in session.execute(stmt)}


def register_cameras(
    cameras: Sequence[CameraRow],
    auths: Sequence[AuthorisationRow],
    terms: PersonalTerms,
    now: dt.datetime,
) -> list[RegisterCamera]:
    facts = [authorisation_facts(a) for a in auths]
    out: list[RegisterCamera] = []
    for row in cameras:
        reason = row.withhold_location.strip()
        location = None
        if not reason and row.lat is not None and row.lon is not None:
            location = Location(lat=row.lat, lon=row.lon)
        out.append(
            RegisterCamera(
                id=row.id,
                name="" if reason else terms.clean(row.name),
                zone=terms.clean(row.zone),
                location=location,
                location_withheld=bool(reason),
                withheld_reason=terms.clean(reason) if reason else None,
                purposes=sorted(str(p) for p in row.purposes),
                legal_basis=terms.clean(row.legal_basis),
                impact_assessment=terms.clean(row.impact_assessment),
                impact_assessment_status=impact_assessment_status(row, now.date()),
                approved_on=row.approved_on,
                operator=terms.clean(row.operator),
                face_recognition_authorised=bool(
                    may_recognise_faces(camera_facts(row), facts, now)
                ),
                records=bool(row.records),
                record_retain_hours=row.record_retain_hours if row.records else None,
            )
        )
    return out


def register_authorisations(
    auths: Sequence[AuthorisationRow],
    sizes: dict[int, int],
    terms: PersonalTerms,
    now: dt.datetime,
) -> list[RegisterAuthorisation]:
    return [
        RegisterAuthorisation(
            number=row.id,
            purpose=terms.clean(row.purpose),
            authority=terms.clean(row.authority),
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            urgent=row.urgent,
            confirmed=row.confirmed_at is not None,
            state=public_state(row, now),
            cameras=list(row.scope_cameras),
            zones=[terms.clean(z) for z in row.scope_zones],
            watchlist_entries=sizes.get(row.id, 0),
        )
        for row in auths
    ]


def free_texts(cameras: Sequence[CameraRow], auths: Sequence[AuthorisationRow]) -> list[str]:
    """Every text typed by staff that the register would publish."""
    texts: list[str] = []
    for c in cameras:
        texts += [c.name, c.zone, c.withhold_location, c.legal_basis, c.impact_assessment]
        texts.append(c.operator)
    for a in auths:
        texts += [a.purpose, a.authority, *a.scope_zones]
    return texts


def build_register(
    session: Session, config: CitywatchConfig, *, now: dt.datetime | None = None
) -> PublicRegister:
    """The whole register as of ``now`` (default: the current time)."""
    at = utcnow() if now is None else now.astimezone(dt.UTC)
    cameras = list_cameras(session)
    auths = list_authorisations(session)
    terms = PersonalTerms.load(session, free_texts(cameras, auths))
    months, per_camera = monthly(activity(session))
    published = register_cameras(cameras, auths, terms, at)
    return PublicRegister(
        generated_at=at,
        operators=sorted({c.operator for c in published if c.operator}),
        cameras=published,
        authorisations=register_authorisations(auths, _watchlist_sizes(session), terms, at),
        statistics=months,
        statistics_by_camera=per_camera,
        model_card=public_model_card(config, clean=terms.clean),
        not_published=list(NOT_PUBLISHED),
    )
