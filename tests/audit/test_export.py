"""Signed export bundles: a round trip verifies; any change to the file is caught, naming the
entry where it can be named."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from citywatch.audit.chain import Actor, append, canonical_json, entries, entry_hash, head, verify
from citywatch.audit.export import ExportError, export_bundle, verify_bundle
from citywatch.audit.keys import HmacKey

ALICE = Actor("alice", "auditor")
KEY = HmacKey(b"k" * 32, "test")
OTHER_KEY = HmacKey(b"o" * 32, "test")
EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATER = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def fill(session: Session, n: int = 6) -> None:
    for i in range(n):
        append(
            session,
            Actor("bob", "operator"),
            "alert.view",
            f"alert:{i}",
            details={"i": i, "name": "Žana Ćirić", "ratio": 0.1 * i},
            reason=f"case-{i}" if i % 2 else None,
        )
        session.commit()


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def write_lines(path: Path, rows: list[str]) -> None:
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def test_round_trip_of_the_whole_log(session: Session, tmp_path: Path) -> None:
    fill(session)
    out = tmp_path / "b" / "audit.jsonl"
    result = export_bundle(session, ALICE, KEY, out, since=EPOCH, until=LATER)
    assert (result.count, result.first_seq, result.last_seq) == (6, 1, 6)
    check = verify_bundle(out, KEY)
    assert check.ok, check.problem
    assert check.entries == 6
    manifest = check.manifest
    assert manifest["prev_hash"] == "0" * 64
    assert manifest["chain_head"] == {"seq": 6, "hash": result.last_hash}
    assert manifest["signature"]["alg"] == "HMAC-SHA256"
    assert "Žana" in out.read_text(encoding="utf-8")  # UTF-8 kept, as hashed
    # the export itself is audited, after the exported run
    last = list(entries(session))[-1]
    assert last.action == "audit.export" and last.actor == "alice"
    assert last.details["count"] == 6 and last.details["key_id"] == KEY.key_id
    assert verify(session).ok
    assert [p.name for p in out.parent.iterdir()] == ["audit.jsonl"]  # no temporary left


def test_a_period_exports_the_contiguous_run_and_its_previous_hash(
    session: Session, tmp_path: Path
) -> None:
    fill(session)
    es = list(entries(session))
    since, until = es[2].at, es[4].at
    want = [e for e in es if e.seq >= min(x.seq for x in es if x.at >= since)]
    want = [e for e in want if e.seq <= max(x.seq for x in es if x.at < until)]
    out = tmp_path / "part.jsonl"
    result = export_bundle(session, ALICE, KEY, out, since=since, until=until)
    assert result.count == len(want) >= 1
    assert result.prev_hash == es[want[0].seq - 2].hash
    check = verify_bundle(out, KEY)
    assert check.ok, check.problem
    assert [json.loads(x)["seq"] for x in lines(out)[1:]] == [e.seq for e in want]


def test_an_empty_period_gives_a_verifiable_empty_bundle(session: Session, tmp_path: Path) -> None:
    fill(session, 2)
    before = head(session)
    out = tmp_path / "empty.jsonl"
    result = export_bundle(session, ALICE, KEY, out, since=LATER, until=LATER + dt.timedelta(1))
    assert result.count == 0 and result.first_seq is None
    assert result.prev_hash == result.last_hash == before[1]
    check = verify_bundle(out, KEY)
    assert check.ok and check.entries == 0


def test_export_refuses_bad_periods(session: Session, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="after"):
        export_bundle(session, ALICE, KEY, tmp_path / "x", since=LATER, until=EPOCH)
    with pytest.raises(ExportError, match="timezone-aware"):
        export_bundle(
            session, ALICE, KEY, tmp_path / "x", since=dt.datetime(2000, 1, 1), until=LATER
        )
    assert not (tmp_path / "x").exists()


def _edit_entry(path: Path, seq: int, **changes: object) -> None:
    rows = lines(path)
    for i, raw in enumerate(rows[1:], start=1):
        e = json.loads(raw)
        if e["seq"] == seq:
            e.update(changes)
            rows[i] = canonical_json(e)
    write_lines(path, rows)


@pytest.fixture
def bundle(session: Session, tmp_path: Path) -> Path:
    fill(session)
    out = tmp_path / "audit.jsonl"
    export_bundle(session, ALICE, KEY, out, since=EPOCH, until=LATER)
    assert verify_bundle(out, KEY).ok
    return out


@pytest.mark.parametrize(
    ("change", "seq", "says"),
    [
        ({"target": "alert:99"}, 4, "entry 4 (line 5): contents do not match its hash"),
        ({"reason": None}, 2, "entry 2 (line 3): contents do not match its hash"),
        ({"details": {"i": 0}}, 1, "entry 1 (line 2): contents do not match"),
        ({"at": "2001-01-01T00:00:00.000000Z"}, 6, "entry 6 (line 7): contents"),
        ({"actor": "mallory"}, 3, "entry 3 (line 4)"),
    ],
)
def test_an_edited_entry_is_named(
    bundle: Path, change: dict[str, object], seq: int, says: str
) -> None:
    _edit_entry(bundle, seq, **change)
    check = verify_bundle(bundle, KEY)
    assert not check.ok and check.broken_seq == seq
    assert check.problem is not None and says in check.problem


def test_a_deleted_or_reordered_entry_is_named(bundle: Path) -> None:
    rows = lines(bundle)
    write_lines(bundle, rows[:3] + rows[4:])  # drop seq 3
    check = verify_bundle(bundle, KEY)
    assert not check.ok and check.broken_seq == 3 and "found seq 4" in (check.problem or "")
    write_lines(bundle, [rows[0], rows[1], rows[3], rows[2], *rows[4:]])  # swap 2 and 3
    check = verify_bundle(bundle, KEY)
    assert not check.ok and check.broken_seq == 2


def test_a_consistently_rewritten_chain_fails_on_the_signed_manifest(bundle: Path) -> None:
    """Edit entry 3 and recompute every hash after it: the links hold, the manifest does not."""
    rows = lines(bundle)
    prev = json.loads(rows[1])["prev_hash"]
    out = [rows[0]]
    for raw in rows[1:]:
        e = json.loads(raw)
        if e["seq"] == 3:
            e["target"] = "alert:forged"
        e["prev_hash"] = prev
        at = dt.datetime.strptime(e["at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
        e["hash"] = entry_hash(
            prev,
            **{k: e[k] for k in ("seq", "actor", "role", "action", "target", "details", "reason")},
            at=at,
        )
        prev = e["hash"]
        out.append(canonical_json(e))
    write_lines(bundle, out)
    check = verify_bundle(bundle, KEY)
    assert not check.ok and "last_hash" in (check.problem or "")
    # ... fixing the manifest's last_hash leaves the digest of the lines
    manifest = json.loads(out[0])
    manifest["last_hash"] = prev
    write_lines(bundle, [canonical_json(manifest), *out[1:]])
    check = verify_bundle(bundle, KEY)
    assert not check.ok and "entries_sha256" in (check.problem or "")
    # ... and fixing the digest as well leaves the signature, which only the key can make
    body = "".join(x + "\n" for x in out[1:]).encode("utf-8")
    manifest["entries_sha256"] = hashlib.sha256(body).hexdigest()
    write_lines(bundle, [canonical_json(manifest), *out[1:]])
    check = verify_bundle(bundle, KEY)
    assert not check.ok and "signature does not verify" in (check.problem or "")


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("to", "2200-01-01T00:00:00.000000Z", "signature does not verify"),
        ("chain_head", {"seq": 1, "hash": "0" * 64}, "signature does not verify"),
        ("count", 5, "lists 5 entries"),
        ("prev_hash", "f" * 64, "manifest's prev_hash"),
        ("format", "other/1", "not a citywatch-audit-bundle/1 manifest"),
        ("signature", None, "no signature"),
    ],
)
def test_a_changed_manifest_fails(bundle: Path, field: str, value: object, says: str) -> None:
    rows = lines(bundle)
    manifest = json.loads(rows[0])
    manifest[field] = value
    write_lines(bundle, [canonical_json(manifest), *rows[1:]])
    check = verify_bundle(bundle, KEY)
    assert not check.ok and says in (check.problem or "")


def test_the_wrong_key_or_junk_fails(bundle: Path, tmp_path: Path) -> None:
    check = verify_bundle(bundle, OTHER_KEY)
    assert not check.ok and "signed by key" in (check.problem or "")
    with bundle.open("a", encoding="utf-8") as fh:
        fh.write("not json\n")
    check = verify_bundle(bundle, KEY)
    assert not check.ok and check.broken_seq == 7 and "not a valid entry" in (check.problem or "")
    assert "cannot be read" in (verify_bundle(tmp_path / "missing", KEY).problem or "")
