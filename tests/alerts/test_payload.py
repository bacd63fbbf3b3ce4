from __future__ import annotations

import datetime as dt
import json

import pytest

from citywatch.alerts.payload import ALLOWED_FIELDS, SCHEMA, alert_payload, encode_payload
from citywatch.alerts.sink import AlertEventLike
from tests.alerts.fakes import face_event, plate_event


def test_fake_event_fits_the_protocol() -> None:
    assert isinstance(face_event(), AlertEventLike)


def test_payload_keeps_alert_fields_and_drops_everything_else() -> None:
    ev = face_event(
        extra={
            "embedding": [0.1] * 128,
            "image": b"\xff\xd8jpeg",
            "internal_note": "x",
            "score": {"nested": 1},
        }
    )
    p = alert_payload(ev)
    assert p["schema"] == SCHEMA
    assert p["event_id"] == "evt-0001"
    assert p["subject_name"] == "Jane Example"
    assert p["camera_id"] == "cam-entrance"
    assert "embedding" not in p
    assert "image" not in p
    assert "internal_note" not in p
    assert "score" not in p  # replaced by a non-scalar: dropped, not passed through
    assert "snapshot_path" not in p
    assert p["snapshot"] == "snapshots/2025/05/evt-0001.jpg"


def test_absolute_snapshot_path_shrinks_to_a_name() -> None:
    p = alert_payload(face_event(snapshot_path="/srv/citywatch/var/media/abc.jpg"))
    assert p["snapshot"] == "abc.jpg"


def test_datetime_values_become_utc_iso() -> None:
    when = dt.datetime(2025, 1, 2, 4, 5, 6, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    ev = plate_event(extra={"seen_at": when})
    assert alert_payload(ev)["seen_at"] == "2025-01-02T02:05:06+00:00"


def test_encoding_is_compact_sorted_and_stable() -> None:
    a = encode_payload(plate_event())
    assert a == encode_payload(plate_event())
    assert b" " not in a.replace(b"Jane Example", b"")
    doc = json.loads(a)
    assert list(doc) == sorted(doc)
    assert doc["plate"] == "CW123X" and doc["read"] == "CW128X" and doc["distance"] == 1


def test_real_alert_event_round_trips() -> None:
    events = pytest.importorskip("citywatch.alerts.events")
    ev = events.AlertEvent(
        id=3,
        event_id="evt-real",
        kind="plate",
        camera_id="cam-street",
        status="pending",
        score=0.9,
        seen_at=dt.datetime(2025, 5, 1, 8, 0, tzinfo=dt.UTC),
        first_seen_s=0.5,
        last_seen_s=2.0,
        track_id=4,
        plate="CW123X",
        read="CW123X",
        distance=0,
        snapshot_path="2025/05/01/evt-real.jpg",
    )
    assert isinstance(ev, AlertEventLike)
    doc = json.loads(encode_payload(ev))
    assert doc["event_id"] == "evt-real" and doc["snapshot"] == "2025/05/01/evt-real.jpg"
    assert doc["seen_at"] == "2025-05-01T08:00:00+00:00"
    assert set(doc) <= {"schema", "snapshot", *ALLOWED_FIELDS}
