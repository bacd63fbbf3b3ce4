"""A stand-in with the shape of ``citywatch.alerts.events.AlertEvent``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from dataclasses import dataclass
from typing import Any

from citywatch.alerts.sink import DeliveryError


@dataclass(frozen=True)
class FakeEvent:
    id: int = 1
    event_id: str = "evt-0001"
    kind: str = "face"
    camera_id: str = "cam-entrance"
    status: str = "pending"
    score: float = 0.81234
    subject_name: str | None = "Jane Example"
    watchlist: str | None = "missing-persons"
    plate: str | None = None
    read: str | None = None
    distance: int | None = None
    seen_at: dt.datetime = dt.datetime(2025, 5, 17, 12, 30, 5, tzinfo=dt.UTC)
    first_seen_s: float = 1.5
    last_seen_s: float = 3.25
    track_id: int = 7
    snapshot_path: str | None = "snapshots/2025/05/evt-0001.jpg"
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out.pop("extra")
        out["seen_at"] = self.seen_at.isoformat()
        out.update(self.extra)
        return out


def face_event(n: int = 1, **kw: Any) -> FakeEvent:
    return FakeEvent(id=n, event_id=f"evt-{n:04d}", **kw)


def plate_event(n: int = 1, **kw: Any) -> FakeEvent:
    base: dict[str, Any] = {
        "kind": "plate",
        "camera_id": "cam-street",
        "subject_name": None,
        "watchlist": "stolen-vehicles",
        "plate": "CW123X",
        "read": "CW128X",
        "distance": 1,
        "score": 0.93,
    }
    base.update(kw)
    return FakeEvent(id=n, event_id=f"evt-{n:04d}", **base)


class RecordingSink:
    """Keeps what it got; optionally blocks until released, or fails the first ``fail`` tries."""

    def __init__(
        self,
        name: str = "rec",
        *,
        block: bool = False,
        fail: int = 0,
        error: Exception | None = None,
    ) -> None:
        self.name = name
        self.got: list[Any] = []
        self.started = threading.Event()
        self.release = threading.Event()
        if not block:
            self.release.set()
        self._fail = fail
        self._error = error
        self.tries = 0
        self.closed = False
        self.lock = threading.Lock()

    def publish(self, event: Any) -> None:
        self.started.set()
        self.release.wait(10)
        with self.lock:
            self.tries += 1
            if self._error is not None:
                raise self._error
            if self.tries <= self._fail:
                raise DeliveryError(f"{self.name}: scripted failure {self.tries}")
            self.got.append(event)

    def close(self) -> None:
        self.closed = True
