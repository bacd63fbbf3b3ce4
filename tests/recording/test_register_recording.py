"""A recorded camera's register entry: refused without the recording's legal basis and
period, published (whether and how long) in the public register once registered."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from citywatch.config.root import CitywatchConfig, StoreConfig
from citywatch.services.cameras import RegistrationError, register_camera
from citywatch.services.register import build_register
from tests.services.helpers import ADMIN, NOW, add_camera, camera_cfg


def test_recording_without_legal_basis_is_refused_at_registration(session: Session) -> None:
    cfg = camera_cfg("cam-1", recording={"enabled": True, "retain_hours": 48})
    with pytest.raises(RegistrationError, match=r"recording\.legal_basis") as err:
        register_camera(session, cfg, ADMIN, now=NOW)
    assert "camera 'cam-1'" in str(err.value)
    masked = camera_cfg(
        "cam-2",
        recording={"enabled": True, "retain_hours": 48, "legal_basis": "Bylaw 4"},
        privacy_masks=[{"reason": "homes", "points": [[0, 0], [0.2, 0], [0.2, 0.2]]}],
    )
    with pytest.raises(RegistrationError, match="privacy masks cannot record"):
        register_camera(session, masked, ADMIN, now=NOW)
    too_long = camera_cfg(
        "cam-3", recording={"enabled": True, "retain_hours": 48, "legal_basis": "Bylaw 4"}
    )
    with pytest.raises(RegistrationError, match="max_retain_hours 24"):
        register_camera(session, too_long, ADMIN, now=NOW, max_record_hours=24)


def test_register_publishes_whether_and_how_long(session: Session, tmp_path: Path) -> None:
    add_camera(
        session, "cam-1", recording={"enabled": True, "retain_hours": 48, "legal_basis": "B4"}
    )
    add_camera(session, "cam-2")
    config = CitywatchConfig(store=StoreConfig(media_dir=tmp_path / "media"))
    cams = {c.id: c for c in build_register(session, config, now=NOW).cameras}
    assert (cams["cam-1"].records, cams["cam-1"].record_retain_hours) == (True, 48.0)
    assert (cams["cam-2"].records, cams["cam-2"].record_retain_hours) == (False, None)
