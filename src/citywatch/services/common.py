"""What every service shares: its errors, the commit-or-roll-back rule, small checks.

Each service function is one unit of work: it makes its change, writes the audit entry that
describes it in the same transaction, and commits; on any error it rolls back, so a change
is never stored without its audit entry (nor an access logged that did not happen).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from citywatch.store.types import utcnow


class ServiceError(ValueError):
    """A use case was refused; the message says what was wrong (and never holds secrets)."""


class NotFoundError(ServiceError):
    """The named camera, watchlist, subject, hotlist or alert does not exist."""


class PermissionDenied(ServiceError):
    """A policy refused the action (no legal basis, no live authorisation, ...)."""


@contextmanager
def unit_of_work(session: Session) -> Iterator[Session]:
    """Commit when the block succeeds, roll back when it raises."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def require_text(value: str | None, what: str) -> str:
    """``value`` stripped; a :class:`ServiceError` naming ``what`` when it is empty."""
    text = (value or "").strip()
    if not text:
        raise ServiceError(f"{what} is required")
    return text


def aware(value: dt.datetime, what: str) -> dt.datetime:
    """``value`` in UTC; naive datetimes are refused rather than guessed at."""
    if value.tzinfo is None:
        raise ServiceError(f"{what} must be a timezone-aware time, got {value.isoformat()}")
    return value.astimezone(dt.UTC)


def now_or(now: dt.datetime | None) -> dt.datetime:
    return utcnow() if now is None else aware(now, "now")
