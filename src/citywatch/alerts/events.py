"""The alert event that the service layer publishes to sinks (console, SSE, webhook, MQTT).

A face alert is a *possible match* until a person confirms it: nothing here ever says that
someone was "identified".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from citywatch.decisions.hotlist import describe_difference
from citywatch.decisions.vehicle_check import VehicleCheck, check_vehicle

LABELS = {
    ("face", "pending"): "possible match",
    ("face", "confirmed"): "match confirmed by a reviewer",
    ("face", "rejected"): "possible match rejected by a reviewer",
    ("plate", "pending"): "possible hotlist hit",
    ("plate", "confirmed"): "hotlist hit confirmed by a reviewer",
    ("plate", "rejected"): "possible hotlist hit rejected by a reviewer",
}


@dataclass(frozen=True, slots=True)
class AlertEvent:
    id: int
    event_id: str
    kind: str  # "face" | "plate"
    camera_id: str
    status: str  # "pending" | "confirmed" | "rejected"
    score: float
    seen_at: dt.datetime  # aware UTC
    first_seen_s: float
    last_seen_s: float
    track_id: int
    subject_name: str | None = None
    watchlist: str | None = None  # the watchlist (face) or hotlist (plate) name
    plate: str | None = None  # the hotlist entry that matched
    read: str | None = None  # what was read on the street
    distance: int | None = None
    snapshot_path: str | None = None  # relative to the media dir
    snapshot_error: str | None = None  # "snapshot could not be written: <reason>"
    vehicle_kind: str | None = None  # plate alerts: the vehicle seen with the read
    vehicle_colour: str | None = None
    expected_vehicle_kind: str | None = None  # the vehicle the hotlist entry describes
    expected_vehicle_colour: str | None = None

    def vehicle_check(self) -> VehicleCheck:
        """The vehicle seen against the hotlist's (plate alerts; empty for faces)."""
        return check_vehicle(
            self.expected_vehicle_kind,
            self.expected_vehicle_colour,
            self.vehicle_kind,
            self.vehicle_colour,
        )

    @property
    def label(self) -> str:
        return LABELS.get((self.kind, self.status), f"{self.kind} alert ({self.status})")

    def to_json(self) -> dict[str, Any]:
        seen = self.seen_at
        if seen.tzinfo is None:
            seen = seen.replace(tzinfo=dt.UTC)
        vehicle = self.vehicle_check()
        return {
            "id": self.id,
            "event_id": self.event_id,
            "kind": self.kind,
            "label": self.label,
            "camera_id": self.camera_id,
            "status": self.status,
            "score": self.score,
            "subject_name": self.subject_name,
            "watchlist": self.watchlist,
            "plate": self.plate,
            "read": self.read,
            "distance": self.distance,
            "differences": describe_difference(self.read, self.plate)
            if self.kind == "plate"
            else None,
            "seen_at": seen.astimezone(dt.UTC).isoformat(),
            "first_seen_s": self.first_seen_s,
            "last_seen_s": self.last_seen_s,
            "track_id": self.track_id,
            "snapshot_path": self.snapshot_path,
            "snapshot_error": self.snapshot_error,
            **vehicle_fields(vehicle, self.vehicle_kind, self.vehicle_colour),
        }


def vehicle_fields(check: VehicleCheck, kind: str | None, colour: str | None) -> dict[str, Any]:
    """The vehicle keys of an alert's JSON (events, payloads, the API and the console)."""
    return {
        "vehicle": check.seen or None,
        "vehicle_kind": kind or None,
        "vehicle_colour": colour or None,
        "hotlist_vehicle": check.expected or None,
        "vehicle_mismatch": check.mismatch,
        "vehicle_note": check.note or None,
    }
