"""May this camera record continuously?  Pure functions, no I/O (issue 17).

Recording keeps everyone who passes, so it needs more than the analysis does: the register
entry must say that the camera records, under which legal basis, and for how long, and the
period must not exceed the node's longest.  A camera with privacy masks may not record: its
stream is stored by copy, and a copy would hold the masked areas (re-encoding every camera
with the masks drawn in costs too much CPU for continuous recording: docs/recording.md).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from citywatch.config.camera import CameraConfig
from citywatch.policy.decision import Decision


@dataclass(frozen=True, slots=True)
class RecordingFacts:
    """What the rule needs to know about a camera's recording."""

    camera_id: str
    enabled: bool
    legal_basis: str  # the recording's own reference
    retain_hours: float | None
    privacy_masks: int
    camera_legal_basis: str  # the camera's registration
    impact_assessment: str
    approved_on: dt.date | None

    @classmethod
    def from_config(cls, cfg: CameraConfig) -> RecordingFacts:
        rec = cfg.recording
        return cls(
            cfg.id,
            rec.enabled,
            rec.legal_basis,
            rec.retain_hours,
            len(cfg.privacy_masks),
            cfg.legal_basis,
            cfg.impact_assessment,
            cfg.approved_on,
        )


def recording_problems(facts: RecordingFacts, max_retain_hours: float) -> list[str]:
    """Every reason the camera may not record as configured, each naming the camera and the
    key to fix; empty when it may (or when recording is not enabled)."""
    if not facts.enabled:
        return []
    cam = f"camera {facts.camera_id!r}: recording.enabled"
    problems: list[str] = []
    if not facts.legal_basis.strip():
        problems.append(
            f"{cam} needs recording.legal_basis (the reference that allows recording; the "
            "analysis basis does not cover it)"
        )
    if facts.retain_hours is None:
        problems.append(f"{cam} needs recording.retain_hours (the register says how long)")
    elif facts.retain_hours > max_retain_hours:
        problems.append(
            f"{cam}: recording.retain_hours {facts.retain_hours:g} is longer than this node "
            f"allows (recording.storage.max_retain_hours {max_retain_hours:g})"
        )
    if not facts.camera_legal_basis.strip() or not facts.impact_assessment.strip():
        problems.append(f"{cam} needs the camera's legal_basis and impact_assessment")
    if facts.approved_on is None:
        problems.append(f"{cam} needs the camera's approved_on")
    if facts.privacy_masks:
        problems.append(
            f"{cam}: a camera with privacy masks cannot record (segments are stream copies "
            "and would hold the masked areas; see docs/recording.md)"
        )
    return problems


def camera_may_record(facts: RecordingFacts, max_retain_hours: float, now: dt.datetime) -> Decision:
    """Allowed when recording is enabled, registered as above, and approved by ``now``."""
    if not facts.enabled:
        return Decision.deny(f"camera {facts.camera_id!r}: recording is not enabled")
    problems = recording_problems(facts, max_retain_hours)
    if problems:
        return Decision.deny("; ".join(problems))
    if now.tzinfo is None:
        raise ValueError("policy times must be timezone-aware")
    if facts.approved_on is not None and facts.approved_on > now.astimezone(dt.UTC).date():
        return Decision.deny(
            f"camera {facts.camera_id!r}: approved_on {facts.approved_on} is in the future"
        )
    return Decision.allow(
        f"camera {facts.camera_id!r}: records under {facts.legal_basis.strip()}, "
        f"kept {facts.retain_hours:g} h"
    )


# --- The node's storage budget -----------------------------------------------------------

BUDGET_OK, BUDGET_WARNING, BUDGET_OVER = "ok", "warning", "over"


def budget_state(used_bytes: int, budget_bytes: int, warn_fraction: float) -> str:
    """``ok`` below ``warn_fraction`` of the budget, ``warning`` from there up to the budget,
    ``over`` past it (the oldest segments are deleted until it holds again)."""
    if budget_bytes <= 0 or not 0 < warn_fraction < 1:
        raise ValueError("budget_bytes must be > 0 and warn_fraction within (0, 1)")
    if used_bytes > budget_bytes:
        return BUDGET_OVER
    if used_bytes >= warn_fraction * budget_bytes:
        return BUDGET_WARNING
    return BUDGET_OK


def oldest_to_delete(sizes_oldest_first: list[int], used_bytes: int, budget_bytes: int) -> int:
    """How many of the oldest segments (their sizes, oldest first) must go for the rest to fit
    the budget; all of them when even that is not enough."""
    over = used_bytes - budget_bytes
    count = 0
    while over > 0 and count < len(sizes_oldest_first):
        over -= sizes_oldest_first[count]
        count += 1
    return count


def recording_cutoff(now: dt.datetime, retain_hours: float) -> dt.datetime:
    """Segments that ended before this are past their retention."""
    if now.tzinfo is None:
        raise ValueError("policy times must be timezone-aware")
    if retain_hours <= 0:
        raise ValueError(f"retain_hours must be > 0, got {retain_hours}")
    return now.astimezone(dt.UTC) - dt.timedelta(hours=retain_hours)
