"""Cameras and their health as the API takes and returns them."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field, SecretStr

from citywatch.api.schemas.base import In, Out
from citywatch.config.camera import CameraConfig, Purpose
from citywatch.sources.redact import redact_text
from citywatch.store.models import CameraRow
from citywatch.vision.cadence import search_text

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
    detect_url: SecretStr | None = Field(
        default=None,
        min_length=1,
        max_length=2000,
        description="The camera's substream, analysed instead of `url`, which then serves the "
        "evidence only (write-only; may hold credentials); leave it out for one stream",
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
        data = self.model_dump(exclude={"url", "detect_url", "location"})
        data["location"] = self.location.model_dump() if self.location else None
        if self.detect_url is not None:
            data["detect_url"] = self.detect_url.get_secret_value()
        return CameraConfig.model_validate(
            {**data, "id": camera_id, "url": self.url.get_secret_value()}
        )


class CameraCreate(CameraWrite):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")


class CameraPublic(Out):
    id: str
    name: str
    url_redacted: str
    detect_url_redacted: str | None = Field(
        description="The substream analysed (`detect_url`), without credentials; null for a "
        "one-stream camera"
    )
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
            detect_url_redacted=row.detect_url_redacted,
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
    analysed_stream: str = Field(
        default="",
        description="Which configured stream is analysed: 'detect_url' (the camera's "
        "substream; 'url' is then the evidence only) or 'url' (one stream); empty until the "
        "source opened it.  Stream addresses are never shown here",
    )
    analysed_width: int | None = Field(default=None, description="Its picture width (pixels)")
    analysed_height: int | None = Field(default=None, description="Its picture height (pixels)")
    analysed_codec: str = Field(default="", description="Its codec, e.g. h264")
    decode: str = Field(
        default="",
        description="How it is decoded: threads, pictures skipped (non-reference, all but "
        "keyframes) and why",
    )
    main_stream: str = Field(
        default="",
        description="Two streams: the main stream's state (and its last error), whose packets "
        "feed snapshots, clips and recording; empty for one stream",
    )
    main_width: int | None = Field(default=None, description="The main stream's picture width")
    main_height: int | None = Field(default=None, description="The main stream's picture height")
    searching: str = Field(
        default="",
        description="How often the face and plate stages search moving frames: every one "
        "while they find something, every n-th while resting (faces/plates.idle_search_every)",
    )
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
            analysed_stream=_stream(source.get("stream")),
            analysed_width=_pixels(source.get("width")),
            analysed_height=_pixels(source.get("height")),
            analysed_codec=_word(source.get("codec")),
            decode=redact_text(str(source.get("decode") or ""))[:300],
            main_stream=redact_text(str(source.get("main_stream") or ""))[:500],
            main_width=_pixels(source.get("main_width")),
            main_height=_pixels(source.get("main_height")),
            searching=_searching(rec.get("searching")),
            lookalike_magnets=_magnets(rec.get("lookalike_magnets")),
        )


class LookalikeMagnetPublic(Out):
    """A watchlist entry passers-by keep scoring near (counts only)."""

    subject_id: int
    near_misses: int = Field(description="Passers-by within the band under the threshold")
    passers_by: int = Field(description="Passers-by whose closest entry it was")
    highest: float = Field(description="Highest score a passer-by reached")
    own_threshold: float = Field(description="The entry's own threshold")


def _searching(value: Any) -> str:
    return search_text(value)[:300] if isinstance(value, dict) else ""


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


def _stream(value: Any) -> str:
    return value if value in ("url", "detect_url") else ""


def _word(value: Any) -> str:
    return value[:40] if isinstance(value, str) and value.isidentifier() else ""


def _pixels(value: Any) -> int | None:
    n = _int(value)
    return n if n is not None and n > 0 else None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None
