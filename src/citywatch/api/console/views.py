"""What the console pages show, built from rows and config (no rules, no writes).

Kept apart from the routes so that the shapes the page scripts read are in one place.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from citywatch.alerts.events import LABELS, vehicle_fields
from citywatch.api.console.render import iso
from citywatch.api.schemas import face_evidence
from citywatch.api.settings import ApiSettings
from citywatch.audit.chain import AuditEntry, canonical_json
from citywatch.config.root import CitywatchConfig
from citywatch.decisions.hotlist import describe_difference
from citywatch.engine.local import analysis_text
from citywatch.services.alerts import alert_vehicle_check
from citywatch.services.sightings import stored_box
from citywatch.store.models import AlertRow, CameraRow
from citywatch.vision.faces.registry import model_id

#: Keys of audit details that hold plates, patterns or names: an auditor sees that an access
#: happened, by whom, when and why, but not whose face or which plate.
PERSONAL_DETAIL_KEYS = frozenset(
    {"plate", "plates", "pattern", "normalised", "read", "subject", "subject_name", "photos"}
)
PERSONAL_TARGET_PREFIXES = ("plates:",)
REDACTED = "‹withheld›"
#: Free text people wrote (review, hotlist and enrolment reasons, photo sources, case
#: references): it can name anyone ("car of J. Doe, plate AB 123 CD").  The audit page shows
#: it withheld, with a short tag of the text, so equal texts (one case reference on many
#: searches) can still be matched up without being read.
FREE_TEXT_KEYS = frozenset(
    {
        "reason",
        "source",
        "image_source",
        "case_ref",
        "review_reason",
        "decision_reason",
        "comment",
        "note",
    }
)


@dataclass(frozen=True, slots=True)
class CameraView:
    id: str
    name: str
    zone: str
    purposes: tuple[str, ...]
    lat: float | None
    lon: float | None
    withhold_location: str  # why the location is withheld from the public register ('' = not)
    operator: str
    url_redacted: str
    detect_url_redacted: str | None  # the substream analysed, without credentials; None: one
    legal_basis: str
    impact_assessment: str
    approved_on: dt.date | None

    @property
    def withheld(self) -> bool:
        return bool(self.withhold_location)

    def marker(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "zone": self.zone,
            "purposes": list(self.purposes),
            "lat": self.lat,
            "lon": self.lon,
        }


def camera_form(view: CameraView) -> dict[str, Any]:
    """What the camera form is filled with on "Edit" (never the stream URL: it is write-only)."""
    return {
        "id": view.id,
        "name": view.name,
        "zone": view.zone,
        "purposes": list(view.purposes),
        "lat": view.lat,
        "lon": view.lon,
        "legal_basis": view.legal_basis,
        "impact_assessment": view.impact_assessment,
        "approved_on": view.approved_on.isoformat() if view.approved_on else "",
        "operator": view.operator,
        "withhold_location": view.withhold_location,
    }


def camera_view(row: CameraRow) -> CameraView:
    return CameraView(
        id=row.id,
        name=row.name or row.id,
        zone=row.zone,
        purposes=tuple(sorted(row.purposes)),
        lat=row.lat,
        lon=row.lon,
        withhold_location=row.withhold_location,
        operator=row.operator,
        url_redacted=row.url_redacted,
        detect_url_redacted=row.detect_url_redacted,
        legal_basis=row.legal_basis,
        impact_assessment=row.impact_assessment,
        approved_on=row.approved_on,
    )


def operating_points(config: CitywatchConfig) -> dict[str, dict[str, Any]]:
    """The operating points the matchers run at (the threshold of the face model's card)."""
    faces, plates = config.faces, config.plates
    return {
        "face": {
            "threshold": faces.threshold,
            "metric": "cosine similarity",
            "model": model_id(faces.embedder),
            "rule": f"possible match at cosine >= {faces.threshold:.3f}",
        },
        "plate": {
            "max_distance": plates.max_distance,
            "metric": "edit distance to the hotlist entry",
            "model": f"{plates.reader.type} OCR, track vote",
            "rule": f"hotlist hit at edit distance <= {plates.max_distance}",
        },
    }


def alert_json(row: AlertRow, config: CitywatchConfig) -> dict[str, Any]:
    """An alert as the page scripts read it (the same keys as ``AlertEvent.to_json``, plus
    the threshold it was raised at and the review)."""
    threshold = row.threshold
    box = stored_box(row)
    if threshold is None and row.kind == "face":
        threshold = config.faces.threshold
    return {
        "id": row.id,
        "event_id": row.event_id,
        "kind": row.kind,
        "label": LABELS.get((row.kind, row.status), f"{row.kind} alert ({row.status})"),
        "status": row.status,
        "camera_id": row.camera_id,
        "score": row.score,
        "threshold": threshold,
        "evidence": face_evidence(row),
        "max_distance": config.plates.max_distance if row.kind == "plate" else None,
        "subject_name": row.subject_name,
        "watchlist": row.list_name,
        "plate": row.plate,
        "read": row.read,
        "distance": row.distance,
        "differences": describe_difference(row.read, row.plate) if row.kind == "plate" else None,
        "seen_at": iso(row.seen_at),
        "snapshot": row.snapshot_path is not None,
        "box": list(box) if box is not None else None,  # the face/plate in the snapshot (px)
        "crop": row.snapshot_path is not None and box is not None,
        "sightings": row.sightings or 1,
        "last_sighting_at": iso(row.last_sighting_at) if row.last_sighting_at else None,
        "snapshot_error": row.snapshot_error,
        "clip_url": f"/api/v1/alerts/{row.id}/clip.mp4" if row.clip_path else None,
        "clip_error": row.clip_error,
        "reviewed_by": row.reviewed_by,
        "reviewed_at": iso(row.reviewed_at) if row.reviewed_at else None,
        "review_reason": row.review_reason,
        **vehicle_fields(alert_vehicle_check(row), row.vehicle_kind, row.vehicle_colour),
    }


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def camera_health(record: Mapping[str, Any]) -> dict[str, Any]:
    """One camera's health record (the engine's snapshot: ``source`` + ``worker``) -> the
    few numbers a camera tile shows, with a level: ok, warn, bad or idle."""
    source = record.get("source") if isinstance(record.get("source"), Mapping) else record
    worker = record.get("worker") if isinstance(record.get("worker"), Mapping) else {}
    assert isinstance(source, Mapping)
    assert isinstance(worker, Mapping)
    state = str(source.get("state", "unknown"))
    error = str(source.get("last_error") or worker.get("last_error") or record.get("error") or "")
    level = {
        "streaming": "ok",
        "connecting": "warn",
        "starting": "warn",
        "backoff": "bad",
        "failed": "bad",
        "stale": "bad",  # the engine stopped rewriting its health: killed or hung
        "stopped": "idle",
        "ended": "idle",
    }.get(state, "idle")
    lag = _num(worker.get("lag_s"))
    if level == "ok" and lag is not None and lag > 5:
        level = "warn"
    media_error = str(worker.get("media_error") or "")
    if media_error:  # evidence snapshots cannot be written: alerts go out without them
        level = "bad"
        error = f"{error}; {media_error}" if error else media_error
    return {
        "state": state,
        "level": level,
        "input_fps": _num(source.get("input_fps")),
        "analysed_fps": _num(source.get("analysed_fps")),
        "lag_s": lag,
        "reconnects": _count(source.get("reconnects")),
        "frames_dropped": _count(source.get("frames_dropped")),
        "stream": analysis_text({"source": source, "searching": record.get("searching")})[:300],
        "error": error[:300],
    }


def health_of(request: Request) -> dict[str, dict[str, Any]]:
    """Per-camera health from ``app.state.health`` (a callable the server wires to the camera
    engine); empty when the API runs without cameras."""
    source = getattr(request.app.state, "health", None)
    if not callable(source):
        return {}
    try:
        raw = source()
    except Exception as err:  # a broken health source must not take the console down
        return {"_": {"state": "unknown", "level": "bad", "error": type(err).__name__}}
    if not isinstance(raw, Mapping):
        return {}
    cameras = raw.get("cameras") if isinstance(raw.get("cameras"), Mapping) else raw
    assert isinstance(cameras, Mapping)
    return {
        str(cam): camera_health(rec) for cam, rec in cameras.items() if isinstance(rec, Mapping)
    }


def tile_url(request: Request) -> str | None:
    settings = getattr(request.app.state, "settings", None)
    return settings.map_tile_url if isinstance(settings, ApiSettings) else None


def withheld_text(text: str | None) -> str:
    """Free text as the audit page shows it: withheld, tagged by a short hash of the text
    (empty stays empty)."""
    if not text or not text.strip():
        return ""
    tag = hashlib.sha256(text.strip().encode("utf-8")).hexdigest()[:6]
    return f"‹withheld #{tag}›"


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if k in PERSONAL_DETAIL_KEYS and v not in (None, "", []):
                out[k] = REDACTED
            elif k in FREE_TEXT_KEYS and isinstance(v, str):
                out[k] = withheld_text(v)
            else:
                out[k] = _redact(v)
        return out
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def redact_target(target: str) -> str:
    for prefix in PERSONAL_TARGET_PREFIXES:
        if target.startswith(prefix):
            return prefix + REDACTED
    return target


@dataclass(frozen=True, slots=True)
class AuditView:
    seq: int
    at: dt.datetime
    actor: str
    role: str
    action: str
    target: str
    details: str
    reason: str
    hash: str


def details_text(details: Mapping[str, Any]) -> str:
    """``key=value · key=value`` with empty values left out (lists and maps as JSON)."""
    parts = []
    for key, value in sorted(details.items()):
        if value is None or value == "" or value == [] or value == {}:
            continue
        shown = value if isinstance(value, str) else canonical_json(value)
        parts.append(f"{key}={shown}")
    return " · ".join(parts)


def audit_view(entry: AuditEntry) -> AuditView:
    text = details_text(_redact(entry.details))
    return AuditView(
        seq=entry.seq,
        at=entry.at,
        actor=entry.actor,
        role=entry.role,
        action=entry.action,
        target=redact_target(entry.target),
        details=text,
        reason=withheld_text(entry.reason),
        hash=entry.hash,
    )
