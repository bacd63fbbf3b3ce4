"""Legal-basis gate: may this camera analyse for this purpose?  Pure functions, no I/O.

A camera analyses only for the purposes it was registered for, and only with a legal-basis
reference, an impact-assessment (DPIA) reference and an approval date that is not in the future.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from citywatch.config.camera import CameraConfig
from citywatch.config.recording import DEFAULT_MAX_RETAIN_HOURS
from citywatch.policy.decision import Decision
from citywatch.policy.recording import RecordingFacts, recording_problems


@dataclass(frozen=True, slots=True)
class CameraFacts:
    """What the policy needs to know about a camera (from the config or from the database)."""

    id: str
    purposes: frozenset[str]
    legal_basis: str
    impact_assessment: str
    approved_on: dt.date | None
    zone: str = ""

    @classmethod
    def of(
        cls,
        id: str,
        purposes: Iterable[str],
        legal_basis: str,
        impact_assessment: str,
        approved_on: dt.date | None,
        zone: str = "",
    ) -> CameraFacts:
        return cls(
            id=id,
            purposes=frozenset(str(p) for p in purposes),
            legal_basis=legal_basis,
            impact_assessment=impact_assessment,
            approved_on=approved_on,
            zone=zone,
        )

    @classmethod
    def from_config(cls, cfg: CameraConfig) -> CameraFacts:
        return cls.of(
            cfg.id,
            (p.value for p in cfg.purposes),
            cfg.legal_basis,
            cfg.impact_assessment,
            cfg.approved_on,
            cfg.zone,
        )


def _utc_day(now: dt.datetime) -> dt.date:
    if now.tzinfo is None:
        raise ValueError("policy times must be timezone-aware")
    return now.astimezone(dt.UTC).date()


def camera_may_analyse(camera: CameraFacts, purpose: str, now: dt.datetime) -> Decision:
    """Allowed only for a registered purpose with legal basis, DPIA and a past approval date."""
    cam = f"camera {camera.id!r}"
    if purpose not in camera.purposes:
        registered = ", ".join(sorted(camera.purposes)) or "none"
        return Decision.deny(
            f"{cam}: purpose {purpose!r} is not registered (registered: {registered})"
        )
    if not camera.legal_basis.strip():
        return Decision.deny(f"{cam}: missing legal_basis")
    if not camera.impact_assessment.strip():
        return Decision.deny(f"{cam}: missing impact_assessment")
    if camera.approved_on is None:
        return Decision.deny(f"{cam}: missing approved_on")
    if camera.approved_on > _utc_day(now):
        return Decision.deny(f"{cam}: approved_on {camera.approved_on} is in the future")
    return Decision.allow(f"{cam}: registered for {purpose!r} under {camera.legal_basis}")


def check_camera_registration(
    cfg: CameraConfig,
    today: dt.date | None = None,
    *,
    max_record_hours: float = DEFAULT_MAX_RETAIN_HOURS,
) -> list[str]:
    """Every reason the camera may not be registered, each naming the camera; empty when fine.

    ``today`` (UTC) adds the check that the approval date is not in the future.  A camera
    that records must say so under the rules of :mod:`citywatch.policy.recording`.
    """
    cam = f"camera {cfg.id!r}"
    problems: list[str] = []
    if not cfg.purposes:
        problems.append(f"{cam}: no purposes registered (face, plate)")
    if not cfg.legal_basis.strip():
        problems.append(f"{cam}: missing legal_basis")
    if not cfg.impact_assessment.strip():
        problems.append(f"{cam}: missing impact_assessment")
    if cfg.approved_on is None:
        problems.append(f"{cam}: missing approved_on")
    elif today is not None and cfg.approved_on > today:
        problems.append(f"{cam}: approved_on {cfg.approved_on} is in the future")
    if cfg.withhold_location.strip() and not cfg.zone.strip():
        problems.append(f"{cam}: withhold_location is given but there is no zone to publish")
    problems += recording_problems(RecordingFacts.from_config(cfg), max_record_hours)
    return problems
