"""Evidence files that no row points at: found and removed by the retention sweep.

The event recorder stages a snapshot before its row's transaction and renames it into place
after the commit (:mod:`citywatch.services.evidence`), so a transaction that fails leaves
nothing.  A process killed in between (for instance while the database was locked by another
connection) leaves a staged ``.pending`` file, and versions before the staging wrote the
snapshot before the row: :func:`sweep_orphan_files` removes such files once they are older than
a grace period, and moves a staged file whose row did commit into place.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from citywatch.store.media import MediaError, MediaStore, StagedFile, StoredFile
from citywatch.store.models import AlertRow, PlateReadRow, SubjectEmbeddingRow

log = logging.getLogger(__name__)


#: The media folders the event recorder writes evidence into (watchlist photos are not swept:
#: they go with their subject).
EVIDENCE_KINDS = ("face", "plate", "clip")
#: A file younger than this is never an orphan: its row may still be committing.
ORPHAN_GRACE = dt.timedelta(hours=1)


@dataclass(slots=True)
class OrphanReport:
    """What :func:`sweep_orphan_files` found under the evidence folders."""

    scanned: int = 0  # files looked at
    young: int = 0  # within the grace period: not judged
    deleted: int = 0  # orphans removed (or, in a dry run, that would be)
    restored: int = 0  # staged files of committed rows moved into place
    failed: int = 0  # could not be removed or moved (logged)

    def as_details(self) -> dict[str, int]:
        return {
            "scanned": self.scanned,
            "young": self.young,
            "deleted": self.deleted,
            "restored": self.restored,
            "failed": self.failed,
        }


def sweep_orphan_files(
    sessions: sessionmaker[Session],
    media: MediaStore,
    *,
    now: dt.datetime,
    grace: dt.timedelta = ORPHAN_GRACE,
    dry_run: bool = False,
    batch_size: int = 500,
) -> OrphanReport:
    """Remove evidence files no alert, plate read or watchlist photo points at and that were
    last written before ``now - grace``; move a staged snapshot whose row committed into
    place.  Logged with its counts; a file that cannot be removed is counted and logged."""
    report = OrphanReport()
    cutoff = now.timestamp() - grace.total_seconds()
    batch: list[StoredFile] = []
    for kind in EVIDENCE_KINDS:
        for found in media.files(kind):
            report.scanned += 1
            if found.mtime > cutoff:
                report.young += 1
                continue
            batch.append(found)
            if len(batch) >= batch_size:
                _settle_orphans(sessions, media, batch, report, dry_run)
                batch = []
    if batch:
        _settle_orphans(sessions, media, batch, report, dry_run)
    log.info(
        "retention: orphan evidence files%s: %d scanned, %d deleted, %d restored, %d failed, "
        "%d within the %s grace period",
        " (dry run)" if dry_run else "",
        report.scanned,
        report.deleted,
        report.restored,
        report.failed,
        report.young,
        grace,
    )
    return report


def _referenced_paths(session: Session, paths: Sequence[str]) -> set[str]:
    out: set[str] = set()
    for col in (
        AlertRow.snapshot_path,
        AlertRow.clip_path,
        PlateReadRow.snapshot_path,
        SubjectEmbeddingRow.photo_path,
    ):
        out.update(str(p) for p in session.scalars(select(col).where(col.in_(paths))))
    return out


def _settle_orphans(
    sessions: sessionmaker[Session],
    media: MediaStore,
    batch: Sequence[StoredFile],
    report: OrphanReport,
    dry_run: bool,
) -> None:
    wanted = sorted({f.rel for f in batch} | {f.pending_for for f in batch if f.pending_for})
    with sessions() as session:
        referenced = _referenced_paths(session, wanted)
    for f in batch:
        if f.pending_for is None and not f.temporary and f.rel in referenced:
            continue
        try:
            if (
                f.pending_for is not None
                and f.pending_for in referenced
                and not media.path(f.pending_for).exists()
            ):
                if not dry_run:
                    media.publish(StagedFile(f.pending_for, media.path(f.rel)))
                report.restored += 1
                continue
            if not dry_run:
                media.delete(f.rel)
            report.deleted += 1
        except (MediaError, OSError) as err:
            report.failed += 1
            log.warning("retention: orphan evidence file %s not removed (%s)", f.rel, err)
