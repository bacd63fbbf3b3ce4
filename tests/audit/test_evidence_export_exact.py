"""Signed evidence exports, exactly (issue 21, mutation testing): every verdict compared whole
(ok, problems word for word, manifest, files checked), the manifest's size limit at its edge,
every way a signed manifest's file list can be wrong, several missing or damaged files all
named, a member present twice, and the one line that describes an export.  The builder: its
staging folder beside the export, the manifest as a person reads it, nested members, sizes of
files larger than one read, refused member names, and finish() outside its block."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pytest

from citywatch.audit import evidence_export
from citywatch.audit.chain import Actor
from citywatch.audit.evidence_export import (
    MANIFEST,
    MAX_MANIFEST_BYTES,
    README,
    EvidenceExportError,
    ExportBuilder,
    ExportCheck,
    ExportFacts,
    citywatch_version,
    describe,
    verify_export,
)
from citywatch.audit.keys import SIGNATURE, Ed25519Key, sign_document
from tests.audit.test_evidence_export import T0, ed25519_pair, make_export

Keys = tuple[Ed25519Key, Ed25519Key]


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return ed25519_pair(tmp_path)


def _resign(out: Path, key: Ed25519Key, change: Any) -> None:
    """Rewrite the folder export's manifest, changed by ``change(doc)`` and signed again."""
    doc = json.loads((out / MANIFEST).read_text())
    doc.pop(SIGNATURE)
    change(doc)
    (out / MANIFEST).write_text(json.dumps(sign_document(doc, key)))


def _flip(out: Path, member: str) -> None:
    """Flip one byte inside a zip member's data (the zip's own check then fails)."""
    with zipfile.ZipFile(out) as zf:
        info = zf.getinfo(member)
    raw = bytearray(out.read_bytes())
    raw[info.header_offset + 30 + len(info.filename) + len(info.extra) + 5] ^= 0x01
    out.write_bytes(bytes(raw))


def test_what_is_not_an_export_is_answered_whole(tmp_path: Path, keys: Keys) -> None:
    _private, public = keys
    nothing = tmp_path / "nothing"
    assert verify_export(nothing, public) == ExportCheck(
        False, [f"{nothing} does not exist"], {}, 0
    )
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    assert verify_export(junk, public) == ExportCheck(
        False, [f"{junk} is neither a folder nor a readable zip (File is not a zip file)"], {}, 0
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    assert verify_export(empty, public) == ExportCheck(
        False, [f"{MANIFEST} is missing: this is not a citywatch export, or it was cut"], {}, 0
    )


def test_a_damaged_manifest_inside_a_zip_is_answered_whole(tmp_path: Path, keys: Keys) -> None:
    private, public = keys
    out = make_export(tmp_path / "e.zip", private)
    _flip(out, MANIFEST)
    assert verify_export(out, public) == ExportCheck(
        False, [f"{out} could not be read: Bad CRC-32 for file '{MANIFEST}'"], {}, 0
    )


def test_the_manifest_may_be_as_large_as_the_limit_and_no_larger(
    tmp_path: Path, keys: Keys
) -> None:
    private, public = keys
    out = make_export(tmp_path / "e", private)
    doc = json.loads((out / MANIFEST).read_text())
    doc["pad"] = ""
    body = json.dumps(doc)
    doc["pad"] = "x" * (MAX_MANIFEST_BYTES - len(body))
    (out / MANIFEST).write_text(json.dumps(doc))
    assert (out / MANIFEST).stat().st_size == MAX_MANIFEST_BYTES
    at_limit = verify_export(out, public)  # read (its signature no longer holds)
    assert at_limit.manifest == doc and at_limit.files_checked == 2
    assert at_limit.problems[0].startswith("signature: ")
    doc["pad"] += "x"
    (out / MANIFEST).write_text(json.dumps(doc))
    assert verify_export(out, public) == ExportCheck(
        False, [f"{MANIFEST} is larger than {MAX_MANIFEST_BYTES} bytes"], {}, 0
    )


GOOD = "0" * 64


@pytest.mark.parametrize(
    ("files", "problems"),
    [
        ([], [f"{MANIFEST} lists no files"]),
        ("recording.mp4", [f"{MANIFEST} lists no files"]),
        (["recording.mp4"], [f"{MANIFEST}: files[0] is not a valid entry (path, bytes, sha256)"]),
        (
            [{"path": 5, "bytes": 12000, "sha256": GOOD}],
            [f"{MANIFEST}: files[0] is not a valid entry (path, bytes, sha256)"],
        ),
        (
            [{"path": MANIFEST, "bytes": 1, "sha256": GOOD}],
            [f"{MANIFEST}: files[0] is not a valid entry (path, bytes, sha256)"],
        ),
        (
            [{"path": "recording.mp4", "bytes": "12000", "sha256": GOOD}],
            [f"{MANIFEST}: files[0] is not a valid entry (path, bytes, sha256)"],
        ),
        (
            [{"path": "recording.mp4", "bytes": 12000}],
            [f"{MANIFEST}: files[0] is not a valid entry (path, bytes, sha256)"],
        ),
        (
            [{"path": "recording.mp4", "bytes": 12000, "sha256": "xyz"}],
            [f"{MANIFEST}: files[0] is not a valid entry (path, bytes, sha256)"],
        ),
        (
            [{"path": "../recording.mp4", "bytes": 12000, "sha256": GOOD}],
            [f"{MANIFEST}: files[0] is not a valid entry (path, bytes, sha256)"],
        ),
    ],
)
def test_a_signed_manifest_with_a_wrong_file_list_is_named(
    tmp_path: Path, keys: Keys, files: object, problems: list[str]
) -> None:
    private, public = keys
    out = make_export(tmp_path / "e", private)
    _resign(out, private, lambda doc: doc.__setitem__("files", files))
    check = verify_export(out, public)
    assert check.ok is False and check.files_checked == 0
    # what the manifest names and the members it does not list
    unlisted = [
        f"{n}: not listed in the signed manifest (added afterwards)"
        for n in (README, "recording.mp4")
    ]
    assert check.problems == problems + unlisted


def test_a_file_listed_twice_is_named_once_and_checked_once(tmp_path: Path, keys: Keys) -> None:
    private, public = keys
    out = make_export(tmp_path / "e", private)
    _resign(out, private, lambda doc: doc["files"].append(dict(doc["files"][0])))
    check = verify_export(out, public)
    assert (check.ok, check.files_checked) == (False, 2)
    assert check.problems == [f"{MANIFEST}: recording.mp4 is listed twice"]


def test_every_missing_or_damaged_file_is_named(tmp_path: Path, keys: Keys) -> None:
    private, public = keys
    folder = make_export(tmp_path / "e", private)
    (folder / "recording.mp4").unlink()
    (folder / README).unlink()
    check = verify_export(folder, public)
    assert (check.ok, check.files_checked) == (False, 0)
    assert check.problems == [
        "recording.mp4: missing (the manifest lists it)",
        f"{README}: missing (the manifest lists it)",
    ]
    packed = make_export(tmp_path / "e.zip", private)
    _flip(packed, "recording.mp4")
    _flip(packed, README)
    check = verify_export(packed, public)
    assert (check.ok, check.files_checked) == (False, 0)
    assert check.problems == [
        "recording.mp4: cannot be read (Bad CRC-32 for file 'recording.mp4')",
        f"{README}: cannot be read (Bad CRC-32 for file '{README}')",
    ]


def test_a_member_present_twice_in_a_zip_is_named(tmp_path: Path, keys: Keys) -> None:
    private, public = keys
    out = make_export(tmp_path / "e.zip", private)
    with (
        pytest.warns(UserWarning, match="Duplicate name"),
        zipfile.ZipFile(out, "a") as zf,
    ):
        zf.writestr(README, b"another readme")
    check = verify_export(out, public)
    assert check.ok is False
    assert f"{README}: present twice in the export" in check.problems


def test_an_export_is_described_in_one_line(tmp_path: Path, keys: Keys) -> None:
    private, public = keys
    m = verify_export(make_export(tmp_path / "e", private), public).manifest
    assert describe(m) == (
        f"camera cam-3 (Market square), {m['range']['from']} to {m['range']['to']}, "
        f"case 'CASE-2026-17', exported by j.doe at {m['exported_at']}, "
        f"signed Ed25519 key {public.key_id}"
    )
    assert m["range"]["from"] != m["range"]["to"]
    assert describe({}) == (
        "camera None (None), None to None, case None, exported by None at None, "
        "signed None key None"
    )


def test_the_builder_stages_beside_the_export_and_writes_a_readable_manifest(
    tmp_path: Path, keys: Keys
) -> None:
    private, public = keys
    out = tmp_path / "e"
    payload = b"\x07" * (2 * 1024 * 1024 + 5)  # larger than one read of 1 MiB
    facts = ExportFacts(
        camera_id="cam-3", camera_name="Marktplatz Süd", start=T0,
        end=T0 + dt.timedelta(minutes=2), case_ref="CASE-1", actor=Actor("j.doe", "investigator"),
        exported_at=T0 + dt.timedelta(days=1), sources=[],
    )  # fmt: skip
    with ExportBuilder(out, private) as b:
        target = b.path("clips/cam-3/part-1.mp4")  # nested members: their folders are made
        staging = target.parent.parent.parent
        assert staging.parent == tmp_path
        assert staging.name.startswith(".e.") and staging.name.endswith(".partial")
        target.write_bytes(payload)
        assert b.add("clips/cam-3/part-1.mp4")["bytes"] == len(payload)
        result = b.finish(facts)
    assert result.path == out and not staging.exists()
    body = (out / MANIFEST).read_text(encoding="utf-8")
    assert body == json.dumps(result.manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert '"name": "Marktplatz Süd"' in body  # not escaped
    assert result.manifest["citywatch_version"] == version("citywatch")
    assert result.manifest["exported_at"] == "2026-12-01T14:00:00.000000Z"
    check = verify_export(out, public)
    assert (check.ok, check.files_checked) == (True, 2), check.problems
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e", "k.pem", "k.pub.pem"]


@pytest.mark.parametrize("bad", ["a\\b.mp4", "a\x00b.mp4", "a//b.mp4", "", "a/../b.mp4"])
def test_a_member_name_that_could_mislead_is_refused(tmp_path: Path, keys: Keys, bad: str) -> None:
    private, _public = keys
    with ExportBuilder(tmp_path / "e", private) as b, pytest.raises(EvidenceExportError) as err:
        b.path(bad)
    assert str(err.value) == f"{bad!r} cannot be a file of an export"


def test_finish_outside_its_block_is_refused_in_words(tmp_path: Path, keys: Keys) -> None:
    private, _public = keys
    never = ExportBuilder(tmp_path / "never", private)
    with pytest.raises(EvidenceExportError) as before:
        never.finish(None)  # type: ignore[arg-type]
    assert str(before.value) == "finish() outside the with block"
    with ExportBuilder(tmp_path / "e", private) as b:
        with pytest.raises(EvidenceExportError) as empty:
            b.finish(None)  # type: ignore[arg-type]
        assert str(empty.value) == "an export needs at least one file"
    with pytest.raises(EvidenceExportError) as after:
        b.finish(None)  # type: ignore[arg-type]
    assert str(after.value) == "finish() outside the with block"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.pem", "k.pub.pem"]


def test_a_staging_folder_that_cannot_be_made_is_refused_in_words(
    tmp_path: Path, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    private, _public = keys

    def refused(**_kw: object) -> str:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", refused)
    with pytest.raises(EvidenceExportError) as err, ExportBuilder(tmp_path / "e", private):
        pass
    assert str(err.value) == f"cannot write in {tmp_path}: Permission denied"


def test_the_version_of_a_source_tree_without_metadata_is_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing(name: str) -> str:
        raise PackageNotFoundError(name)

    monkeypatch.setattr(evidence_export, "version", missing)
    assert citywatch_version() == "unknown"
