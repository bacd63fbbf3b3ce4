"""export_bundle and the published head, answered exactly: which run a period selects, the
manifest and audit entry it writes, where its temporary file lives, and every refusal word for
word (mutation testing of audit/export.py and audit/head.py left these unchecked)."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy.orm import Session

from citywatch.audit import export as export_mod
from citywatch.audit.chain import GENESIS_HASH, Actor, AuditEntry, append, entries, head
from citywatch.audit.export import ExportError, ExportResult, export_bundle, verify_bundle
from citywatch.audit.head import (
    MAX_HEAD_FILE_BYTES,
    HeadError,
    PublishedHead,
    head_document,
    parse_head,
    read_head,
    write_head,
)
from citywatch.audit.keys import Ed25519Key, HmacKey

ALICE = Actor("alice", "auditor")
KEY = HmacKey(b"k" * 32, "test")
T0 = dt.datetime(2030, 5, 1, 12, 0, tzinfo=dt.UTC)
NOW = dt.datetime(2030, 6, 1, 8, 30, 15, 250000, tzinfo=dt.UTC)


@pytest.fixture
def log(session: Session) -> list[AuditEntry]:
    for i in range(5):
        append(session, Actor("bob", "operator"), "alert.view", f"alert:{i}", details={"i": i})
        session.commit()
    return list(entries(session))


def just_before(t: dt.datetime) -> dt.datetime:
    return t - dt.timedelta(microseconds=1)


def just_after(t: dt.datetime) -> dt.datetime:
    return t + dt.timedelta(microseconds=1)


def manifest(path: Path) -> dict[str, Any]:
    value = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert isinstance(value, dict)
    return value


def last_entry(session: Session) -> AuditEntry:
    return list(entries(session))[-1]


def test_a_run_from_the_second_entry_links_to_the_first(
    session: Session, log: list[AuditEntry], tmp_path: Path
) -> None:
    out = tmp_path / "run.jsonl"
    since, until = log[1].at, just_after(log[3].at)
    chain_head = head(session)
    result = export_bundle(session, ALICE, KEY, out, since=since, until=until, now=NOW)
    assert result == ExportResult(
        out, 3, 2, 4, log[0].hash, log[3].hash, chain_head, KEY.alg, KEY.key_id
    )
    m = manifest(out)
    assert (m["first_seq"], m["last_seq"], m["count"]) == (2, 4, 3)
    assert m["prev_hash"] == log[0].hash != GENESIS_HASH
    assert m["from"] == since.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert m["to"] == until.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert (m["exported_at"], m["exported_by"]) == ("2030-06-01T08:30:15.250000Z", "alice")
    assert verify_bundle(out, KEY).ok
    audit = last_entry(session)
    assert (audit.action, audit.target, audit.actor) == ("audit.export", "audit:2-4", "alice")
    assert audit.details == {
        "from": since.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "to": until.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "count": 3,
        "alg": KEY.alg,
        "key_id": KEY.key_id,
        "file": "run.jsonl",
    }


def test_a_period_holding_one_entry_exports_it(
    session: Session, log: list[AuditEntry], tmp_path: Path
) -> None:
    out = tmp_path / "one.jsonl"
    result = export_bundle(session, ALICE, KEY, out, since=log[2].at, until=just_after(log[2].at))
    assert (result.count, result.first_seq, result.last_seq) == (1, 3, 3)
    assert (result.prev_hash, result.last_hash) == (log[1].hash, log[2].hash)
    assert last_entry(session).target == "audit:3-3"


def test_a_period_before_the_first_entry_is_empty_at_the_genesis(
    session: Session, log: list[AuditEntry], tmp_path: Path
) -> None:
    out = tmp_path / "before.jsonl"
    since = log[0].at - dt.timedelta(days=1)
    result = export_bundle(session, ALICE, KEY, out, since=since, until=just_before(log[0].at))
    assert (result.count, result.first_seq, result.last_seq) == (0, None, None)
    assert result.prev_hash == result.last_hash == GENESIS_HASH
    assert last_entry(session).target == "audit:0-0"
    assert last_entry(session).details["count"] == 0
    assert verify_bundle(out, KEY).ok


def test_an_empty_period_after_the_log_ends_at_its_last_hash(
    session: Session, log: list[AuditEntry], tmp_path: Path
) -> None:
    later = just_after(log[-1].at)
    result = export_bundle(
        session, ALICE, KEY, tmp_path / "x.jsonl", since=later, until=later + dt.timedelta(1)
    )
    assert result.prev_hash == result.last_hash == log[-1].hash


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        (T0, T0, "audit export: --to must be after --from"),
        (T0, T0 - dt.timedelta(seconds=1), "audit export: --to must be after --from"),
        (T0.replace(tzinfo=None), T0, "audit export: since must be a timezone-aware time"),
        (T0, T0.replace(tzinfo=None), "audit export: until must be a timezone-aware time"),
    ],
)
def test_bad_periods_are_refused_whole(
    session: Session, tmp_path: Path, since: dt.datetime, until: dt.datetime, message: str
) -> None:
    with pytest.raises(ExportError) as err:
        export_bundle(session, ALICE, KEY, tmp_path / "out" / "x", since=since, until=until)
    assert str(err.value) == message
    assert not (tmp_path / "out").exists()


def test_a_key_that_cannot_sign_is_refused_by_name(session: Session, tmp_path: Path) -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public = Ed25519Key(pem, "test")
    with pytest.raises(ExportError) as err:
        export_bundle(session, ALICE, public, tmp_path / "x", since=T0, until=NOW)
    assert str(err.value) == f"audit export: the Ed25519 key {public.key_id} cannot sign"


def test_the_bundle_is_written_beside_its_place_and_renamed_into_it(
    session: Session, log: list[AuditEntry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Atomic on the same file system: a hidden temporary in the target folder, then rename."""
    out = tmp_path / "deep" / "er" / "audit.jsonl"  # folders made as needed
    moves: list[tuple[Path, Path]] = []
    real_replace = os.replace

    def spy(src: Any, dst: Any) -> None:
        # os.replace is the os module's, shared by every thread: a thread another test left
        # running (a health file being written) must not count as a move of the bundle
        if Path(dst).parent == out.parent:
            moves.append((Path(src), Path(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(export_mod.os, "replace", spy)
    export_bundle(session, ALICE, KEY, out, since=log[0].at, until=NOW)
    [(src, dst)] = moves
    assert dst == out and src.parent == out.parent
    assert src.name.startswith(".audit.jsonl.") and src.name.endswith(".tmp")
    assert sorted(p.name for p in out.parent.iterdir()) == ["audit.jsonl"]


# ------------------------------------------------------------------------ published head


def test_the_head_document_names_the_last_entry_and_its_time(
    session: Session, log: list[AuditEntry], tmp_path: Path
) -> None:
    doc = head_document(session, KEY, now=NOW)
    assert {k: doc[k] for k in ("format", "seq", "hash", "entry_at", "published_at")} == {
        "format": "citywatch-audit-head/1",
        "seq": 5,
        "hash": log[4].hash,
        "entry_at": log[4].at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "published_at": "2030-06-01T08:30:15.250000Z",
    }
    path = tmp_path / "head.json"
    write_head(doc, path)
    assert read_head(path, KEY) == PublishedHead(
        5, log[4].hash, "2030-06-01T08:30:15.250000Z", KEY.alg, KEY.key_id
    )


def test_the_head_of_an_empty_log_has_no_entry_time(session: Session) -> None:
    doc = head_document(session, KEY, now=NOW)
    assert (doc["seq"], doc["hash"], doc["entry_at"]) == (0, GENESIS_HASH, None)


def test_a_head_without_a_publication_time_reads_as_empty(session: Session) -> None:
    from citywatch.audit.keys import sign_document

    doc = sign_document({"format": "citywatch-audit-head/1", "seq": 0, "hash": GENESIS_HASH}, KEY)
    assert parse_head(json.dumps(doc), KEY).published_at == ""


@pytest.mark.parametrize(
    "digest",
    ["A" * 64, "g" * 64, "X" * 64, "0" * 63, "0" * 65, "", "0" * 63 + " "],
)
def test_a_head_whose_hash_is_not_64_lowercase_hex_digits(digest: str) -> None:
    text = json.dumps({"format": "citywatch-audit-head/1", "seq": 1, "hash": digest})
    with pytest.raises(HeadError) as err:
        parse_head(text, KEY, "h.json")
    assert str(err.value) == "h.json: seq must be a whole number and hash 64 hex digits"


def test_a_head_text_without_a_source_is_called_head() -> None:
    with pytest.raises(HeadError) as err:
        parse_head("[]", KEY)
    assert str(err.value) == "head: not a citywatch-audit-head/1 document"


def test_head_files_too_large_unreadable_or_not_utf8(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (MAX_HEAD_FILE_BYTES + 1))
    with pytest.raises(HeadError) as err:
        read_head(big, KEY)
    assert str(err.value) == f"head file {str(big)!r} is too large to be a head document"

    limit = tmp_path / "limit.json"  # exactly at the limit: read, then judged on its content
    limit.write_bytes(b" " * MAX_HEAD_FILE_BYTES)
    with pytest.raises(HeadError) as err:
        read_head(limit, KEY)
    assert str(err.value).startswith(f"head file {str(limit)!r}: not JSON (")

    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"format": "\xe9"}')
    with pytest.raises(HeadError) as err:
        read_head(latin, KEY)
    assert str(err.value) == f"head file {str(latin)!r} cannot be read: not UTF-8"

    missing = tmp_path / "missing.json"
    with pytest.raises(HeadError) as err:
        read_head(missing, KEY)
    assert str(err.value) == f"head file {str(missing)!r} cannot be read: No such file or directory"


def test_a_bad_head_file_is_named_in_the_refusal(
    session: Session, log: list[AuditEntry], tmp_path: Path
) -> None:
    doc = head_document(session, KEY, now=NOW)
    path = tmp_path / "h.json"
    path.write_text(json.dumps({**doc, "seq": 4}), encoding="utf-8")  # edited after signing
    with pytest.raises(HeadError) as err:
        read_head(path, KEY)
    assert str(err.value).startswith(f"head file {str(path)!r}: ")
