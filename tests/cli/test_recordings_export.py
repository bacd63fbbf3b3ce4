"""`citywatch recordings export` on the real CLI app: an investigator's signed export of a
camera's recording verifies with `recordings verify`; anyone else is refused, audited."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from citywatch.cli.main import app
from citywatch.store.db import make_engine, make_session_factory, upgrade_database
from citywatch.store.media import MediaStore
from citywatch.store.models import AuditLogRow
from tests.services.helpers import add_camera
from tests.services.recorded_segments import record

SECRET = "s3cr3t-" * 6
T0 = dt.datetime(2026, 11, 30, 14, 0, tzinfo=dt.UTC)


@pytest.fixture
def recorded(cli_config: Path) -> Any:
    cfg = yaml.safe_load(cli_config.read_text())
    url = str(cfg["store"]["database_url"])
    upgrade_database(url)
    factory = make_session_factory(make_engine(url))
    with factory() as s:
        add_camera(s, "cam-1")
        record(s, MediaStore(Path(cfg["store"]["media_dir"])), "cam-1", T0, 2)
    return factory


def cli(cli_config: Path, *args: str, role: str = "investigator") -> Any:
    env = {"COLUMNS": "250", "CITYWATCH_AUDIT_KEY": SECRET, "CITYWATCH_ROLE": role}
    env["CITYWATCH_ACTOR"] = "ivy"
    return CliRunner(env=env).invoke(app, ["-c", str(cli_config), *args])


def export_args(out: Path) -> list[str]:
    return [
        "recordings", "export", "--camera", "cam-1", "--from", "2026-11-30T14:00:01",
        "--to", "2026-11-30T14:00:06", "--case", "CASE-2026-17", "--out", str(out),
    ]  # fmt: skip


def test_an_investigator_exports_and_the_export_verifies(
    cli_config: Path, recorded: Any, tmp_path: Path
) -> None:
    out = tmp_path / "CASE-2026-17.zip"
    result = cli(cli_config, *export_args(out))
    assert result.exit_code == 0, result.output
    assert "exported 1 file(s)" in result.output and "recording-01.mp4" in result.output
    checked = cli(cli_config, "recordings", "verify", str(out))
    assert checked.exit_code == 0, checked.output
    assert "CASE-2026-17" in checked.output and "ivy" in checked.output
    with recorded() as s:
        entry = s.scalars(select(AuditLogRow).order_by(AuditLogRow.seq.desc())).first()
        assert (entry.action, entry.actor, entry.reason) == (
            "recording.export",
            "ivy",
            "CASE-2026-17",
        )


def test_the_default_admin_role_is_refused_and_nothing_is_written(
    cli_config: Path, recorded: Any, tmp_path: Path
) -> None:
    out = tmp_path / "e.zip"
    result = cli(cli_config, *export_args(out), role="admin")
    assert result.exit_code == 1
    assert "may not export" in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_an_existing_output_is_not_overwritten(
    cli_config: Path, recorded: Any, tmp_path: Path
) -> None:
    out = tmp_path / "taken.zip"
    out.write_bytes(b"earlier evidence")
    result = cli(cli_config, *export_args(out))
    assert result.exit_code == 1 and "already exists" in result.output
    assert out.read_bytes() == b"earlier evidence"


def test_the_timeline_lists_what_was_recorded(cli_config: Path, recorded: Any) -> None:
    args = ["recordings", "timeline", "--camera", "cam-1", "--from", "2026-11-30T13:00:00"]
    result = cli(cli_config, *args, "--to", "2026-11-30T15:00:00", "--case", "CASE-2026-17")
    assert result.exit_code == 0, result.output
    assert "2026-11-30 14:00:00" in result.output and "2026-11-30 14:00:08" in result.output
    with recorded() as s:
        entry = s.scalars(select(AuditLogRow).order_by(AuditLogRow.seq.desc())).first()
        assert (entry.action, entry.reason) == ("recording.timeline", "CASE-2026-17")
    refused = cli(cli_config, *args, "--to", "2026-11-30T15:00:00", "--case", "C", role="operator")
    assert refused.exit_code == 1 and "may not play" in refused.output


def test_serve_signs_exports_only_with_a_key_from_the_environment(
    monkeypatch: Any, tmp_path: Path
) -> None:
    """`citywatch serve`'s export key: none without the variables (the route answers 503), the
    key with them, a usage error naming the fault for a bad one."""
    import typer

    from citywatch.cli.context import CliContext
    from citywatch.cli.serve import _export_key
    from tests.audit.test_evidence_export import ed25519_pair

    c = CliContext(config_path=None)
    monkeypatch.delenv("CITYWATCH_AUDIT_KEY", raising=False)
    monkeypatch.delenv("CITYWATCH_AUDIT_KEY_FILE", raising=False)
    assert _export_key(c) is None
    private, _ = ed25519_pair(tmp_path)
    monkeypatch.setenv("CITYWATCH_AUDIT_KEY_FILE", str(tmp_path / "k.pem"))
    key = _export_key(c)
    assert key is not None and key.can_sign and key.key_id == private.key_id
    monkeypatch.delenv("CITYWATCH_AUDIT_KEY_FILE")
    monkeypatch.setenv("CITYWATCH_AUDIT_KEY", "too-short")
    with pytest.raises(typer.Exit) as exit_info:
        _export_key(c)
    assert exit_info.value.exit_code == 2
