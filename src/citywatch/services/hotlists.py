"""Plate hotlists: plates are normalised (upper case, no separators); imports are all or nothing.

A bad line in an import refuses the whole import with every bad line named by its number, so
nothing is dropped silently.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citywatch.audit.chain import Actor, append
from citywatch.decisions.vehicle_check import (
    COLOUR_ALIASES,
    KIND_ALIASES,
    canonical_colour,
    canonical_kind,
    vehicle_words,
)
from citywatch.services.common import (
    NotFoundError,
    ServiceError,
    require_text,
    unit_of_work,
)
from citywatch.services.names import clean_name, name_key
from citywatch.store.models import HotlistEntryRow, HotlistRow

PLATE_MIN, PLATE_MAX = 2, 12
MAX_IMPORT_LINES = 1_000_000


class HotlistImportError(ServiceError):
    """Some lines of an import were bad; ``errors`` names each by its line number."""

    def __init__(self, source: str, errors: list[str]) -> None:
        shown = errors[:20]
        more = f" (and {len(errors) - 20} more)" if len(errors) > 20 else ""
        super().__init__(
            f"{source}: {len(errors)} bad line(s), nothing imported: " + "; ".join(shown) + more
        )
        self.errors = errors


@dataclass(frozen=True, slots=True)
class HotlistSummary:
    id: int
    name: str
    reason: str
    entries: int
    created_at: dt.datetime


def normalise_plate(raw: str) -> str:
    """Upper case, separators and spaces removed (``"ab-12 cd"`` -> ``"AB12CD"``).

    Letters of any alphabet are kept (``Š``, ``Đ``); an empty result means no plate.
    """
    text = unicodedata.normalize("NFKC", raw).upper()
    return "".join(ch for ch in text if ch.isalnum())


def _checked_plate(raw: str, where: str) -> str:
    plate = normalise_plate(raw)
    if not PLATE_MIN <= len(plate) <= PLATE_MAX:
        raise ServiceError(
            f"{where}: {raw.strip()!r} is not a plate "
            f"({PLATE_MIN} to {PLATE_MAX} letters or digits after removing separators)"
        )
    return plate


def checked_vehicle(kind: str | None, colour: str | None, where: str) -> tuple[str, str]:
    """The hotlist's expected vehicle as stored: a known kind and colour (aliases such as
    ``van`` or ``silver`` named as the detector names them), ``""`` for each not given."""
    k, c = canonical_kind(kind), canonical_colour(colour)
    if k is None:
        raise ServiceError(
            f"{where}: vehicle type {kind!r} is not one of {', '.join(sorted(KIND_ALIASES))}"
        )
    if c is None:
        raise ServiceError(
            f"{where}: vehicle colour {colour!r} is not one of {', '.join(sorted(COLOUR_ALIASES))}"
        )
    return k, c


def hotlist_named(session: Session, name: str) -> HotlistRow | None:
    """The hotlist called ``name``, compared apart from case (``Stolen`` is ``stolen``)."""
    row = session.scalar(select(HotlistRow).where(HotlistRow.name == name))
    if row is not None:
        return row
    key = name_key(name)
    return next((r for r in session.scalars(select(HotlistRow)) if name_key(r.name) == key), None)


def _get_or_create_hotlist(session: Session, actor: Actor, name: str, reason: str) -> HotlistRow:
    row = hotlist_named(session, name)
    if row is None:
        row = HotlistRow(name=name, reason=reason)
        session.add(row)
        session.flush()
        append(session, actor, "hotlist.create", f"hotlist:{name}", reason=reason)
    return row


def create_hotlist(session: Session, actor: Actor, name: str, reason: str) -> HotlistRow:
    hl = clean_name(name, "hotlist name")
    why = require_text(reason, f"hotlist {hl!r}: a reason")
    with unit_of_work(session):
        taken = hotlist_named(session, hl)
        if taken is not None:
            same = "" if taken.name == hl else f" (as {taken.name!r})"
            raise ServiceError(f"hotlist {hl!r} already exists{same}")
        return _get_or_create_hotlist(session, actor, hl, why)


def add_plate(
    session: Session,
    actor: Actor,
    hotlist_name: str,
    plate: str,
    reason: str,
    *,
    vehicle_kind: str | None = None,
    vehicle_colour: str | None = None,
) -> HotlistEntryRow:
    """Add one plate (the hotlist is created when missing); an existing entry is returned.
    ``vehicle_kind``/``vehicle_colour``: the vehicle the plate belongs on, when known (a plate
    alert compares it with the vehicle seen)."""
    hl = clean_name(hotlist_name, "hotlist name")
    why = require_text(reason, f"adding a plate to {hl!r}: a reason")
    norm = _checked_plate(plate, f"hotlist {hl!r}")
    kind, colour = checked_vehicle(vehicle_kind, vehicle_colour, f"hotlist {hl!r} plate {norm}")
    with unit_of_work(session):
        row = _get_or_create_hotlist(session, actor, hl, why)
        hl = row.name
        entry = session.scalar(
            select(HotlistEntryRow).where(
                HotlistEntryRow.hotlist_id == row.id, HotlistEntryRow.plate == norm
            )
        )
        if entry is not None:
            return entry
        entry = HotlistEntryRow(
            hotlist_id=row.id,
            plate=norm,
            raw=plate.strip()[:100],
            reason=why,
            vehicle_kind=kind or None,
            vehicle_colour=colour or None,
        )
        session.add(entry)
        session.flush()
        details: dict[str, str] = {"plate": norm}
        if kind or colour:
            details["vehicle"] = vehicle_words(kind, colour)
        append(session, actor, "hotlist.add", f"hotlist:{hl}", details=details, reason=why)
    return entry


@dataclass(frozen=True, slots=True)
class _Line:
    plate: str
    raw: str
    reason: str
    kind: str  # "" when the line names no vehicle
    colour: str


def _parse_lines(lines: Iterable[str], source: str, default_reason: str) -> list[_Line]:
    """One :class:`_Line` per good ``plate[,reason[,vehicle type[,colour]]]`` line; raises
    with every bad line's number."""
    out: list[_Line] = []
    errors: list[str] = []
    for number, line in enumerate(lines, start=1):
        if number > MAX_IMPORT_LINES:
            errors.append(f"line {number}: more than {MAX_IMPORT_LINES} lines")
            break
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            fields = next(csv.reader(io.StringIO(text)))
        except (csv.Error, StopIteration) as err:
            errors.append(f"line {number}: not valid CSV ({err})")
            continue
        raw = fields[0].strip() if fields else ""
        if number == 1 and raw.lower() == "plate":
            continue  # header
        if len(fields) > 4:
            errors.append(
                f"line {number}: {len(fields)} fields, expected plate[,reason[,type[,colour]]]"
            )
            continue
        fields += [""] * (4 - len(fields))
        reason = fields[1].strip() or default_reason
        try:
            plate = _checked_plate(raw, f"line {number}")
            kind, colour = checked_vehicle(fields[2], fields[3], f"line {number}")
        except ServiceError as err:
            errors.append(str(err))
            continue
        if not reason:
            errors.append(f"line {number}: no reason given (and no default reason)")
            continue
        out.append(_Line(plate, raw, reason, kind, colour))
    if errors:
        raise HotlistImportError(source, errors)
    return out


def import_plates(
    session: Session,
    actor: Actor,
    hotlist_name: str,
    source: Path | Iterable[str],
    *,
    reason: str = "",
) -> int:
    """Import ``plate[,reason[,vehicle type[,colour]]]`` lines (a CSV file or lines); returns
    the plates added.

    Blank lines and ``#`` comments are skipped, a ``plate`` header is allowed, plates already
    on the hotlist are skipped.  Any bad line refuses the whole import
    (:class:`HotlistImportError` lists each line number).
    """
    hl = clean_name(hotlist_name, "hotlist name")
    if isinstance(source, Path):
        label = source.name
        try:
            with source.open(encoding="utf-8-sig", newline="") as fh:
                parsed = _parse_lines(fh, label, reason.strip())
        except OSError as err:
            raise ServiceError(f"{label}: cannot read ({err.strerror})") from None
        except UnicodeDecodeError:
            raise ServiceError(f"{label}: not UTF-8 text") from None
    else:
        label = "<lines>"
        parsed = _parse_lines(source, label, reason.strip())
    with unit_of_work(session):
        row = _get_or_create_hotlist(session, actor, hl, reason.strip() or f"import {label}")
        hl = row.name
        existing = set(
            session.scalars(
                select(HotlistEntryRow.plate).where(HotlistEntryRow.hotlist_id == row.id)
            )
        )
        added = 0
        for line in parsed:
            if line.plate in existing:
                continue
            existing.add(line.plate)
            session.add(
                HotlistEntryRow(
                    hotlist_id=row.id,
                    plate=line.plate,
                    raw=line.raw[:100],
                    reason=line.reason,
                    vehicle_kind=line.kind or None,
                    vehicle_colour=line.colour or None,
                )
            )
            added += 1
        session.flush()
        append(
            session,
            actor,
            "hotlist.import",
            f"hotlist:{hl}",
            details={"source": label, "lines": len(parsed), "added": added},
            reason=reason.strip() or None,
        )
    return added


def remove_plate(
    session: Session, actor: Actor, hotlist_name: str, plate: str, reason: str
) -> None:
    why = require_text(reason, f"removing a plate from {hotlist_name!r}: a reason")
    norm = normalise_plate(plate)
    with unit_of_work(session):
        hl = hotlist_named(session, hotlist_name)
        hotlist_name = hl.name if hl is not None else hotlist_name
        entry = session.scalar(
            select(HotlistEntryRow).where(
                HotlistEntryRow.hotlist_id == (hl.id if hl is not None else -1),
                HotlistEntryRow.plate == norm,
            )
        )
        if entry is None:
            raise NotFoundError(f"hotlist {hotlist_name!r} has no plate {norm!r}")
        session.delete(entry)
        append(
            session,
            actor,
            "hotlist.remove",
            f"hotlist:{hotlist_name}",
            details={"plate": norm},
            reason=why,
        )


def list_hotlists(session: Session) -> list[HotlistSummary]:
    """Hotlists with entry counts (no plates: not audited)."""
    counts = (
        select(HotlistEntryRow.hotlist_id, func.count().label("n"))
        .group_by(HotlistEntryRow.hotlist_id)
        .subquery()
    )
    rows = session.execute(
        select(HotlistRow, counts.c.n)
        .outerjoin(counts, counts.c.hotlist_id == HotlistRow.id)
        .order_by(HotlistRow.name)
    )
    return [
        HotlistSummary(
            id=h.id, name=h.name, reason=h.reason, entries=int(n or 0), created_at=h.created_at
        )
        for h, n in rows
    ]


def list_plates(
    session: Session, actor: Actor, hotlist_name: str, reason: str | None = None
) -> list[HotlistEntryRow]:
    """The plates of one hotlist, for a person to read or a scan under a case (audited, with
    the case as the reason)."""
    with unit_of_work(session):
        row = hotlist_named(session, hotlist_name)
        if row is None:
            raise NotFoundError(f"hotlist {hotlist_name!r} does not exist")
        hotlist_name = row.name
        entries = list(
            session.scalars(
                select(HotlistEntryRow)
                .where(HotlistEntryRow.hotlist_id == row.id)
                .order_by(HotlistEntryRow.plate)
            )
        )
        append(
            session,
            actor,
            "hotlist.view",
            f"hotlist:{hotlist_name}",
            details={"count": len(entries)},
            reason=reason,
        )
    return entries


def hotlist_entries(session: Session) -> list[tuple[int, int, str]]:
    """``(entry_id, hotlist_id, plate)`` of every entry: what the matcher of a worker loads."""
    rows = session.execute(
        select(HotlistEntryRow.id, HotlistEntryRow.hotlist_id, HotlistEntryRow.plate).order_by(
            HotlistEntryRow.id
        )
    )
    return [(int(i), int(h), str(p)) for i, h, p in rows]
