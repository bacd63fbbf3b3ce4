"""The retention sweeper: delete what is past its period, rows and files, and say so.

:class:`RetentionSweeper` finds the candidates of each data class in SQL (by their cutoff),
asks the pure :func:`~citywatch.policy.retention.retention_decision` about each, and deletes
the rows in batches: one transaction per batch, with an audit entry that gives the data class,
the count and the cutoff (never a plate, a name or an id).  Snapshot files are deleted after
the commit (a rolled-back batch must not lose them), and only when no surviving row still
points at them (a plate alert and its read share one snapshot).  A dry run deletes nothing
and reports what a run would delete.

Each sweep also runs :func:`~citywatch.services.orphans.sweep_orphan_files`: evidence files
that no row points at and older than a grace period go (snapshots staged for a transaction
that never committed, or written before their row by older versions); a staged file whose
row did commit is moved into place instead.

:class:`RetentionScheduler` runs the sweeper (and any other periodic job, such as the
authorisation lifecycle sweep) in a background thread every ``interval``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, func, or_, select, tuple_
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from citywatch.audit.chain import Actor, append
from citywatch.config.retention import RetentionConfig
from citywatch.policy.retention import (
    DataClass,
    RecordFacts,
    RetentionRules,
    delete_before,
    retention_decision,
)
from citywatch.services.common import unit_of_work
from citywatch.services.orphans import OrphanReport, sweep_orphan_files
from citywatch.sources.redact import redact_text
from citywatch.store.db import redact_url
from citywatch.store.media import MediaError, MediaStore
from citywatch.store.models import AlertRow, FaceCountRow, PlateReadRow
from citywatch.store.types import utcnow

log = logging.getLogger(__name__)

SYSTEM_ACTOR = Actor.system("retention")
#: Data classes whose rows point at snapshot files, and their tables.
_FILE_TABLES = {DataClass.ALERT.value: "alerts", DataClass.PLATE_READ.value: "plate_reads"}


@dataclass(slots=True)
class ClassReport:
    """One data class in a sweep."""

    data_class: DataClass
    rule: str  # the rule applied, in words
    due: int = 0  # rows past their period that the policy deletes (or would)
    held: int = 0  # rows past their period kept on evidence hold
    deleted: int = 0  # rows actually deleted (0 in a dry run)


@dataclass(slots=True)
class SweepReport:
    """What a sweep deleted (or, in a dry run, would delete)."""

    at: dt.datetime
    dry_run: bool
    classes: list[ClassReport] = field(default_factory=list)
    files_due: int = 0  # snapshot files no surviving row needs
    files_deleted: int = 0
    files_missing: int = 0  # already gone
    files_failed: int = 0  # could not be deleted (logged)
    orphans: OrphanReport | None = None  # evidence files no row points at

    def of(self, data_class: DataClass) -> ClassReport:
        for c in self.classes:
            if c.data_class is data_class:
                return c
        raise KeyError(data_class)

    def as_details(self) -> dict[str, Any]:
        """Counts only: what goes into the audit log."""
        return {
            "dry_run": self.dry_run,
            "classes": {
                c.data_class.value: {"due": c.due, "held": c.held, "deleted": c.deleted}
                for c in self.classes
            },
            "files": {
                "due": self.files_due,
                "deleted": self.files_deleted,
                "missing": self.files_missing,
                "failed": self.files_failed,
            },
            **({"orphans": self.orphans.as_details()} if self.orphans is not None else {}),
        }


@dataclass(frozen=True, slots=True)
class _Candidate:
    key: Any  # primary key (or tuple of it)
    facts: RecordFacts
    snapshot: str | None = None
    clip: str | None = None  # an alert's evidence clip goes with it


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class RetentionSweeper:
    """Applies the retention rules to the database and the media folder."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        media: MediaStore,
        config: RetentionConfig,
        *,
        actor: Actor = SYSTEM_ACTOR,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._media = media
        self._config = config
        self._rules: RetentionRules = config.rules()
        self._actor = actor
        self._clock = clock

    def __repr__(self) -> str:
        return f"RetentionSweeper({self._media!r}, actor={self._actor.name!r})"

    @property
    def database(self) -> str:
        """The database the sweeps run on, password hidden ('' when unknown)."""
        bind = getattr(self._sessions, "kw", {}).get("bind")
        url = getattr(bind, "url", None)
        return redact_url(url) if url is not None else ""

    # ------------------------------------------------------------------ the run

    def run(
        self, *, dry_run: bool = False, actor: Actor | None = None, now: dt.datetime | None = None
    ) -> SweepReport:
        """One sweep over every data class; audited (with counts) at its end."""
        who = actor or self._actor
        at = self._clock() if now is None else now
        report = SweepReport(at=at, dry_run=dry_run)
        doomed_files: set[str] = set()
        doomed: dict[str, set[Any]] = {"alerts": set(), "plate_reads": set()}
        for data_class, rule, candidates, remove in self._classes(at):
            entry = ClassReport(data_class, rule)
            report.classes.append(entry)
            for batch in candidates:
                keys, files = self._decide(batch, at, entry)
                if not keys:
                    continue
                if dry_run:
                    if data_class.value in _FILE_TABLES:
                        doomed[_FILE_TABLES[data_class.value]].update(keys)
                    doomed_files.update(files)
                    continue
                self._delete(who, data_class, remove, keys, len(keys), at)
                entry.deleted += len(keys)
                self._remove_files(files, report)
        if dry_run:
            report.files_due = len(self._unreferenced(doomed_files, doomed))
        else:
            report.files_due = report.files_deleted + report.files_missing + report.files_failed
        report.orphans = sweep_orphan_files(self._sessions, self._media, now=at, dry_run=dry_run)
        with self._sessions() as session, unit_of_work(session):
            append(session, who, "retention.sweep", "retention", details=report.as_details())
        return report

    def _classes(
        self, at: dt.datetime
    ) -> Iterator[
        tuple[DataClass, str, Iterator[list[_Candidate]], Callable[[Sequence[Any]], Any]]
    ]:
        rules = self._rules
        yield (
            DataClass.PLATE_READ,
            f"deleted {rules.plate_reads.days} days after the last sighting, unless on hold",
            self._plate_reads(at),
            lambda keys: delete(PlateReadRow).where(PlateReadRow.id.in_(keys)),
        )
        yield (
            DataClass.ALERT,
            f"pending {rules.alerts_pending.days} d, confirmed {rules.alerts_confirmed.days} d "
            f"after the sighting; rejected {rules.alerts_rejected.days} d after the review",
            self._alerts(at),
            lambda keys: delete(AlertRow).where(AlertRow.id.in_(keys)),
        )
        stats = rules.statistics
        yield (
            DataClass.STATISTICS,
            "kept" if stats is None else f"deleted {stats.days} days after the day counted",
            self._statistics(at),
            lambda keys: delete(FaceCountRow).where(
                tuple_(FaceCountRow.camera_id, FaceCountRow.day).in_(keys)
            ),
        )
        yield (DataClass.AUDIT, "kept: the hash chain must stay whole", iter(()), lambda k: None)

    def _decide(
        self, batch: list[_Candidate], at: dt.datetime, entry: ClassReport
    ) -> tuple[list[Any], list[str]]:
        keys: list[Any] = []
        files: list[str] = []
        for c in batch:
            decision = retention_decision(c.facts, self._rules, at)
            if decision.delete:
                keys.append(c.key)
                files.extend(f for f in (c.snapshot, c.clip) if f)
            elif c.facts.evidence_hold:
                entry.held += 1
        entry.due += len(keys)
        return keys, files

    def _delete(
        self,
        who: Actor,
        data_class: DataClass,
        remove: Callable[[Sequence[Any]], Any],
        keys: Sequence[Any],
        count: int,
        at: dt.datetime,
    ) -> None:
        with self._sessions() as session, unit_of_work(session):
            session.execute(remove(keys).execution_options(synchronize_session=False))
            append(
                session,
                who,
                "retention.delete",
                f"retention:{data_class.value}",
                details={"rows": count, "at": at},
            )

    # ------------------------------------------------------------- candidates

    def _paged(
        self, stmt: Select[*tuple[Any, ...]], key: Any, make: Callable[[Any], _Candidate]
    ) -> Iterator[list[_Candidate]]:
        """Batches of candidates in key order (keyset paging: deletions do not shift pages)."""
        size = self._config.batch_size
        last: Any = None
        while True:
            page = stmt if last is None else stmt.where(key > last)
            with self._sessions() as session:
                rows = list(session.execute(page.order_by(key).limit(size)))
            if not rows:
                return
            last = rows[-1][0]
            yield [make(r) for r in rows]
            if len(rows) < size:
                return

    def _plate_reads(self, at: dt.datetime) -> Iterator[list[_Candidate]]:
        cutoff = delete_before(self._rules.plate_reads, at)
        assert cutoff is not None
        stmt = select(
            PlateReadRow.id,
            PlateReadRow.last_seen_at,
            PlateReadRow.evidence_hold,
            PlateReadRow.snapshot_path,
        ).where(PlateReadRow.last_seen_at < cutoff)

        def make(r: Any) -> _Candidate:
            facts = RecordFacts(DataClass.PLATE_READ, r.last_seen_at, bool(r.evidence_hold))
            return _Candidate(r.id, facts, r.snapshot_path)

        return self._paged(stmt, PlateReadRow.id, make)

    def _alerts(self, at: dt.datetime) -> Iterator[list[_Candidate]]:
        rules = self._rules
        reviewed = func.coalesce(AlertRow.reviewed_at, AlertRow.seen_at)
        due: ColumnElement[bool] = or_(
            and_(AlertRow.status == "pending", AlertRow.seen_at < at - rules.alerts_pending),
            and_(AlertRow.status == "confirmed", AlertRow.seen_at < at - rules.alerts_confirmed),
            and_(AlertRow.status == "rejected", reviewed < at - rules.alerts_rejected),
        )
        stmt = (
            select(
                AlertRow.id,
                AlertRow.seen_at,
                AlertRow.status,
                AlertRow.reviewed_at,
                AlertRow.snapshot_path,
                AlertRow.clip_path,
                PlateReadRow.evidence_hold,
            )
            .outerjoin(PlateReadRow, PlateReadRow.id == AlertRow.plate_read_id)
            .where(due)
        )

        def make(r: Any) -> _Candidate:
            facts = RecordFacts(
                DataClass.ALERT,
                r.seen_at,
                bool(r.evidence_hold),
                status=r.status,
                reviewed_at=r.reviewed_at,
            )
            return _Candidate(r.id, facts, r.snapshot_path, r.clip_path)

        return self._paged(stmt, AlertRow.id, make)

    def _statistics(self, at: dt.datetime) -> Iterator[list[_Candidate]]:
        cutoff = delete_before(self._rules.statistics, at)
        if cutoff is None:
            return
        # A day's count is complete at the end of the day: its time is the next midnight.
        day_cutoff = (cutoff - dt.timedelta(days=1)).date()
        stmt = select(FaceCountRow.camera_id, FaceCountRow.day).where(
            FaceCountRow.day <= day_cutoff
        )
        with self._sessions() as session:
            rows = list(session.execute(stmt.order_by(FaceCountRow.day, FaceCountRow.camera_id)))
        batch: list[_Candidate] = []
        for r in rows:
            end = dt.datetime.combine(r.day, dt.time(), dt.UTC) + dt.timedelta(days=1)
            batch.append(_Candidate((r.camera_id, r.day), RecordFacts(DataClass.STATISTICS, end)))
        yield from (list(b) for b in _chunks(batch, self._config.batch_size))

    # ------------------------------------------------------------------ files

    def _referenced(self, paths: Iterable[str]) -> set[str]:
        """Of ``paths``, those a stored alert or plate read still points at."""
        wanted = sorted(set(paths))
        out: set[str] = set()
        with self._sessions() as session:
            for chunk in _chunks(wanted, 500):
                for col in (AlertRow.snapshot_path, AlertRow.clip_path, PlateReadRow.snapshot_path):
                    out.update(str(p) for p in session.scalars(select(col).where(col.in_(chunk))))
        return out

    def _unreferenced(self, paths: set[str], doomed: dict[str, set[Any]]) -> set[str]:
        """Dry run: of ``paths``, those no row outside the doomed ones points at."""
        keep: set[str] = set()
        wanted = sorted(paths)
        with self._sessions() as session:
            for chunk in _chunks(wanted, 500):
                for table, row_id, col in (
                    ("alerts", AlertRow.id, AlertRow.snapshot_path),
                    ("alerts", AlertRow.id, AlertRow.clip_path),
                    ("plate_reads", PlateReadRow.id, PlateReadRow.snapshot_path),
                ):
                    for key, path in session.execute(select(row_id, col).where(col.in_(chunk))):
                        if key not in doomed[table]:
                            keep.add(str(path))
        return paths - keep

    def _remove_files(self, files: Sequence[str], report: SweepReport) -> None:
        if not files:
            return
        still = self._referenced(files)
        for rel in sorted(set(files) - still):
            try:
                if self._media.delete(rel):
                    report.files_deleted += 1
                else:
                    report.files_missing += 1
            except (MediaError, OSError) as err:
                report.files_failed += 1
                log.warning("retention: a snapshot file could not be deleted (%s)", err)


def database_away(err: BaseException, database: str) -> str | None:
    """One line for an error that says the database cannot be reached (refused, gone away,
    locked, unreadable file): ``database postgresql+psycopg://cw:***@db/cw:
    OperationalError: connection failed: ... Connection refused``; None for any other
    error.  The driver's text is cut to its first line and scrubbed of credentials."""
    away = isinstance(err, OperationalError | InterfaceError) or (
        isinstance(err, DBAPIError) and err.connection_invalidated
    )
    if not away:
        return None
    cause = getattr(err, "orig", None) or err
    lines = str(cause).strip().splitlines()
    text = redact_text(lines[0] if lines else "")
    where = f"database {database}" if database else "the database"
    return f"{where}: {type(cause).__name__}: {text}"


class RetentionScheduler:
    """Runs the sweeper, then each extra job, every ``interval`` in a daemon thread.

    Errors are logged and the next run comes as planned; :meth:`stop` ends the thread.
    """

    def __init__(
        self,
        sweeper: RetentionSweeper,
        interval: dt.timedelta,
        *,
        jobs: Sequence[Callable[[], object]] = (),
        first_delay: dt.timedelta = dt.timedelta(minutes=1),
    ) -> None:
        if interval <= dt.timedelta(0) or first_delay < dt.timedelta(0):
            raise ValueError("RetentionScheduler: need a positive interval and first_delay >= 0")
        self._sweeper = sweeper
        self._interval = interval.total_seconds()
        self._first = first_delay.total_seconds()
        self._jobs = tuple(jobs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0
        self.last_report: SweepReport | None = None
        self.last_error: str | None = None

    @classmethod
    def from_config(
        cls,
        config: RetentionConfig,
        sessions: sessionmaker[Session],
        media: MediaStore,
        *,
        jobs: Sequence[Callable[[], object]] = (),
        first_delay: dt.timedelta = dt.timedelta(minutes=1),
    ) -> RetentionScheduler:
        sweeper = RetentionSweeper(sessions, media, config)
        return cls(sweeper, config.sweep_interval, jobs=jobs, first_delay=first_delay)

    def run_once(self) -> SweepReport | None:
        """One sweep and the extra jobs; never raises (the scheduler must keep going).

        While the database is away each of them logs one line naming the database (password
        hidden) and the error: a traceback per job and cycle says nothing more and buries
        the log.  Any other error is a bug and keeps its traceback."""
        report = None
        try:
            report = self._sweeper.run()
            self.last_report = report
            self.last_error = None
        except Exception as err:
            away = database_away(err, self._sweeper.database)
            self.last_error = away or f"{type(err).__name__}: {err}"
            if away:
                log.warning("retention sweep: %s; retried at the next sweep", away)
            else:
                log.exception("retention sweep failed; the next one runs as planned")
        for job in self._jobs:
            name = getattr(job, "__name__", job)
            try:
                job()
            except Exception as err:
                away = database_away(err, self._sweeper.database)
                if away:
                    log.warning("scheduled job %r: %s; retried at the next sweep", name, away)
                else:
                    log.exception("scheduled job %r failed", name)
        self.runs += 1
        return report

    def _loop(self) -> None:
        if self._stop.wait(self._first):
            return
        while not self._stop.is_set():
            self.run_once()
            if self._stop.wait(self._interval):
                return

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("RetentionScheduler already started")
        self._thread = threading.Thread(target=self._loop, name="citywatch-retention", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> RetentionScheduler:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
