"""`citywatch cameras status`: the health files of a running `citywatch run` as a table.

What the table claims is only as fresh as the files: a record that stopped being rewritten
(the run was killed, or hangs) shows as ``stale`` with its age, never as the "streaming" it
last said (see :func:`citywatch.engine.local.judge_staleness`).  An error keeps its age, so
one from before a reconnect is not read as a current one.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from citywatch.engine.local import analysis_text

COLUMNS = (
    "camera",
    "state",
    "in fps",
    "analysed fps",
    "last frame",
    "reconnects",
    "stream analysed",
    "error",
)


def _ago(now: float, at: Any) -> str | None:
    if isinstance(at, bool) or not isinstance(at, int | float):
        return None
    return f"{max(0.0, now - at):.0f} s ago"


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def state_text(record: dict[str, Any]) -> str:
    """The state as shown: ``stale (no update for 15 s; last said streaming)`` for a stale
    record, else the source's state (or the error of an unreadable file)."""
    source = record.get("source") if isinstance(record.get("source"), dict) else {}
    assert isinstance(source, dict)
    state = str(source.get("state") or ("error" if record.get("error") else "?"))
    if state != "stale":
        return state
    age = record.get("age_s")
    when = f"no update for {age:.0f} s" if isinstance(age, int | float) else "no update time"
    return f"stale ({when}; last said {source.get('last_state', '?')})"


def error_text(record: dict[str, Any], now: float) -> str:
    """The errors of a camera, each source error with its age: ``read timed out (40 s ago)``."""
    source = record.get("source") if isinstance(record.get("source"), dict) else {}
    worker = record.get("worker") if isinstance(record.get("worker"), dict) else {}
    assert isinstance(source, dict) and isinstance(worker, dict)
    parts = []
    if source.get("last_error"):
        ago = _ago(now, source.get("last_error_at"))
        parts.append(f"{source['last_error']}" + (f" ({ago})" if ago else ""))
    recording = worker.get("recording_error")
    recording = f"recording: {recording}" if recording else None
    for extra in (
        worker.get("last_error"),
        worker.get("media_error"),
        recording,
        record.get("error"),
    ):
        if extra and str(extra) not in parts:
            parts.append(str(extra))
    return "; ".join(parts)


def status_table(health: dict[str, dict[str, Any]], now: float) -> Table:
    """One row per camera from :func:`citywatch.engine.local.read_health`'s records."""
    table = Table(title="camera health")
    for col in COLUMNS:
        table.add_column(col)
    for cam, record in health.items():
        source = record.get("source") if isinstance(record.get("source"), dict) else {}
        assert isinstance(source, dict)
        state = escape(state_text(record))
        table.add_row(
            cam,
            f"[bold red]{state}[/]" if source.get("state") == "stale" else state,
            f"{_num(source.get('input_fps')):.1f}",
            f"{_num(source.get('analysed_fps')):.1f}",
            _ago(now, source.get("last_frame_wall_time")) or "never",
            str(source.get("reconnects", 0)),
            escape(analysis_text(record)),
            escape(error_text(record, now)),
        )
    return table
