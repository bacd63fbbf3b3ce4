"""What happens to data made under an authorisation when the authorisation ends or is void.

* An urgent authorisation that is refused, or not confirmed within 24 hours, is void: every face
  alert (with its snapshot file), every watchlist and every watchlist entry (embeddings and
  photos) made under it is deleted, and the deletion is audited with its counts.
* An authorisation that expired, or was revoked after a valid confirmation, has its watchlists
  destroyed: subjects, embeddings and photos are deleted; the empty watchlist row stays so that
  its alerts (kept under the retention rules) still name the authorisation they were made under.

Rows are deleted inside the caller's transaction together with the audit entry; files are
deleted only after the commit (a rolled-back transaction must not have lost them).
:class:`LifecycleSweeper` applies the pure :func:`~citywatch.policy.authorisation.lifecycle_action`
to every authorisation; run it on a schedule beside the retention sweeper, and on demand.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, fields

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from citywatch.audit.chain import Actor, append
from citywatch.policy.authorisation import (
    AuthorisationState,
    LifecycleAction,
    confirmation_deadline,
    lifecycle_action,
)
from citywatch.services.authorisations import authorisation_facts
from citywatch.services.common import now_or, unit_of_work
from citywatch.store.media import MediaError, MediaStore
from citywatch.store.models import (
    AlertRow,
    AuthorisationRow,
    SubjectEmbeddingRow,
    SubjectRow,
    WatchlistRow,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeletionCounts:
    alerts: int = 0
    snapshots: int = 0  # alert snapshot files
    watchlists: int = 0  # deleted (purge) or emptied (destroy)
    subjects: int = 0
    embeddings: int = 0
    photos: int = 0  # reference photo files of the subjects

    @property
    def empty(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(self))

    def as_details(self) -> dict[str, int]:
        return {f.name: int(getattr(self, f.name)) for f in fields(self)}

    def __add__(self, other: DeletionCounts) -> DeletionCounts:
        return DeletionCounts(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )


@dataclass(frozen=True, slots=True)
class PendingDeletion:
    """Rows deleted in the open transaction, and the media files to delete after its commit."""

    counts: DeletionCounts
    files: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DeletionReport:
    counts: DeletionCounts
    files_deleted: int = 0
    files_missing: int = 0  # already gone
    files_failed: tuple[str, ...] = ()  # relative paths that could not be deleted


@dataclass(frozen=True, slots=True)
class SweepItem:
    authorisation: str  # reference
    state: AuthorisationState
    action: LifecycleAction
    target: str  # the audit target: authorisation:REF or watchlist:NAME
    report: DeletionReport


@dataclass(frozen=True, slots=True)
class SweepReport:
    at: dt.datetime
    dry_run: bool
    checked: int  # authorisations looked at
    items: tuple[SweepItem, ...]
    lapsed: tuple[str, ...]  # urgent authorisations found unconfirmed past their deadline
    errors: tuple[str, ...]

    @property
    def totals(self) -> DeletionCounts:
        total = DeletionCounts()
        for item in self.items:
            total = total + item.report.counts
        return total


def _wl_ids(auth_id: int) -> Select[int]:
    return select(WatchlistRow.id).where(WatchlistRow.authorisation_id == auth_id)


def _count(session: Session, stmt: Select[int]) -> int:
    return int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)


def _subjects(
    session: Session, wl_ids: Select[int], *, dry_run: bool
) -> tuple[int, int, list[str]]:
    """Delete the subjects (and embeddings) of the watchlists ``wl_ids`` selects."""
    subject_ids = select(SubjectRow.id).where(SubjectRow.watchlist_id.in_(wl_ids))
    subjects = _count(session, subject_ids)
    embeddings = _count(
        session,
        select(SubjectEmbeddingRow.id).where(SubjectEmbeddingRow.subject_id.in_(subject_ids)),
    )
    photos = [
        str(p)
        for p in session.scalars(
            select(SubjectEmbeddingRow.photo_path)
            .where(SubjectEmbeddingRow.subject_id.in_(subject_ids))
            .where(SubjectEmbeddingRow.photo_path.is_not(None))
        )
    ]
    if not dry_run:
        no_sync = {"synchronize_session": False}
        session.execute(
            delete(SubjectEmbeddingRow)
            .where(SubjectEmbeddingRow.subject_id.in_(subject_ids))
            .execution_options(**no_sync)
        )
        session.execute(
            delete(SubjectRow)
            .where(SubjectRow.watchlist_id.in_(wl_ids))
            .execution_options(**no_sync)
        )
    return subjects, embeddings, photos


def purge_under(
    session: Session, auth: AuthorisationRow, *, dry_run: bool = False
) -> PendingDeletion:
    """Delete every face alert, watchlist, subject and embedding made under ``auth``.

    In the caller's transaction; the files to delete after the commit are returned.
    ``dry_run``: count only.
    """
    wl_ids = _wl_ids(auth.id)
    alerts = select(AlertRow.id).where(AlertRow.kind == "face", AlertRow.watchlist_id.in_(wl_ids))
    n_alerts = _count(session, alerts)
    snapshots = [
        str(p)
        for p in session.scalars(
            select(AlertRow.snapshot_path)
            .where(AlertRow.id.in_(alerts))
            .where(AlertRow.snapshot_path.is_not(None))
        )
    ]
    n_watchlists = _count(session, wl_ids)
    if not dry_run:
        session.execute(
            delete(AlertRow)
            .where(AlertRow.kind == "face", AlertRow.watchlist_id.in_(wl_ids))
            .execution_options(synchronize_session=False)
        )
    subjects, embeddings, photos = _subjects(session, wl_ids, dry_run=dry_run)
    if not dry_run:
        session.execute(
            delete(WatchlistRow)
            .where(WatchlistRow.authorisation_id == auth.id)
            .execution_options(synchronize_session=False)
        )
        session.expire_all()
    counts = DeletionCounts(
        alerts=n_alerts,
        snapshots=len(snapshots),
        watchlists=n_watchlists,
        subjects=subjects,
        embeddings=embeddings,
        photos=len(photos),
    )
    return PendingDeletion(counts, tuple(snapshots + photos))


def destroy_watchlist(
    session: Session, watchlist: WatchlistRow, *, dry_run: bool = False
) -> PendingDeletion:
    """Delete the subjects, embeddings and photos of one watchlist; the empty row stays."""
    wl_ids = select(WatchlistRow.id).where(WatchlistRow.id == watchlist.id)
    subjects, embeddings, photos = _subjects(session, wl_ids, dry_run=dry_run)
    if not dry_run:
        session.expire_all()
    counts = DeletionCounts(
        watchlists=1 if subjects else 0,
        subjects=subjects,
        embeddings=embeddings,
        photos=len(photos),
    )
    return PendingDeletion(counts, tuple(photos))


def delete_files(media: MediaStore, pending: PendingDeletion, what: str) -> DeletionReport:
    """Delete the files of a committed deletion; failures are logged and reported, not raised
    (the rows are gone; a file left behind is named so it can be removed by hand)."""
    deleted = missing = 0
    failed: list[str] = []
    for rel in pending.files:
        try:
            if media.delete(rel):
                deleted += 1
            else:
                missing += 1
        except (OSError, MediaError) as err:
            log.warning("%s: could not delete media file %s: %s", what, rel, err)
            failed.append(rel)
    return DeletionReport(pending.counts, deleted, missing, tuple(failed))


class LifecycleSweeper:
    """Applies the authorisation lifecycle to the stored data.  One transaction per
    authorisation; an error on one is reported and the others still run."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        media: MediaStore,
        *,
        actor: Actor | None = None,
    ) -> None:
        self._sessions = sessions
        self._media = media
        self._actor = actor or Actor.system("lifecycle")

    def __repr__(self) -> str:
        return f"LifecycleSweeper(media={self._media!r}, actor={self._actor.name!r})"

    def run(self, now: dt.datetime | None = None, *, dry_run: bool = False) -> SweepReport:
        at = now_or(now)
        with self._sessions() as session:
            ids = list(session.scalars(select(AuthorisationRow.id).order_by(AuthorisationRow.id)))
        items: list[SweepItem] = []
        lapsed: list[str] = []
        errors: list[str] = []
        for auth_id in ids:
            try:
                got, was_lapsed = self._one(auth_id, at, dry_run)
            except Exception as err:
                log.exception("lifecycle sweep: authorisation id %d failed", auth_id)
                errors.append(f"authorisation id {auth_id}: {type(err).__name__}: {err}")
                continue
            items.extend(got)
            if was_lapsed is not None:
                lapsed.append(was_lapsed)
        return SweepReport(at, dry_run, len(ids), tuple(items), tuple(lapsed), tuple(errors))

    def _one(
        self, auth_id: int, at: dt.datetime, dry_run: bool
    ) -> tuple[list[SweepItem], str | None]:
        done: list[tuple[SweepItem, PendingDeletion]] = []
        lapsed: str | None = None
        with self._sessions() as session, unit_of_work(session):
            auth = session.get(AuthorisationRow, auth_id)
            if auth is None:  # deleted since the list was read
                return [], None
            ref = auth.reference
            facts = authorisation_facts(auth)
            action, state = lifecycle_action(facts, at)
            if action is LifecycleAction.PURGE:
                newly_lapsed = state.state is AuthorisationState.LAPSED and auth.status == "active"
                pending = purge_under(session, auth, dry_run=dry_run)
                target = f"authorisation:{ref}"
                if newly_lapsed:
                    lapsed = ref
                if dry_run:
                    pass
                elif newly_lapsed:
                    auth.status = "revoked"
                    append(
                        session,
                        self._actor,
                        "authorisation.lapse",
                        target,
                        details={
                            "deadline": confirmation_deadline(facts),
                            "deleted": pending.counts.as_details(),
                        },
                        reason=state.reason,
                    )
                elif not pending.counts.empty:
                    append(
                        session,
                        self._actor,
                        "authorisation.purge",
                        target,
                        details={"state": state.state, "deleted": pending.counts.as_details()},
                        reason=state.reason,
                    )
                if newly_lapsed or not pending.counts.empty:
                    item = SweepItem(
                        ref, state.state, action, target, DeletionReport(pending.counts)
                    )
                    done.append((item, pending))
            elif action is LifecycleAction.DESTROY_WATCHLISTS:
                wls = session.scalars(
                    select(WatchlistRow)
                    .where(WatchlistRow.authorisation_id == auth.id)
                    .order_by(WatchlistRow.id)
                ).all()
                for wl in wls:
                    name = wl.name
                    pending = destroy_watchlist(session, wl, dry_run=dry_run)
                    if pending.counts.empty:
                        continue
                    target = f"watchlist:{name}"
                    if not dry_run:
                        append(
                            session,
                            self._actor,
                            "watchlist.destroy",
                            target,
                            details={
                                "authorisation": ref,
                                "state": state.state,
                                "deleted": pending.counts.as_details(),
                            },
                            reason=state.reason,
                        )
                    item = SweepItem(
                        ref, state.state, action, target, DeletionReport(pending.counts)
                    )
                    done.append((item, pending))
        if dry_run:
            return [item for item, _ in done], lapsed
        out = []
        for item, pending in done:  # committed: now the files may go
            report = delete_files(self._media, pending, item.target)
            out.append(SweepItem(item.authorisation, item.state, item.action, item.target, report))
        return out, lapsed
