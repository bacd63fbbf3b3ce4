from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from citywatch.audit.chain import entries, verify
from citywatch.services.cameras import (
    RegistrationError,
    get_camera,
    list_cameras,
    redact_url,
    register_camera,
)
from citywatch.services.common import NotFoundError
from tests.services.helpers import ADMIN, NOW, audit_actions, camera_cfg


def test_register_stores_the_camera_without_its_secret(session: Session) -> None:
    row = register_camera(session, camera_cfg("cam-1"), ADMIN, now=NOW)
    assert row.id == "cam-1"
    assert row.purposes == ["face", "plate"]
    assert row.url_redacted == "rtsp://***@10.0.0.9/cam-1"
    assert "hunter2" not in repr(row.__dict__)
    assert (row.lat, row.lon, row.zone) == (52.1, 5.1, "north")
    assert row.approved_on == dt.date(2025, 1, 15)
    assert [c.id for c in list_cameras(session)] == ["cam-1"]
    (entry,) = list(entries(session))
    assert (entry.action, entry.target, entry.actor) == ("camera.register", "camera:cam-1", "admin")
    assert "hunter2" not in str(entry.details)
    assert verify(session).ok


def test_register_again_is_an_upsert_audited_only_on_change(session: Session) -> None:
    register_camera(session, camera_cfg("cam-1"), ADMIN, now=NOW)
    register_camera(session, camera_cfg("cam-1"), ADMIN, now=NOW)
    assert audit_actions(session) == ["camera.register"]
    later = NOW + dt.timedelta(days=1)
    row = register_camera(session, camera_cfg("cam-1", zone="south"), ADMIN, now=later)
    assert row.zone == "south" and row.updated_at == later and row.created_at == NOW
    assert audit_actions(session) == ["camera.register", "camera.update"]
    assert list(entries(session))[-1].details == {"zone": "south"}
    assert len(list_cameras(session)) == 1


def test_camera_without_legal_basis_is_refused_naming_it(session: Session) -> None:
    cfg = camera_cfg("cam-3", legal_basis="", impact_assessment="")
    with pytest.raises(RegistrationError) as err:
        register_camera(session, cfg, ADMIN, now=NOW)
    assert "camera 'cam-3': missing legal_basis" in str(err.value)
    assert "camera 'cam-3': missing impact_assessment" in err.value.problems
    assert "hunter2" not in str(err.value)
    assert list_cameras(session) == []
    assert audit_actions(session) == []


def test_camera_approved_in_the_future_is_refused(session: Session) -> None:
    with pytest.raises(RegistrationError, match="in the future"):
        register_camera(session, camera_cfg("cam-4", approved_on="2030-01-01"), ADMIN, now=NOW)


def test_get_camera_unknown(session: Session) -> None:
    with pytest.raises(NotFoundError, match="'nope'"):
        get_camera(session, "nope")


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        (
            "rtsp://user:pw@10.0.0.1:554/live?token=abc&x=1",
            "rtsp://***@10.0.0.1:554/live?token=***&x=1",
        ),
        ("rtsp://${CAM_USER}:${CAM_PASS}@cam.local/s", "rtsp://***@cam.local/s"),
        ("http://cam.local/mjpeg", "http://cam.local/mjpeg"),
        ("/data/clips/a.mp4", "/data/clips/a.mp4"),
        ("C:\\clips\\a.mp4", "C:\\clips\\a.mp4"),
        ("https://u@host/x#frag", "https://***@host/x#frag"),
    ],
)
def test_redact_url(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


def test_live_views_are_audited_once_per_person_camera_and_window(session: Session) -> None:
    from citywatch.audit.chain import Actor
    from citywatch.services.cameras import record_live_view

    register_camera(session, camera_cfg("cam-1"), ADMIN, now=NOW)
    ops, other = Actor("ops", "operator"), Actor("ops-2", "operator")
    for _ in range(5):  # a dashboard refreshing its picture
        record_live_view(session, ops, "cam-1")
    record_live_view(session, other, "cam-1")
    record_live_view(session, ops, "cam-1", every=dt.timedelta(0))  # the window has passed
    views = [a for a in audit_actions(session) if a == "camera.live_view"]
    assert len(views) == 3
