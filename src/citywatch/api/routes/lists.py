"""Watchlists (and their subjects), plate hotlists, and the authorisations behind watchlists.

Reads of names (subjects, plates) are audited by the services; every change needs a reason.
Enrolment takes photos as a multipart upload (bounded, sniffed, decoded safely by
:mod:`citywatch.api.routes.uploads`) and embeds faces with ``app.state.embed_faces``
(``image -> (K, 128)``); a photo without exactly one face refuses the whole enrolment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    HTTPException,
    Path,
    Query,
    Request,
    UploadFile,
    status,
)
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from citywatch.api.deps import get_media, get_session
from citywatch.api.routes.uploads import (
    csv_lines,
    decode_photo,
    limits_of,
    read_capped,
    safe_label,
)
from citywatch.api.schemas import (
    ERRORS,
    MAX_PAGE,
    AuthorisationCreate,
    AuthorisationPublic,
    EnrolPublic,
    HotlistCreate,
    HotlistEntryPublic,
    HotlistPublic,
    ImportPublic,
    Page,
    PlateAdd,
    RemovedPublic,
    SubjectPublic,
    WatchlistCreate,
    WatchlistPublic,
    actor_of,
    offset_page,
)
from citywatch.api.security import Permission, Principal, requires
from citywatch.services import authorisations, enrolment, hotlists, watchlists
from citywatch.store.media import MediaStore
from citywatch.store.models import HotlistEntryRow
from citywatch.vision.record import FloatArray, ImageBGR

router = APIRouter(tags=["lists"], responses=ERRORS)

DbSession = Annotated[Session, Depends(get_session)]
Media = Annotated[MediaStore, Depends(get_media)]
ListName = Annotated[str, Path(min_length=1, max_length=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
ReasonQ = Annotated[str, Query(min_length=1, max_length=1000, pattern=r"\S")]
FormText = Annotated[str, Form(min_length=1, max_length=1000, pattern=r"\S")]
EmbedFaces = Callable[[ImageBGR], FloatArray]


WatchlistsRead = Annotated[Principal | None, Depends(requires(Permission.WATCHLISTS_READ))]
WatchlistsWrite = Annotated[Principal | None, Depends(requires(Permission.WATCHLISTS_WRITE))]
HotlistsRead = Annotated[Principal | None, Depends(requires(Permission.HOTLISTS_READ))]
HotlistsWrite = Annotated[Principal | None, Depends(requires(Permission.HOTLISTS_WRITE))]
AuthRead = Annotated[Principal | None, Depends(requires(Permission.AUTHORISATIONS_READ))]
AuthWrite = Annotated[Principal | None, Depends(requires(Permission.AUTHORISATIONS_WRITE))]


# ---------------------------------------------------------------------------- watchlists


@router.get("/watchlists", response_model=Page[WatchlistPublic], tags=["watchlists"])
def list_watchlists(
    session: DbSession, _p: WatchlistsRead, offset: Offset = 0, limit: Limit = 100
) -> Page[WatchlistPublic]:
    """Watchlists with subject counts (no names: not audited)."""
    rows = [
        WatchlistPublic(
            id=w.id,
            name=w.name,
            authorisation_reference=w.authorisation_reference,
            max_subjects=w.max_subjects,
            subjects=w.subjects,
            created_at=w.created_at,
        )
        for w in watchlists.list_watchlists(session)
    ]
    return offset_page(rows, offset=offset, limit=limit)


@router.post(
    "/watchlists",
    response_model=WatchlistPublic,
    status_code=status.HTTP_201_CREATED,
    tags=["watchlists"],
)
def create_watchlist(
    body: WatchlistCreate, session: DbSession, principal: WatchlistsWrite
) -> WatchlistPublic:
    """A watchlist bound to a live authorisation (by its reference)."""
    row = watchlists.create_watchlist(
        session, actor_of(principal), body.name, body.authorisation_reference, body.max_subjects
    )
    return WatchlistPublic(
        id=row.id,
        name=row.name,
        authorisation_reference=row.authorisation.reference,
        max_subjects=row.max_subjects,
        subjects=0,
        created_at=row.created_at,
    )


@router.get("/watchlists/{name}/subjects", response_model=Page[SubjectPublic], tags=["watchlists"])
def list_subjects(
    name: ListName,
    session: DbSession,
    principal: WatchlistsRead,
    offset: Offset = 0,
    limit: Limit = 100,
) -> Page[SubjectPublic]:
    """The subjects of a watchlist (names: the access is audited)."""
    rows = [
        SubjectPublic(
            id=s.id,
            name=s.name,
            reason=s.reason,
            image_source=s.image_source,
            photos=s.photos,
            created_at=s.created_at,
        )
        for s in watchlists.list_subjects(session, actor_of(principal), name)
    ]
    return offset_page(rows, offset=offset, limit=limit)


@router.post(
    "/watchlists/{name}/subjects",
    response_model=EnrolPublic,
    status_code=status.HTTP_201_CREATED,
    tags=["watchlists"],
    responses={
        415: {"description": "A photo is not JPEG or PNG content"},
        503: {"description": "No face embedder on this server"},
    },
)
async def enrol_subject(
    name: ListName,
    request: Request,
    session: DbSession,
    media: Media,
    principal: WatchlistsWrite,
    subject_name: Annotated[str, Form(min_length=1, max_length=200, pattern=r"\S")],
    reason: FormText,
    image_source: Annotated[str, Form(min_length=1, max_length=500, pattern=r"\S")],
    photos: Annotated[list[UploadFile], File(description="JPEG or PNG, one face each")],
) -> EnrolPublic:
    """Enrol a subject (or add photos to one) from photos with exactly one face each."""
    embed: EmbedFaces | None = getattr(request.app.state, "embed_faces", None)
    if embed is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "face enrolment is not available: this server has no face embedder loaded",
        )
    limits = limits_of(request)
    if len(photos) > limits.photos_per_request:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"{len(photos)} photos sent, at most {limits.photos_per_request} per request",
        )
    images: list[tuple[str, ImageBGR]] = []
    for i, upload in enumerate(photos, start=1):
        label = safe_label(upload.filename, i, "photo")
        data = await read_capped(upload, limits.photo_bytes, label)
        images.append((label, await run_in_threadpool(decode_photo, data, label, limits)))
    result = await run_in_threadpool(
        enrolment.enrol_subject,
        session,
        media,
        actor_of(principal),
        name,
        subject_name,
        images,
        embed,
        reason,
        image_source,
    )
    return EnrolPublic(
        subject_id=result.subject_id,
        subject_name=result.subject_name,
        watchlist=result.watchlist,
        created=result.created,
        photos_added=result.embeddings_added,
    )


@router.delete(
    "/watchlists/{name}/subjects/{subject_name}",
    response_model=RemovedPublic,
    tags=["watchlists"],
)
def remove_subject(
    name: ListName,
    subject_name: Annotated[str, Path(min_length=1, max_length=200)],
    reason: ReasonQ,
    session: DbSession,
    media: Media,
    principal: WatchlistsWrite,
) -> RemovedPublic:
    """Remove a subject with its embeddings and photos (audited with the reason)."""
    removed = watchlists.remove_subject(
        session, media, actor_of(principal), name, subject_name, reason=reason
    )
    return RemovedPublic(removed=removed)


# ---------------------------------------------------------------------------- hotlists


@router.get("/hotlists", response_model=Page[HotlistPublic], tags=["hotlists"])
def list_hotlists(
    session: DbSession, _p: HotlistsRead, offset: Offset = 0, limit: Limit = 100
) -> Page[HotlistPublic]:
    """Hotlists with entry counts (no plates: not audited)."""
    rows = [
        HotlistPublic(
            id=h.id, name=h.name, reason=h.reason, entries=h.entries, created_at=h.created_at
        )
        for h in hotlists.list_hotlists(session)
    ]
    return offset_page(rows, offset=offset, limit=limit)


@router.post(
    "/hotlists",
    response_model=HotlistPublic,
    status_code=status.HTTP_201_CREATED,
    tags=["hotlists"],
)
def create_hotlist(
    body: HotlistCreate, session: DbSession, principal: HotlistsWrite
) -> HotlistPublic:
    row = hotlists.create_hotlist(session, actor_of(principal), body.name, body.reason)
    return HotlistPublic(
        id=row.id, name=row.name, reason=row.reason, entries=0, created_at=row.created_at
    )


def _entry(row: HotlistEntryRow) -> HotlistEntryPublic:
    return HotlistEntryPublic(
        id=row.id,
        plate=row.plate,
        raw=row.raw,
        reason=row.reason,
        vehicle_kind=row.vehicle_kind,
        vehicle_colour=row.vehicle_colour,
        created_at=row.created_at,
    )


@router.get("/hotlists/{name}/plates", response_model=Page[HotlistEntryPublic], tags=["hotlists"])
def list_plates(
    name: ListName,
    session: DbSession,
    principal: HotlistsRead,
    offset: Offset = 0,
    limit: Limit = 100,
) -> Page[HotlistEntryPublic]:
    """The plates of a hotlist (the access is audited)."""
    rows = [_entry(e) for e in hotlists.list_plates(session, actor_of(principal), name)]
    return offset_page(rows, offset=offset, limit=limit)


@router.post(
    "/hotlists/{name}/plates",
    response_model=HotlistEntryPublic,
    status_code=status.HTTP_201_CREATED,
    tags=["hotlists"],
)
def add_plate(
    name: ListName, body: PlateAdd, session: DbSession, principal: HotlistsWrite
) -> HotlistEntryPublic:
    """Add one plate (the hotlist is created when missing; an existing entry is returned)."""
    row = hotlists.add_plate(
        session,
        actor_of(principal),
        name,
        body.plate,
        body.reason,
        vehicle_kind=body.vehicle_kind,
        vehicle_colour=body.vehicle_colour,
    )
    return _entry(row)


@router.post(
    "/hotlists/{name}/import",
    response_model=ImportPublic,
    tags=["hotlists"],
    responses={413: {"description": "Too many bytes or lines"}},
)
async def import_plates(
    name: ListName,
    request: Request,
    session: DbSession,
    principal: HotlistsWrite,
    file: Annotated[UploadFile, File(description="CSV lines: plate[,reason]")],
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> ImportPublic:
    """Import ``plate[,reason]`` lines; any bad line refuses the whole import (each named)."""
    limits = limits_of(request)
    label = safe_label(file.filename, 1, "CSV")
    data = await read_capped(file, limits.csv_bytes, label)
    lines = csv_lines(data, label, limits.csv_lines)
    added = await run_in_threadpool(
        hotlists.import_plates, session, actor_of(principal), name, lines, reason=reason
    )
    return ImportPublic(hotlist=name, added=added)


@router.delete("/hotlists/{name}/plates/{plate}", response_model=RemovedPublic, tags=["hotlists"])
def remove_plate(
    name: ListName,
    plate: Annotated[str, Path(min_length=1, max_length=100)],
    reason: ReasonQ,
    session: DbSession,
    principal: HotlistsWrite,
) -> RemovedPublic:
    hotlists.remove_plate(session, actor_of(principal), name, plate, reason)
    return RemovedPublic(removed=1)


# ---------------------------------------------------------------------------- authorisations


@router.get("/authorisations", response_model=Page[AuthorisationPublic], tags=["authorisations"])
def list_authorisations(
    session: DbSession,
    _p: AuthRead,
    status_: Annotated[Literal["active", "revoked"] | None, Query(alias="status")] = None,
    offset: Offset = 0,
    limit: Limit = 100,
) -> Page[AuthorisationPublic]:
    rows = [
        AuthorisationPublic.of(a)
        for a in authorisations.list_authorisations(session)
        if status_ is None or a.status == status_
    ]
    return offset_page(rows, offset=offset, limit=limit)


@router.post(
    "/authorisations",
    response_model=AuthorisationPublic,
    status_code=status.HTTP_201_CREATED,
    tags=["authorisations"],
)
def create_authorisation(
    body: AuthorisationCreate, session: DbSession, principal: AuthWrite
) -> AuthorisationPublic:
    """Record an authorisation for face recognition (scope: cameras and/or zones)."""
    row = authorisations.create_authorisation(
        session,
        actor_of(principal),
        body.reference,
        body.authority,
        body.purpose,
        body.starts_at,
        body.ends_at,
        body.scope_cameras,
        body.scope_zones,
        urgent=body.urgent,
    )
    return AuthorisationPublic.of(row)
