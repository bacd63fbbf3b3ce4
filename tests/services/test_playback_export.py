"""Playback and signed export of a camera's recording for a case: the investigator's only,
always with a case reference, every access and refusal in the audit log with the range."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from citywatch.audit.chain import Actor, verify
from citywatch.audit.evidence_export import verify_export
from citywatch.audit.keys import HmacKey
from citywatch.services.common import NotFoundError, PermissionDenied, ServiceError
from citywatch.services.playback import (
    merge_ranges,
    segment_for_playback,
    timeline,
)
from citywatch.services.recording_export import export_recording
from citywatch.services.recordings import Segment, add_segment
from citywatch.store.media import MediaStore
from citywatch.store.models import AlertRow, AuditLogRow
from tests.services.helpers import add_camera
from tests.services.recorded_segments import record

T0 = dt.datetime(2026, 11, 30, 14, 0, tzinfo=dt.UTC)
INVESTIGATOR = Actor("ivy", "investigator")
OPERATOR = Actor("otto", "operator")
KEY = HmacKey(b"k" * 32, "test")


def last_audit(session: Session) -> AuditLogRow:
    row = session.scalars(select(AuditLogRow).order_by(AuditLogRow.seq.desc())).first()
    assert row is not None
    return row


def add_alert(session: Session, at: dt.datetime, camera_id: str = "cam-1") -> int:
    row = AlertRow(
        event_id=f"e-{at.timestamp()}-{camera_id}", kind="face", camera_id=camera_id,
        subject_name="Jane Roe", score=0.9, track_id=1, first_seen_s=0.0, last_seen_s=1.0,
        seen_at=at, status="pending",
    )  # fmt: skip
    session.add(row)
    session.commit()
    return row.id


@pytest.fixture
def recorded(session: Session, media: MediaStore) -> list[Segment]:
    add_camera(session, "cam-1")
    add_camera(session, "cam-2")
    segs = record(session, media, "cam-1", T0, 3)
    # a gap, then one more segment: a second recorded range
    segs += record(session, media, "cam-1", T0 + dt.timedelta(seconds=30), 1)
    add_segment(session, "cam-1", T0 + dt.timedelta(seconds=60), "recording/cam-1/partial.mp4")
    return segs


def test_merge_ranges_joins_touching_segments_only() -> None:
    def seg(a: float, b: float) -> Segment:
        s, e = T0 + dt.timedelta(seconds=a), T0 + dt.timedelta(seconds=b)
        return Segment(1, "c", s, e, "p", 1, None, True)

    ranges = merge_ranges([seg(8, 12), seg(0, 4), seg(4, 8), seg(20, 24), seg(25.5, 30)])
    assert [(r.start, r.end, r.segments) for r in ranges] == [
        (T0, T0 + dt.timedelta(seconds=12), 3),
        (T0 + dt.timedelta(seconds=20), T0 + dt.timedelta(seconds=30), 2),
    ]


def test_the_timeline_shows_ranges_and_alerts_and_is_audited(
    session: Session, recorded: list[Segment]
) -> None:
    inside = add_alert(session, T0 + dt.timedelta(seconds=5))
    add_alert(session, T0 + dt.timedelta(hours=2))  # outside the range
    add_alert(session, T0 + dt.timedelta(seconds=5), "cam-2")  # another camera
    tl = timeline(
        session, INVESTIGATOR, "cam-1", start=T0, end=T0 + dt.timedelta(minutes=5),
        case_ref="CASE-17",
    )  # fmt: skip
    assert [s.id for s in tl.segments] == [s.id for s in recorded]  # never the partial one
    assert [(r.start, r.end) for r in tl.ranges] == [
        (T0, T0 + dt.timedelta(seconds=12)),
        (T0 + dt.timedelta(seconds=30), T0 + dt.timedelta(seconds=34)),
    ]
    assert [a.id for a in tl.alerts] == [inside]
    entry = last_audit(session)
    assert (entry.action, entry.actor, entry.target, entry.reason) == (
        "recording.timeline",
        "ivy",
        "camera:cam-1",
        "CASE-17",
    )
    details = json.loads(entry.details) if isinstance(entry.details, str) else entry.details
    assert details["from"].startswith("2026-11-30T14:00:00") and details["alerts"] == [inside]


@pytest.mark.parametrize(
    ("actor", "case_ref", "error", "says"),
    [
        (OPERATOR, "CASE-17", PermissionDenied, "may not play"),
        (Actor("ada", "admin"), "CASE-17", PermissionDenied, "may not play"),
        (INVESTIGATOR, "  ", ServiceError, "case reference is required"),
    ],
)
def test_who_may_not_see_recordings_is_refused(
    session: Session, recorded: list[Segment], actor: Actor, case_ref: str, error: type, says: str
) -> None:
    with pytest.raises(error, match=says):
        timeline(
            session, actor, "cam-1", start=T0, end=T0 + dt.timedelta(minutes=1), case_ref=case_ref
        )
    if error is PermissionDenied:
        entry = last_audit(session)
        assert entry.action == "recording.refused" and entry.actor == actor.name


@pytest.mark.parametrize(
    ("start", "end", "says"),
    [
        (T0, T0, "at or before"),
        (T0, T0 + dt.timedelta(hours=25), "longer than 24 hours"),
        (T0.replace(tzinfo=None), T0 + dt.timedelta(hours=1), "timezone-aware"),
    ],
)
def test_bad_ranges_are_refused(
    session: Session, recorded: list[Segment], start: dt.datetime, end: dt.datetime, says: str
) -> None:
    with pytest.raises(ServiceError, match=says):
        timeline(session, INVESTIGATOR, "cam-1", start=start, end=end, case_ref="CASE-17")


def test_playing_a_segment_is_audited_when_it_starts_only(
    session: Session, recorded: list[Segment]
) -> None:
    seg = recorded[1]
    got = segment_for_playback(
        session, INVESTIGATOR, "cam-1", seg.id, case_ref="CASE-17", byte_range=None
    )
    assert got.path == seg.path
    entry = last_audit(session)
    assert (entry.action, entry.reason) == ("recording.play", "CASE-17")
    seq = entry.seq
    segment_for_playback(
        session, INVESTIGATOR, "cam-1", seg.id, case_ref="CASE-17", byte_range="bytes=5000-"
    )
    assert last_audit(session).seq == seq  # a seek is the same playback


def test_no_segment_of_another_camera_and_none_being_written(
    session: Session, recorded: list[Segment]
) -> None:
    with pytest.raises(NotFoundError):
        segment_for_playback(
            session, INVESTIGATOR, "cam-2", recorded[0].id, case_ref="C", byte_range=None
        )
    partial = recorded[-1].id + 1
    with pytest.raises(NotFoundError):
        segment_for_playback(session, INVESTIGATOR, "cam-1", partial, case_ref="C", byte_range=None)
    with pytest.raises(PermissionDenied):  # the role is checked even for a missing segment
        segment_for_playback(session, OPERATOR, "cam-1", 999, case_ref="C", byte_range=None)


def test_an_export_verifies_and_is_audited_with_its_files(
    session: Session, media: MediaStore, recorded: list[Segment], tmp_path: Path
) -> None:
    out = tmp_path / "CASE-17.zip"
    result = export_recording(
        session, INVESTIGATOR, media, KEY, camera_id="cam-1",
        start=T0 + dt.timedelta(seconds=2.5), end=T0 + dt.timedelta(seconds=9.5),
        case_ref="CASE-17", out=out,
    )  # fmt: skip
    check = verify_export(out, KEY)
    assert check.ok, check.problems
    m = check.manifest
    assert m["camera"] == {"id": "cam-1", "name": "Camera cam-1"}
    assert m["case_ref"] == "CASE-17" and m["exported_by"]["name"] == "ivy"
    assert [s["segment"] for s in m["sources"] if "segment" in s] == [s.id for s in recorded[:3]]
    assert [f["path"] for f in result.files] == ["recording-01.mp4", "README.txt"]
    entry = last_audit(session)
    assert (entry.action, entry.reason, entry.actor) == ("recording.export", "CASE-17", "ivy")
    assert result.files[0]["sha256"] in str(entry.details)
    assert verify(session).ok


def test_an_export_across_a_gap_holds_both_ranges(
    session: Session, media: MediaStore, recorded: list[Segment], tmp_path: Path
) -> None:
    export_recording(
        session, INVESTIGATOR, media, KEY, camera_id="cam-1", start=T0,
        end=T0 + dt.timedelta(seconds=40), case_ref="C", out=tmp_path / "e",
    )  # fmt: skip
    assert verify_export(tmp_path / "e", KEY).ok


def test_a_segment_changed_on_disk_is_not_exported(
    session: Session, media: MediaStore, recorded: list[Segment], tmp_path: Path
) -> None:
    path = media.path(recorded[1].path)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(PermissionDenied, match=f"segment {recorded[1].id}"):
        export_recording(
            session, INVESTIGATOR, media, KEY, camera_id="cam-1", start=T0,
            end=T0 + dt.timedelta(seconds=12), case_ref="C", out=tmp_path / "e",
        )  # fmt: skip
    assert not (tmp_path / "e").exists()
    assert last_audit(session).action == "recording.segment_altered"


def test_export_refusals(
    session: Session, media: MediaStore, recorded: list[Segment], tmp_path: Path
) -> None:
    def export(actor: Actor, start: dt.datetime, camera: str = "cam-1") -> None:
        export_recording(
            session, actor, media, KEY, camera_id=camera, start=start,
            end=start + dt.timedelta(seconds=10), case_ref="C", out=tmp_path / "e",
        )  # fmt: skip

    with pytest.raises(PermissionDenied, match="may not export"):
        export(OPERATOR, T0)
    assert last_audit(session).action == "recording.refused"
    with pytest.raises(NotFoundError, match="no recording"):
        export(INVESTIGATOR, T0 + dt.timedelta(days=1))
    with pytest.raises(NotFoundError, match="does not exist"):
        export(INVESTIGATOR, T0, "cam-9")
    assert not (tmp_path / "e").exists()
