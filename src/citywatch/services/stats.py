"""Counts per camera per UTC day, for the public register: numbers only, no personal data."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Date, cast, func, select
from sqlalchemy.orm import Session

from citywatch.store.models import AlertRow, FaceCountRow, PlateReadRow


@dataclass(frozen=True, slots=True)
class DailyCounts:
    camera_id: str
    day: dt.date
    faces_discarded: int  # face tracks analysed that matched nobody (counted, then forgotten)
    face_alerts: int  # possible matches
    plate_reads: int
    plate_alerts: int  # hotlist hits
    confirmed_alerts: int

    @property
    def faces_analysed(self) -> int:
        return self.faces_discarded + self.face_alerts


def _day(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)  # SQLite stores naive UTC text: date() takes its day


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def daily_counts(
    session: Session, *, since: dt.date | None = None, until: dt.date | None = None
) -> list[DailyCounts]:
    """One row per camera and day with any activity in ``[since, until]`` (UTC days)."""
    acc: dict[tuple[str, dt.date], dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def keep(day: dt.date) -> bool:
        return (since is None or day >= since) and (until is None or day <= until)

    faces = select(FaceCountRow.camera_id, FaceCountRow.day, FaceCountRow.tracks)
    for cam, day, n in session.execute(faces):
        d = _as_date(day)
        if keep(d):
            acc[(cam, d)]["faces_discarded"] += int(n)

    read_day = _day(session, PlateReadRow.last_seen_at)
    reads = select(PlateReadRow.camera_id, read_day, func.count()).group_by(
        PlateReadRow.camera_id, read_day
    )
    for cam, day, n in session.execute(reads):
        d = _as_date(day)
        if keep(d):
            acc[(cam, d)]["plate_reads"] += int(n)

    alert_day = _day(session, AlertRow.seen_at)
    alerts = select(AlertRow.camera_id, alert_day, AlertRow.kind, AlertRow.status, func.count())
    alerts = alerts.group_by(AlertRow.camera_id, alert_day, AlertRow.kind, AlertRow.status)
    for cam, day, kind, status, n in session.execute(alerts):
        d = _as_date(day)
        if not keep(d):
            continue
        acc[(cam, d)][f"{kind}_alerts"] += int(n)
        if status == "confirmed":
            acc[(cam, d)]["confirmed_alerts"] += int(n)

    return [
        DailyCounts(
            camera_id=cam,
            day=day,
            faces_discarded=c["faces_discarded"],
            face_alerts=c["face_alerts"],
            plate_reads=c["plate_reads"],
            plate_alerts=c["plate_alerts"],
            confirmed_alerts=c["confirmed_alerts"],
        )
        for (cam, day), c in sorted(acc.items())
    ]
