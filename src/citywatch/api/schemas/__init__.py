"""What the REST API takes and returns: ``XCreate`` / ``XPublic`` models, apart from the tables.

Public models list their fields one by one, so nothing reaches a response by accident: never a
camera URL with credentials (only the redacted form), a password hash, a token or an embedding,
and never a media path (snapshots are served by id through their own routes).

Every list is wrapped in :class:`Page`: ``items`` plus either a cursor (``next_before_id``:
pass it as ``before_id`` to get the next, older page) or ``offset``/``limit``/``total``.

The models live by subject in ``base``, ``cameras``, ``alerts`` (with the searches) and
``lists`` (watchlists, hotlists, authorisations); this package names them all.
"""

from __future__ import annotations

from citywatch.api.schemas.alerts import (
    AlertKind,
    AlertPublic,
    AlertSearch,
    AlertStatus,
    CaseRef,
    PlateReadPublic,
    PlateSearch,
    ReviewIn,
    VehicleSearch,
    face_evidence,
)
from citywatch.api.schemas.base import (
    API,
    ERRORS,
    MAX_PAGE,
    Error,
    In,
    Name,
    Out,
    Page,
    Reason,
    actor_of,
    offset_page,
    unprocessable,
)
from citywatch.api.schemas.cameras import (
    AlertDeliveryPublic,
    CameraCreate,
    CameraHealthPublic,
    CameraPublic,
    CameraWrite,
    HealthPublic,
    LocationModel,
    LookalikeMagnetPublic,
)
from citywatch.api.schemas.lists import (
    AuthorisationCreate,
    AuthorisationPublic,
    EnrolPublic,
    HotlistCreate,
    HotlistEntryPublic,
    HotlistPublic,
    ImportPublic,
    PlateAdd,
    RemovedPublic,
    SubjectPublic,
    WatchlistCreate,
    WatchlistPublic,
)

__all__ = [
    "API",
    "ERRORS",
    "MAX_PAGE",
    "AlertDeliveryPublic",
    "AlertKind",
    "AlertPublic",
    "AlertSearch",
    "AlertStatus",
    "AuthorisationCreate",
    "AuthorisationPublic",
    "CameraCreate",
    "CameraHealthPublic",
    "CameraPublic",
    "CameraWrite",
    "CaseRef",
    "EnrolPublic",
    "Error",
    "HealthPublic",
    "HotlistCreate",
    "HotlistEntryPublic",
    "HotlistPublic",
    "ImportPublic",
    "In",
    "LocationModel",
    "LookalikeMagnetPublic",
    "Name",
    "Out",
    "Page",
    "PlateAdd",
    "PlateReadPublic",
    "PlateSearch",
    "Reason",
    "RemovedPublic",
    "ReviewIn",
    "SubjectPublic",
    "VehicleSearch",
    "WatchlistCreate",
    "WatchlistPublic",
    "actor_of",
    "face_evidence",
    "offset_page",
    "unprocessable",
]
