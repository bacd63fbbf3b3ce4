from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from citywatch.store.models import HotlistRow


def test_datetimes_come_back_aware_utc(session: Session) -> None:
    cet = dt.timezone(dt.timedelta(hours=2))
    at = dt.datetime(2025, 6, 1, 14, 30, 15, 123456, tzinfo=cet)
    session.add(HotlistRow(name="h", reason="r", created_at=at))
    session.commit()
    session.expunge_all()
    got = session.scalar(select(HotlistRow.created_at))
    assert got == at
    assert got is not None and got.tzinfo == dt.UTC
    assert got.hour == 12 and got.microsecond == 123456


def test_naive_datetime_is_refused(session: Session) -> None:
    session.add(HotlistRow(name="h", reason="r", created_at=dt.datetime(2025, 6, 1)))
    with pytest.raises(StatementError, match="naive datetime"):
        session.commit()
