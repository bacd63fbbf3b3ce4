"""Registering cameras from the config: refused without legal basis, DPIA and approval."""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citywatch.audit.chain import Actor, append
from citywatch.config.camera import CameraConfig
from citywatch.config.recording import DEFAULT_MAX_RETAIN_HOURS
from citywatch.policy.register import CameraFacts, check_camera_registration
from citywatch.services.common import NotFoundError, ServiceError, now_or, unit_of_work
from citywatch.services.names import clean_name
from citywatch.sources.redact import redact_url
from citywatch.store.models import AuditLogRow, CameraRow


class RegistrationError(ServiceError):
    """The camera may not be registered; ``problems`` each name the camera."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def camera_facts(row: CameraRow) -> CameraFacts:
    return CameraFacts.of(
        row.id, row.purposes, row.legal_basis, row.impact_assessment, row.approved_on, row.zone
    )


def _values(cfg: CameraConfig) -> dict[str, Any]:
    return {
        "name": unicodedata.normalize("NFKC", cfg.name).strip(),
        "url_redacted": redact_url(cfg.url.get_secret_value()),
        "detect_url_redacted": (
            redact_url(cfg.detect_url.get_secret_value()) if cfg.detect_url is not None else None
        ),
        "purposes": sorted(p.value for p in cfg.purposes),
        "lat": cfg.location.lat if cfg.location else None,
        "lon": cfg.location.lon if cfg.location else None,
        "zone": cfg.zone,
        "withhold_location": cfg.withhold_location,
        "legal_basis": cfg.legal_basis,
        "impact_assessment": cfg.impact_assessment,
        "approved_on": cfg.approved_on,
        "operator": cfg.operator,
        "records": cfg.recording.enabled,
        # kept when recording is switched off: what was recorded stays under its period
        "record_retain_hours": cfg.recording.retain_hours,
    }


def _name_problems(cfg: CameraConfig) -> list[str]:
    """A camera's name may hold no control, bidi or zero-width characters (its id, the
    camera's identity, is lower case only: unique apart from case already)."""
    if not cfg.name.strip():
        return []
    try:
        clean_name(cfg.name, f"camera {cfg.id!r}: the name")
    except ServiceError as err:
        return [str(err)]
    return []


def register_camera(
    session: Session,
    cfg: CameraConfig,
    actor: Actor,
    *,
    now: dt.datetime | None = None,
    max_record_hours: float = DEFAULT_MAX_RETAIN_HOURS,
) -> CameraRow:
    """Insert or update the camera; audited when something changed.

    Raises :class:`RegistrationError` (problems naming the camera) when the registration
    rules of :func:`citywatch.policy.register.check_camera_registration` fail (a camera
    configured to record without the register saying so is refused: ``max_record_hours`` is
    the node's ``recording.storage.max_retain_hours``).
    """
    at = now_or(now)
    problems = check_camera_registration(cfg, today=at.date(), max_record_hours=max_record_hours)
    problems += _name_problems(cfg)
    if problems:
        raise RegistrationError(problems)
    values = _values(cfg)
    with unit_of_work(session):
        row = session.get(CameraRow, cfg.id)
        if row is None:
            row = CameraRow(id=cfg.id, created_at=at, updated_at=at, **values)
            session.add(row)
            action, changed = "camera.register", sorted(values)
        else:
            changed = sorted(k for k, v in values.items() if getattr(row, k) != v)
            if not changed:
                return row
            for key in changed:
                setattr(row, key, values[key])
            row.updated_at = at
            action = "camera.update"
        details = {k: values[k] for k in changed}
        append(session, actor, action, f"camera:{cfg.id}", details=details)
    return row


def list_cameras(session: Session) -> list[CameraRow]:
    return list(session.scalars(select(CameraRow).order_by(CameraRow.id)))


def get_camera(session: Session, camera_id: str) -> CameraRow:
    row = session.get(CameraRow, camera_id)
    if row is None:
        raise NotFoundError(f"camera {camera_id!r} is not registered")
    return row


LIVE_VIEW_AUDIT_EVERY = dt.timedelta(minutes=10)


def record_live_view(
    session: Session, actor: Actor, camera_id: str, *, every: dt.timedelta = LIVE_VIEW_AUDIT_EVERY
) -> CameraRow:
    """A person looked at a camera's live picture: audited (a view of personal data).

    A dashboard refreshes its pictures every few seconds; one entry per person and camera
    every ``every`` says the same without drowning the log.  Audit time is the real clock."""
    at = dt.datetime.now(dt.UTC)
    target = f"camera:{camera_id}"
    with unit_of_work(session):
        row = get_camera(session, camera_id)
        recent = session.scalar(
            select(AuditLogRow.seq)
            .where(AuditLogRow.action == "camera.live_view", AuditLogRow.target == target)
            .where(AuditLogRow.actor == actor.name, AuditLogRow.at >= at - every)
            .limit(1)
        )
        if recent is None:
            append(session, actor, "camera.live_view", target, details={"since": at})
    return row
