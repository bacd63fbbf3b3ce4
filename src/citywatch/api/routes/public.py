"""The public transparency register, no sign-in: ``/public/register`` as JSON, GeoJSON and CSV.

Mounted at the root (not under ``/api/v1``): the addresses are meant to be printed on signs and
in council minutes, and they stay the same whatever the API version.  Nothing personal is in
the register (see :mod:`citywatch.services.register`).  The register is built at most once a
minute per app and may be cached by browsers and proxies for five minutes, so that anyone may
ask for it as often as they like without loading the database.
"""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from citywatch.api.security import Permission, Principal, requires
from citywatch.services.register import PublicRegister, RegisterCamera, build_register

router = APIRouter(tags=["public register"])

CACHE_SECONDS = 60  # the server builds the register at most this often
CACHE_CONTROL = "public, max-age=300"
_STATE_KEY = "public_register_cache"

Anyone = Annotated[Principal | None, Depends(requires(Permission.PUBLIC))]


class RegisterCache:
    """The last register built by this app, reused for ``ttl`` seconds (one per app)."""

    def __init__(self, ttl: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._value: PublicRegister | None = None
        self._built = 0.0

    def get(self, build: Callable[[], PublicRegister]) -> PublicRegister:
        with self._lock:
            now = self.clock()
            if self._value is None or now - self._built >= self.ttl:
                self._value = build()
                self._built = now
            return self._value


def current_register(request: Request) -> PublicRegister:
    """The register for this app (cached; shared with the public web page)."""
    state = request.app.state
    cache = getattr(state, _STATE_KEY, None)
    if not isinstance(cache, RegisterCache):
        cache = RegisterCache()
        setattr(state, _STATE_KEY, cache)

    def build() -> PublicRegister:
        with state.sessions() as session:
            return build_register(session, state.config)

    return cache.get(build)


# ----------------------------------------------------------------------------- GeoJSON


class GeoPoint(BaseModel):
    model_config = ConfigDict(frozen=True)
    type: Literal["Point"] = "Point"
    coordinates: tuple[float, float] = Field(description="[longitude, latitude] (RFC 7946)")


class CameraProperties(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    name: str
    zone: str
    location_withheld: bool
    withheld_reason: str | None
    purposes: list[str]
    legal_basis: str
    impact_assessment: str
    impact_assessment_status: str
    approved_on: str | None
    operator: str
    face_recognition_authorised: bool
    records: bool = False
    record_retain_hours: float | None = None


class GeoFeature(BaseModel):
    model_config = ConfigDict(frozen=True)
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: GeoPoint | None = Field(description="null where the location is withheld")
    properties: CameraProperties


class GeoFeatureCollection(BaseModel):
    model_config = ConfigDict(frozen=True)
    type: Literal["FeatureCollection"] = "FeatureCollection"
    generated_at: str
    features: list[GeoFeature]


class GeoJSONResponse(JSONResponse):
    media_type = "application/geo+json"


def camera_feature(cam: RegisterCamera) -> GeoFeature:
    point = None
    if cam.location is not None:
        point = GeoPoint(coordinates=(cam.location.lon, cam.location.lat))
    props = CameraProperties(
        id=cam.id,
        name=cam.name,
        zone=cam.zone,
        location_withheld=cam.location_withheld,
        withheld_reason=cam.withheld_reason,
        purposes=cam.purposes,
        legal_basis=cam.legal_basis,
        impact_assessment=cam.impact_assessment,
        impact_assessment_status=cam.impact_assessment_status,
        approved_on=cam.approved_on.isoformat() if cam.approved_on else None,
        operator=cam.operator,
        face_recognition_authorised=cam.face_recognition_authorised,
        records=cam.records,
        record_retain_hours=cam.record_retain_hours,
    )
    return GeoFeature(id=cam.id, geometry=point, properties=props)


def to_geojson(register: PublicRegister) -> GeoFeatureCollection:
    return GeoFeatureCollection(
        generated_at=register.generated_at.isoformat(),
        features=[camera_feature(c) for c in register.cameras],
    )


# ----------------------------------------------------------------------------- CSV

CsvTable = Literal["cameras", "authorisations", "statistics", "statistics_by_camera"]


class CsvResponse(Response):
    media_type = "text/csv"


def _cell(value: Any) -> str:
    """One CSV cell; text that a spreadsheet would run as a formula is prefixed with '."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        value = ";".join(str(v) for v in value)
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _rows(register: PublicRegister, table: CsvTable) -> list[dict[str, Any]]:
    if table == "cameras":
        out = []
        for cam in register.cameras:
            row = cam.model_dump(exclude={"location"})
            row["lat"] = cam.location.lat if cam.location else None
            row["lon"] = cam.location.lon if cam.location else None
            out.append(row)
        return out
    items: list[BaseModel] = list(getattr(register, table))
    return [item.model_dump() for item in items]


def to_csv(register: PublicRegister, table: CsvTable) -> str:
    rows = _rows(register, table)
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\r\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})
    return buf.getvalue()


# ----------------------------------------------------------------------------- routes


def _cached(response: Response) -> Response:
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response


@router.get("/public/register", response_model=PublicRegister)
def public_register(request: Request, response: Response, _who: Anyone) -> PublicRegister:
    """The transparency register: cameras, authorisations, monthly statistics, model card.

    No sign-in; nothing personal (no plates, names, snapshots, identifiers or camera URLs)."""
    _cached(response)
    return current_register(request)


@router.get(
    "/public/register.geojson",
    response_model=GeoFeatureCollection,
    response_class=GeoJSONResponse,
)
def public_register_geojson(
    request: Request, response: Response, _who: Anyone
) -> GeoFeatureCollection:
    """Every registered camera as a GeoJSON feature (RFC 7946).  A camera whose location is
    withheld has ``geometry: null`` and its zone and the reason in its properties."""
    _cached(response)
    return to_geojson(current_register(request))


@router.get(
    "/public/register.csv",
    response_class=CsvResponse,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def public_register_csv(
    request: Request,
    _who: Anyone,
    table: Annotated[CsvTable, Query(description="Which table of the register")] = "cameras",
) -> Response:
    """One table of the register as CSV (UTF-8, header row, RFC 4180)."""
    body = to_csv(current_register(request), table)
    filename = f"citywatch-register-{table}.csv"
    return _cached(
        CsvResponse(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    )
