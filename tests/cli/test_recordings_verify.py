"""`citywatch recordings verify` on the real CLI app: offline, exit 0 on a whole export and 1
naming every problem on a tampered one; 2 without a key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from citywatch.cli.main import app
from tests.audit.test_evidence_export import ed25519_pair, make_export


@pytest.fixture
def export(tmp_path: Path) -> Path:
    private, _public = ed25519_pair(tmp_path)
    return make_export(tmp_path / "CASE-2026-17.zip", private)


def verify(tmp_path: Path, export: Path, key: str = "k.pub.pem"):
    # no config and no database: what a court's expert has
    return CliRunner(env={"COLUMNS": "250"}).invoke(
        app, ["recordings", "verify", str(export), "--key-file", str(tmp_path / key)]
    )


def test_a_whole_export_verifies_and_says_what_it_is(tmp_path: Path, export: Path) -> None:
    result = verify(tmp_path, export)
    assert result.exit_code == 0, result.output
    assert "export verified" in result.output
    assert "cam-3" in result.output and "CASE-2026-17" in result.output
    assert "j.doe" in result.output and "Ed25519" in result.output


def test_a_changed_byte_fails_with_exit_1(tmp_path: Path) -> None:
    private, _ = ed25519_pair(tmp_path)
    out = make_export(tmp_path / "folder", private)
    clip = out / "recording.mp4"
    data = bytearray(clip.read_bytes())
    data[0] ^= 0xFF
    clip.write_bytes(bytes(data))
    result = verify(tmp_path, out)
    assert result.exit_code == 1
    assert "does NOT verify" in result.output and "recording.mp4: SHA-256" in result.output


def test_a_changed_case_reference_fails(tmp_path: Path) -> None:
    private, _ = ed25519_pair(tmp_path)
    out = make_export(tmp_path / "folder", private)
    doc = json.loads((out / "manifest.json").read_text())
    doc["case_ref"] = "CASE-OTHER"
    (out / "manifest.json").write_text(json.dumps(doc))
    result = verify(tmp_path, out)
    assert result.exit_code == 1 and "signature does not verify" in result.output


def test_a_missing_file_fails(tmp_path: Path) -> None:
    private, _ = ed25519_pair(tmp_path)
    out = make_export(tmp_path / "folder", private)
    (out / "README.txt").unlink()
    result = verify(tmp_path, out)
    assert result.exit_code == 1 and "README.txt: missing" in result.output


def test_the_wrong_key_fails(tmp_path: Path, export: Path) -> None:
    ed25519_pair(tmp_path, "other")
    result = verify(tmp_path, export, "other.pub.pem")
    assert result.exit_code == 1 and "signed by key" in result.output


def test_no_key_is_a_usage_error(tmp_path: Path, export: Path) -> None:
    result = CliRunner(env={"CITYWATCH_AUDIT_KEY": "", "CITYWATCH_AUDIT_KEY_FILE": ""}).invoke(
        app, ["recordings", "verify", str(export)]
    )
    assert result.exit_code == 2 and "no audit key" in result.output
    assert "Traceback" not in result.output
