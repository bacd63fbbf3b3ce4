"""The JSON an external sink receives: only what an alert needs.

Built from ``event.to_json()`` through an allow-list of fields, scalars only.  Anything else
(an embedding, an image, a nested structure a future field might add) is dropped: deny by
default.  The snapshot travels as a reference (its media-relative path), never as pixels or
an absolute server path.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import logging
from pathlib import PurePath
from typing import Any

from citywatch.alerts.sink import AlertEventLike

log = logging.getLogger(__name__)

SCHEMA = "citywatch.alert/1"

ALLOWED_FIELDS: frozenset[str] = frozenset(
    {
        "id",
        "event_id",
        "kind",
        "label",
        "camera_id",
        "status",
        "score",
        "subject_name",
        "watchlist",
        "plate",
        "read",
        "distance",
        "seen_at",
        "first_seen_s",
        "last_seen_s",
        "track_id",
        "snapshot_path",
        "snapshot_error",
        "vehicle",
        "vehicle_kind",
        "vehicle_colour",
        "hotlist_vehicle",
        "vehicle_mismatch",
        "vehicle_note",
    }
)

Scalar = str | int | float | bool | None


def _scalar(key: str, value: Any) -> tuple[bool, Scalar]:
    if value is None or isinstance(value, bool | int | float | str):
        return True, value
    if isinstance(value, enum.Enum):
        return _scalar(key, value.value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return True, value.astimezone(dt.UTC).isoformat()
    if isinstance(value, PurePath):
        return True, str(value)
    return False, None


def _snapshot_ref(value: Scalar) -> str | None:
    """A relative media path stays (the API serves it); an absolute one shrinks to its name."""
    if not value or not isinstance(value, str):
        return None
    path = PurePath(value)
    return path.name if path.is_absolute() else path.as_posix()


def alert_payload(event: AlertEventLike) -> dict[str, Scalar]:
    """The allow-listed, scalar-only view of ``event`` that leaves the process."""
    raw = event.to_json()
    out: dict[str, Scalar] = {"schema": SCHEMA}
    for key in sorted(raw):
        if key not in ALLOWED_FIELDS:
            log.debug("alert payload: field %r is not on the allow-list, dropped", key)
            continue
        ok, value = _scalar(key, raw[key])
        if not ok:
            log.debug("alert payload: field %r is not a scalar, dropped", key)
            continue
        if key == "snapshot_path":
            key, value = "snapshot", _snapshot_ref(value)
        out[key] = value
    return out


def encode_payload(event: AlertEventLike) -> bytes:
    """The exact bytes sent (and signed): compact UTF-8 JSON with sorted keys."""
    return json.dumps(
        alert_payload(event), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
