"""Signed evidence exports: written whole or not at all, and every kind of tampering caught
offline (a changed byte, a missing or added file, a changed manifest field, another key)."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path

import pytest

from citywatch.audit.chain import Actor
from citywatch.audit.evidence_export import (
    MANIFEST,
    README,
    EvidenceExportError,
    ExportBuilder,
    ExportFacts,
    verify_export,
)
from citywatch.audit.keys import Ed25519Key, HmacKey

T0 = dt.datetime(2026, 11, 30, 14, 0, tzinfo=dt.UTC)


def ed25519_pair(tmp_path: Path, name: str = "k") -> tuple[Ed25519Key, Ed25519Key]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pub = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / f"{name}.pem").write_bytes(pem)
    (tmp_path / f"{name}.pub.pem").write_bytes(pub)
    return Ed25519Key(pem, "test"), Ed25519Key(pub, "test")


def facts() -> ExportFacts:
    return ExportFacts(
        camera_id="cam-3",
        camera_name="Market square",
        start=T0,
        end=T0 + dt.timedelta(minutes=2),
        case_ref="CASE-2026-17",
        actor=Actor("j.doe", "investigator"),
        exported_at=T0 + dt.timedelta(days=1),
        sources=[{"segment": 1, "sha256": "0" * 64}],
    )


def make_export(out: Path, key: object, payload: bytes = b"\x00\x01video" * 1000) -> Path:
    with ExportBuilder(out, key) as b:  # type: ignore[arg-type]
        b.path("recording.mp4").write_bytes(payload)
        b.add("recording.mp4")
        b.finish(facts())
    return out


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Ed25519Key, Ed25519Key]:
    return ed25519_pair(tmp_path)


@pytest.mark.parametrize("name", ["export", "export.zip"])
def test_a_fresh_export_verifies_with_the_public_key(tmp_path: Path, keys, name: str) -> None:
    private, public = keys
    out = make_export(tmp_path / name, private)
    check = verify_export(out, public)
    assert check.ok, check.problems
    assert check.files_checked == 2  # the clip and the README
    m = check.manifest
    assert m["camera"] == {"id": "cam-3", "name": "Market square"}
    assert m["range"] == {
        "from": "2026-11-30T14:00:00.000000Z",
        "to": "2026-11-30T14:02:00.000000Z",
    }
    assert m["case_ref"] == "CASE-2026-17"
    assert m["exported_by"] == {"name": "j.doe", "role": "investigator"}
    assert m["citywatch_version"]
    assert [f["path"] for f in m["files"]] == ["recording.mp4", README]
    assert m["signature"]["alg"] == "Ed25519"
    assert not list(tmp_path.glob(".*partial"))  # no staging left behind


def test_one_changed_byte_is_caught_and_named(tmp_path: Path, keys) -> None:
    private, public = keys
    out = make_export(tmp_path / "e", private)
    clip = out / "recording.mp4"
    data = bytearray(clip.read_bytes())
    data[500] ^= 0x01
    clip.write_bytes(bytes(data))
    check = verify_export(out, public)
    assert not check.ok
    assert any("recording.mp4: SHA-256" in p for p in check.problems), check.problems


def test_a_truncated_file_is_caught_by_its_size(tmp_path: Path, keys) -> None:
    private, public = keys
    out = make_export(tmp_path / "e", private)
    (out / "recording.mp4").write_bytes(b"short")
    check = verify_export(out, public)
    assert check.problems == ["recording.mp4: 5 bytes, the manifest says 7000"]


def test_a_missing_and_an_added_file_are_caught(tmp_path: Path, keys) -> None:
    private, public = keys
    out = make_export(tmp_path / "e", private)
    (out / "recording.mp4").unlink()
    (out / "extra.mp4").write_bytes(b"x")
    problems = verify_export(out, public).problems
    assert "recording.mp4: missing (the manifest lists it)" in problems
    assert any(p.startswith("extra.mp4: not listed") for p in problems)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("case_ref", "CASE-OTHER"),
        ("range", {"from": "2026-11-30T13:00:00.000000Z", "to": "2026-11-30T14:02:00.000000Z"}),
        ("exported_by", {"name": "someone", "role": "investigator"}),
        ("camera", {"id": "cam-4", "name": "Market square"}),
    ],
)
def test_a_changed_manifest_field_breaks_the_signature(
    tmp_path: Path, keys, field: str, value: object
) -> None:
    private, public = keys
    out = make_export(tmp_path / "e", private)
    doc = json.loads((out / MANIFEST).read_text())
    doc[field] = value
    (out / MANIFEST).write_text(json.dumps(doc))
    check = verify_export(out, public)
    assert not check.ok
    assert any("signature does not verify" in p for p in check.problems), check.problems


def test_a_file_swapped_together_with_its_hash_is_still_caught(tmp_path: Path, keys) -> None:
    """Changing the clip and writing its new hash into the manifest breaks the signature."""
    private, public = keys
    out = make_export(tmp_path / "e", private)
    (out / "recording.mp4").write_bytes(b"forged")
    doc = json.loads((out / MANIFEST).read_text())
    doc["files"][0].update(bytes=6, sha256=__import__("hashlib").sha256(b"forged").hexdigest())
    (out / MANIFEST).write_text(json.dumps(doc))
    problems = verify_export(out, public).problems
    assert problems and all("signature" in p for p in problems)


def test_another_key_is_refused_naming_both_key_ids(tmp_path: Path, keys) -> None:
    private, _public = keys
    _other_private, other_public = ed25519_pair(tmp_path, "other")
    out = make_export(tmp_path / "e", private)
    problems = verify_export(out, other_public).problems
    assert len(problems) == 1
    assert private.key_id in problems[0] and other_public.key_id in problems[0]


def test_re_signed_by_another_key_with_the_same_id_claim_fails(tmp_path: Path, keys) -> None:
    """A forger signing with their own key but claiming the real key id fails the check."""
    _private, public = keys
    forger, _ = ed25519_pair(tmp_path, "forger")
    out = make_export(tmp_path / "e", forger)
    doc = json.loads((out / MANIFEST).read_text())
    doc["signature"]["key_id"] = public.key_id
    (out / MANIFEST).write_text(json.dumps(doc))
    problems = verify_export(out, public).problems
    assert any("signature does not verify" in p for p in problems), problems


def test_an_hmac_export_verifies_with_the_secret_only(tmp_path: Path) -> None:
    out = make_export(tmp_path / "e", HmacKey(b"k" * 32, "test"))
    assert verify_export(out, HmacKey(b"k" * 32, "test")).ok
    assert not verify_export(out, HmacKey(b"j" * 32, "test")).ok


def test_zip_tampering_is_caught(tmp_path: Path, keys) -> None:
    private, public = keys
    out = make_export(tmp_path / "e.zip", private)
    forged = tmp_path / "forged.zip"
    with zipfile.ZipFile(out) as src, zipfile.ZipFile(forged, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "recording.mp4":
                data = data[:-1] + bytes([data[-1] ^ 0xFF])
            dst.writestr(info.filename, data)
        dst.writestr("../escape.txt", b"x")
    problems = verify_export(forged, public).problems
    assert any(p.startswith("recording.mp4: SHA-256") for p in problems)
    assert any(p.startswith("../escape.txt: not listed") for p in problems)


def test_a_byte_flipped_inside_the_zip_file_is_named(tmp_path: Path, keys) -> None:
    """Flipping a byte of the zip itself (not rewriting the member): the member is named."""
    private, public = keys
    out = make_export(tmp_path / "e.zip", private)
    with zipfile.ZipFile(out) as zf:
        info = zf.getinfo("recording.mp4")
    raw = bytearray(out.read_bytes())
    raw[info.header_offset + 30 + len(info.filename) + 100] ^= 0x01  # inside its data
    out.write_bytes(bytes(raw))
    problems = verify_export(out, public).problems
    assert len(problems) == 1 and problems[0].startswith("recording.mp4: cannot be read")


@pytest.mark.parametrize(
    ("content", "says"),
    [(None, "manifest.json is missing"), (b"{not json", "not valid JSON"), (b"[]", "not a")],
)
def test_a_broken_manifest_is_named(tmp_path: Path, keys, content: bytes | None, says: str) -> None:
    private, public = keys
    out = make_export(tmp_path / "e", private)
    if content is None:
        (out / MANIFEST).unlink()
    else:
        (out / MANIFEST).write_bytes(content)
    check = verify_export(out, public)
    assert not check.ok and says in check.problems[0]


def test_not_an_export_at_all(tmp_path: Path, keys) -> None:
    _private, public = keys
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    assert (
        "neither a folder nor a readable zip"
        in verify_export(tmp_path / "junk.zip", public).problems[0]
    )
    assert "does not exist" in verify_export(tmp_path / "nothing", public).problems[0]


def test_an_export_is_never_left_half_written(tmp_path: Path, keys) -> None:
    private, _public = keys
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "e"
    with pytest.raises(RuntimeError), ExportBuilder(out, private) as b:
        b.path("recording.mp4").write_bytes(b"x")
        raise RuntimeError("remux failed")
    assert list((tmp_path / "out").iterdir()) == []


def test_a_staging_folder_that_cannot_be_removed_does_not_hide_the_error(
    tmp_path: Path, keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cleaning up after a failed export never raises: the export's own error reaches the
    caller, and a staging folder that cannot be removed (a file in it undeletable) is left as
    an orphan rather than replacing that error (tests run as root, so the folder is made
    undeletable by refusing the unlink, not by its mode)."""
    import os

    private, _public = keys
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "e"
    real_unlink = os.unlink

    def refuse(path: object, *args: object, **kwargs: object) -> None:
        if str(path).endswith("recording.mp4"):
            raise PermissionError(13, "Permission denied", str(path))
        real_unlink(path, *args, **kwargs)  # type: ignore[arg-type]

    with pytest.raises(RuntimeError, match="remux failed"), ExportBuilder(out, private) as b:
        b.path("recording.mp4").write_bytes(b"x")
        monkeypatch.setattr(os, "unlink", refuse)
        raise RuntimeError("remux failed")
    monkeypatch.setattr(os, "unlink", real_unlink)
    assert not out.exists()  # nothing under the export's own name


def test_refusals(tmp_path: Path, keys) -> None:
    private, public = keys
    (tmp_path / "taken").mkdir()
    with pytest.raises(EvidenceExportError, match="already exists"):
        ExportBuilder(tmp_path / "taken", private)
    with pytest.raises(EvidenceExportError, match="cannot sign"):
        ExportBuilder(tmp_path / "x", public)
    with pytest.raises(EvidenceExportError, match="does not exist"):
        ExportBuilder(tmp_path / "no" / "x", private)
    with ExportBuilder(tmp_path / "y", private) as b:
        for bad in ("../x.mp4", "/abs.mp4", MANIFEST, "a/./b"):
            with pytest.raises(EvidenceExportError, match="cannot be a file"):
                b.path(bad)
        with pytest.raises(EvidenceExportError, match="at least one file"):
            b.finish(facts())
