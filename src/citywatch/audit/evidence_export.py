"""Signed evidence exports of recorded footage, checked offline (issue 17).

An export is a folder, or a zip file of the same members, holding the footage file(s), a
``README.txt`` saying how to check it, and ``manifest.json``::

    {"format": "citywatch-evidence-export/1",
     "camera": {"id": "cam-3", "name": "Market square"},
     "range": {"from": "...Z", "to": "...Z"}, "case_ref": "CASE-2026-17",
     "exported_by": {"name": "j.doe", "role": "investigator"}, "exported_at": "...Z",
     "citywatch_version": "0.1.0",
     "files": [{"path": "recording.mp4", "bytes": 123, "sha256": "..."}, ...],
     "sources": [...what the footage was cut from, e.g. the segments and their SHA-256...],
     "signature": {"alg": "Ed25519" | "HMAC-SHA256", "key_id": "...", "value": "..."}}

The signature is made with the audit key (:mod:`citywatch.audit.keys`) over the canonical JSON
of the manifest without its ``signature``, so it covers every field and every file's SHA-256.
For a court, sign with an **Ed25519** key: whoever holds the published public key checks the
export without any secret.  An HMAC key works too, but its verifier holds the signing secret.

:func:`verify_export` needs nothing but the export and the key: it checks the signature, then
every listed file's size and SHA-256, and refuses files the manifest does not list and
member names that could escape the folder.  It reports every problem it finds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import IO, Any

from citywatch.audit.chain import Actor, iso_utc
from citywatch.audit.keys import SIGNATURE, AuditKey, check_document, sign_document

EXPORT_FORMAT = "citywatch-evidence-export/1"
MANIFEST = "manifest.json"
README = "README.txt"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
_CHUNK = 1 << 20
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_README_TEXT = """\
citywatch evidence export
=========================

manifest.json names the camera, the time range, the case reference, who exported this and
when, and the size and SHA-256 of every file here; it is signed with the audit key of the
citywatch installation that made it (key id in manifest.json: signature.key_id).

To check it, offline:  citywatch recordings verify THIS-FOLDER-OR-ZIP --key-file PUBLIC-KEY.pem
(the Ed25519 public key the installation publishes; or its HMAC secret).  Any changed byte,
missing or added file, changed manifest field or other key makes the check fail.

Without citywatch: sha256sum each file and compare with manifest.json; the signature covers
the manifest without its "signature" member, as JSON with sorted keys, no spaces, UTF-8.
"""


class EvidenceExportError(ValueError):
    """The export could not be written; the message says why (nothing was left behind)."""


def citywatch_version() -> str:
    try:
        return version("citywatch")
    except PackageNotFoundError:  # a source tree that is not installed
        return "unknown"


@dataclass(frozen=True, slots=True)
class ExportFacts:
    """What the manifest says besides the files."""

    camera_id: str
    camera_name: str
    start: dt.datetime
    end: dt.datetime
    case_ref: str
    actor: Actor
    exported_at: dt.datetime
    sources: list[dict[str, Any]] = field(default_factory=list)

    def manifest(self, files: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "format": EXPORT_FORMAT,
            "camera": {"id": self.camera_id, "name": self.camera_name},
            "range": {"from": iso_utc(self.start), "to": iso_utc(self.end)},
            "case_ref": self.case_ref,
            "exported_by": {"name": self.actor.name, "role": self.actor.role},
            "exported_at": iso_utc(self.exported_at),
            "citywatch_version": citywatch_version(),
            "files": files,
            "sources": self.sources,
        }


@dataclass(frozen=True, slots=True)
class ExportResult:
    path: Path
    manifest: dict[str, Any]

    @property
    def files(self) -> list[dict[str, Any]]:
        return list(self.manifest["files"])


def _digest(stream: IO[bytes]) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    while chunk := stream.read(_CHUNK):
        h.update(chunk)
        size += len(chunk)
    return size, h.hexdigest()


def file_sha256(path: Path) -> tuple[int, str]:
    """``(bytes, SHA-256 hex)`` of a file, read in chunks."""
    with path.open("rb") as f:
        return _digest(f)


def _safe_member(name: Any) -> str | None:
    """``name`` when it is a plain relative POSIX path inside the export, else ``None``."""
    if not isinstance(name, str) or not name or "\\" in name or "\x00" in name:
        return None
    p = PurePosixPath(name)
    if p.is_absolute() or any(part in ("", ".", "..") for part in name.split("/")):
        return None
    return str(p)


class ExportBuilder:
    """Writes an export under a staging name beside ``out``, moved into place by
    :meth:`finish`; on any error (or without ``finish``) the staging is removed and ``out``
    never exists half written.  ``out`` ending in ``.zip`` makes a zip file."""

    def __init__(self, out: Path, key: AuditKey) -> None:
        if not key.can_sign:
            raise EvidenceExportError(f"{key.alg} key {key.key_id} cannot sign (a public key?)")
        self.out = Path(out)
        if self.out.exists():
            raise EvidenceExportError(f"{self.out} already exists; choose another --out")
        if not self.out.parent.is_dir():
            raise EvidenceExportError(f"folder {self.out.parent} does not exist")
        self._key = key
        self._files: list[dict[str, Any]] = []
        self._staging: Path | None = None

    def __enter__(self) -> ExportBuilder:
        try:
            self._staging = Path(
                tempfile.mkdtemp(
                    prefix=f".{self.out.name}.", suffix=".partial", dir=self.out.parent
                )
            )
        except OSError as err:
            raise EvidenceExportError(
                f"cannot write in {self.out.parent}: {err.strerror}"
            ) from None
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None

    def path(self, name: str) -> Path:
        """Where to write the member ``name`` (then :meth:`add` it)."""
        safe = _safe_member(name)
        if safe is None or safe in (MANIFEST, README) or self._staging is None:
            raise EvidenceExportError(f"{name!r} cannot be a file of an export")
        target = self._staging / safe
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def add(self, name: str) -> dict[str, Any]:
        """Hash the member ``name`` written at :meth:`path` into the manifest."""
        size, sha = file_sha256(self.path(name))
        entry = {"path": name, "bytes": size, "sha256": sha}
        self._files.append(entry)
        return entry

    def finish(self, facts: ExportFacts) -> ExportResult:
        if self._staging is None:
            raise EvidenceExportError("finish() outside the with block")
        if not self._files:
            raise EvidenceExportError("an export needs at least one file")
        readme = self._staging / README
        readme.write_text(_README_TEXT, encoding="utf-8")
        size, sha = file_sha256(readme)
        files = [*self._files, {"path": README, "bytes": size, "sha256": sha}]
        doc = sign_document(facts.manifest(files), self._key)
        body = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        (self._staging / MANIFEST).write_text(body, encoding="utf-8")
        if self.out.suffix.lower() == ".zip":
            self._zip_into_place()
        else:
            os.replace(self._staging, self.out)
            self._staging = None
        return ExportResult(self.out, doc)

    def _zip_into_place(self) -> None:
        assert self._staging is not None
        tmp = self._staging / ".export.zip"
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:  # video does not compress
            for name in [MANIFEST, README, *(f["path"] for f in self._files)]:
                zf.write(self._staging / name, name)
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, self.out)


# --- verification (offline) -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportCheck:
    ok: bool
    problems: list[str]
    manifest: dict[str, Any]
    files_checked: int


class _Members:
    """The members of a folder or a zip, read the same way."""

    def __init__(self, export: Path) -> None:
        self.export = export
        self._zip: zipfile.ZipFile | None = None
        if export.is_file():
            self._zip = zipfile.ZipFile(export)  # BadZipFile: the caller reports it

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def names(self) -> Iterator[str]:
        if self._zip is not None:
            yield from (i.filename for i in self._zip.infolist() if not i.is_dir())
            return
        for p in sorted(self.export.rglob("*")):
            if p.is_file() or p.is_symlink():
                yield p.relative_to(self.export).as_posix()

    def open(self, name: str) -> IO[bytes] | None:
        if self._zip is not None:
            try:
                return self._zip.open(name)
            except KeyError:
                return None
        p = self.export / name
        if p.is_symlink() or not p.is_file():
            return None
        return p.open("rb")


def _read_manifest(members: _Members) -> tuple[dict[str, Any] | None, str | None]:
    stream = members.open(MANIFEST)
    if stream is None:
        return None, f"{MANIFEST} is missing: this is not a citywatch export, or it was cut"
    with stream:
        raw = stream.read(MAX_MANIFEST_BYTES + 1)
    if len(raw) > MAX_MANIFEST_BYTES:
        return None, f"{MANIFEST} is larger than {MAX_MANIFEST_BYTES} bytes"
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        return None, f"{MANIFEST} is not valid JSON ({err})"
    if not isinstance(doc, dict) or doc.get("format") != EXPORT_FORMAT:
        return None, f"{MANIFEST} is not a {EXPORT_FORMAT} manifest"
    return doc, None


def _listed(doc: Mapping[str, Any], problems: list[str]) -> dict[str, dict[str, Any]]:
    files = doc.get("files")
    if not isinstance(files, list) or not files:
        problems.append(f"{MANIFEST} lists no files")
        return {}
    out: dict[str, dict[str, Any]] = {}
    for n, f in enumerate(files):
        name = _safe_member(f.get("path")) if isinstance(f, dict) else None
        ok = (
            name is not None
            and name != MANIFEST
            and isinstance(f.get("bytes"), int)
            and isinstance(f.get("sha256"), str)
            and _SHA256.match(f["sha256"])
        )
        if not ok or name is None:
            problems.append(f"{MANIFEST}: files[{n}] is not a valid entry (path, bytes, sha256)")
        elif name in out:
            problems.append(f"{MANIFEST}: {name} is listed twice")
        else:
            out[name] = f
    return out


def _check_files(
    members: _Members, listed: Mapping[str, Mapping[str, Any]], problems: list[str]
) -> int:
    checked = 0
    for name, want in listed.items():
        stream = members.open(name)
        if stream is None:
            problems.append(f"{name}: missing (the manifest lists it)")
            continue
        try:
            with stream:
                size, sha = _digest(stream)
        except (zipfile.BadZipFile, OSError, EOFError) as err:  # damaged inside the zip
            problems.append(f"{name}: cannot be read ({err})")
            continue
        checked += 1
        if size != want["bytes"]:
            problems.append(f"{name}: {size} bytes, the manifest says {want['bytes']}")
        elif sha != want["sha256"]:
            problems.append(f"{name}: SHA-256 {sha} differs from the manifest's {want['sha256']}")
    seen: set[str] = set()
    for name in members.names():
        if name in seen:
            problems.append(f"{name}: present twice in the export")
        seen.add(name)
        if name != MANIFEST and name not in listed:
            problems.append(f"{name}: not listed in the signed manifest (added afterwards)")
    return checked


def verify_export(export: Path, key: AuditKey) -> ExportCheck:
    """Check an export folder or zip against ``key``: the manifest's signature, then every
    file.  Never raises for a bad export: the problems say what is wrong."""
    export = Path(export)
    if not export.exists():
        return ExportCheck(False, [f"{export} does not exist"], {}, 0)
    try:
        members = _Members(export)
    except (zipfile.BadZipFile, OSError) as err:
        return ExportCheck(
            False, [f"{export} is neither a folder nor a readable zip ({err})"], {}, 0
        )
    try:
        doc, why = _read_manifest(members)
        if doc is None:
            return ExportCheck(False, [why or "no manifest"], {}, 0)
        problems: list[str] = []
        bad_sig = check_document(doc, key)
        if bad_sig is not None:
            problems.append(f"signature: {bad_sig}")
        listed = _listed(doc, problems)
        checked = _check_files(members, listed, problems)
    except (OSError, zipfile.BadZipFile, EOFError) as err:
        return ExportCheck(False, [f"{export} could not be read: {err}"], {}, 0)
    finally:
        members.close()
    return ExportCheck(not problems, problems, doc, checked)


def describe(doc: Mapping[str, Any]) -> str:
    """One line naming what a manifest is about (for the verdict)."""
    cam = doc.get("camera") or {}
    rng = doc.get("range") or {}
    sig = doc.get(SIGNATURE) or {}
    who = doc.get("exported_by") or {}
    return (
        f"camera {cam.get('id')} ({cam.get('name')}), {rng.get('from')} to {rng.get('to')}, "
        f"case {doc.get('case_ref')!r}, exported by {who.get('name')} at "
        f"{doc.get('exported_at')}, signed {sig.get('alg')} key {sig.get('key_id')}"
    )
