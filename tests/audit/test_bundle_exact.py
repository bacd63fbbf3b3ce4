"""verify_bundle answers exactly: verdict, entries checked, the problem word for word, the entry
and line it names, and the manifest it read.

An outside auditor reads these answers as they are, so each kind of damage is compared whole
(mutation testing showed that checking a word of the problem let a wrong line number, a lost
manifest or a garbled reason through)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from citywatch.audit.chain import Actor, append, canonical_json
from citywatch.audit.export import BundleCheck, export_bundle, verify_bundle
from citywatch.audit.keys import HmacKey, check_document

ALICE = Actor("alice", "auditor")
KEY = HmacKey(b"k" * 32, "test")
OTHER_KEY = HmacKey(b"o" * 32, "test")
EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATER = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
NOT_A_MANIFEST = "line 1 is not a citywatch-audit-bundle/1 manifest"
REORDERED = "(entries deleted, inserted or reordered)"


@pytest.fixture
def bundle(session: Session, tmp_path: Path) -> Path:
    for i in range(6):
        append(session, Actor("bob", "operator"), "alert.view", f"alert:{i}", details={"i": i})
        session.commit()
    out = tmp_path / "audit.jsonl"
    export_bundle(session, ALICE, KEY, out, since=EPOCH, until=LATER)
    return out


def rows_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def write(path: Path, rows: list[str]) -> None:
    path.write_text("".join(r + "\n" for r in rows), encoding="utf-8")


def manifest_of(rows: list[str]) -> dict[str, Any]:
    value = json.loads(rows[0])
    assert isinstance(value, dict)
    return value


def with_manifest(path: Path, **changes: Any) -> dict[str, Any]:
    rows = rows_of(path)
    manifest = manifest_of(rows)
    for name, value in changes.items():
        if value is None:
            manifest.pop(name, None)
        else:
            manifest[name] = value
    write(path, [canonical_json(manifest), *rows[1:]])
    return manifest


def with_entry(path: Path, seq: int, line: str) -> dict[str, Any]:
    rows = rows_of(path)
    rows[seq] = line  # entry seq is on row seq (row 0 is the manifest)
    write(path, rows)
    return manifest_of(rows)


def entry(path: Path, seq: int) -> dict[str, Any]:
    value = json.loads(rows_of(path)[seq])
    assert isinstance(value, dict)
    return value


@pytest.mark.parametrize("content", [b"", b"\n", b"\xff\xfe\n", b"[1, 2]\n", b"not json\n"])
def test_a_file_without_a_manifest(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "b.jsonl"
    path.write_bytes(content)
    assert verify_bundle(path, KEY) == BundleCheck(False, 0, NOT_A_MANIFEST, None, 1, {})


def test_a_bundle_whose_last_newline_was_lost_still_verifies(bundle: Path) -> None:
    bundle.write_bytes(bundle.read_bytes().rstrip(b"\n"))
    check = verify_bundle(bundle, KEY)
    assert (check.ok, check.entries, check.problem) == (True, 6, None)
    assert check.manifest == manifest_of(rows_of(bundle))


@pytest.mark.parametrize("missing", ["prev_hash", "first_seq"])
def test_a_manifest_without_its_start(bundle: Path, missing: str) -> None:
    manifest = with_manifest(bundle, **{missing: None})
    assert verify_bundle(bundle, KEY) == BundleCheck(
        False, 6, "the manifest lacks first_seq or prev_hash", None, 1, manifest
    )


def test_a_manifest_whose_prev_hash_is_not_text(bundle: Path) -> None:
    manifest = with_manifest(bundle, prev_hash=7)
    assert verify_bundle(bundle, KEY) == BundleCheck(
        False, 6, "the manifest lacks first_seq or prev_hash", None, 1, manifest
    )


def _bad_entry_cases(bundle: Path) -> list[tuple[int, str, str]]:
    e3 = entry(bundle, 3)
    no_reason = {k: v for k, v in entry(bundle, 2).items() if k not in ("reason", "hash")}
    at_number = {**entry(bundle, 5), "at": 5}
    at_garbled = {**entry(bundle, 4), "at": "yesterday"}
    moved = {**e3, "seq": 9}
    relinked = {**entry(bundle, 4), "prev_hash": "a" * 64}
    invalid = "is not a valid entry:"
    return [
        (3, "[1]", f"entry 3 (line 4) {invalid} not a JSON object"),
        (3, "\"text\"", f"entry 3 (line 4) {invalid} not a JSON object"),
        (2, canonical_json(no_reason), f"entry 2 (line 3) {invalid} missing reason, hash"),
        (5, canonical_json(at_number), f"entry 5 (line 6) {invalid} 'at' is not a string"),
        (4, canonical_json(at_garbled), f"entry 4 (line 5) {invalid} "
         "time data 'yesterday' does not match format '%Y-%m-%dT%H:%M:%S.%fZ'"),
        (3, canonical_json(moved), f"entry 3 (line 4): found seq 9 instead {REORDERED}"),
        (4, canonical_json(relinked),
         f"entry 4 (line 5): prev_hash does not match the entry before it {REORDERED}"),
    ]  # fmt: skip


@pytest.mark.parametrize("case", range(7))
def test_a_damaged_entry_is_named_with_its_line(bundle: Path, case: int) -> None:
    seq, line, problem = _bad_entry_cases(bundle)[case]
    manifest = with_entry(bundle, seq, line)
    assert verify_bundle(bundle, KEY) == BundleCheck(False, 6, problem, seq, seq + 1, manifest)


def test_a_first_entry_that_does_not_follow_the_manifest(bundle: Path) -> None:
    manifest = with_manifest(bundle, prev_hash="f" * 64)
    assert verify_bundle(bundle, KEY) == BundleCheck(
        False,
        6,
        "entry 1 (line 2): prev_hash differs from the manifest's prev_hash",
        1,
        2,
        manifest,
    )


def test_a_deleted_last_entry_and_a_stale_count(bundle: Path) -> None:
    rows = rows_of(bundle)
    write(bundle, rows[:-1])
    assert verify_bundle(bundle, KEY) == BundleCheck(
        False, 5, "the manifest lists 6 entries, the file has 5", None, None, manifest_of(rows)
    )


def test_a_manifest_that_misplaces_the_run(bundle: Path) -> None:
    manifest = with_manifest(bundle, last_seq=7)
    assert verify_bundle(bundle, KEY) == BundleCheck(
        False, 6, "the manifest's last_seq does not match the entries", None, 1, manifest
    )


def test_a_manifest_that_ends_elsewhere(bundle: Path) -> None:
    manifest = with_manifest(bundle, last_hash="e" * 64)
    assert verify_bundle(bundle, KEY) == BundleCheck(
        False,
        6,
        "the entries do not end at the manifest's last_hash (entries rewritten)",
        None,
        None,
        manifest,
    )


def test_a_manifest_with_another_digest(bundle: Path) -> None:
    manifest = with_manifest(bundle, entries_sha256=hashlib.sha256(b"x").hexdigest())
    assert verify_bundle(bundle, KEY) == BundleCheck(
        False,
        6,
        "the entry lines do not match the manifest's entries_sha256",
        None,
        None,
        manifest,
    )


def test_a_bundle_checked_with_another_key(bundle: Path) -> None:
    manifest = manifest_of(rows_of(bundle))
    problem = check_document(manifest, OTHER_KEY)
    assert problem is not None
    assert verify_bundle(bundle, OTHER_KEY) == BundleCheck(
        False, 6, f"manifest: {problem}", None, 1, manifest
    )


def test_an_intact_bundle_answers_in_full(bundle: Path) -> None:
    manifest = manifest_of(rows_of(bundle))
    assert verify_bundle(bundle, KEY) == BundleCheck(True, 6, None, None, None, manifest)
    assert (manifest["first_seq"], manifest["last_seq"], manifest["count"]) == (1, 6, 6)
