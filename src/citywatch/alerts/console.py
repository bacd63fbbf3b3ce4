"""One Rich line per alert on a console the caller owns.

A face alert is a *possible* match for a person to review, never an identification, and the
line says so.
"""

from __future__ import annotations

import datetime as dt

from rich.console import Console
from rich.text import Text

from citywatch.alerts.sink import AlertEventLike

FACE_VERDICT = "POSSIBLE MATCH — pending review"
_FACE_REVIEWED = {
    "confirmed": "MATCH CONFIRMED by a reviewer",
    "rejected": "possible match REJECTED by a reviewer",
}


def _time(seen_at: dt.datetime) -> str:
    if seen_at.tzinfo is None:
        seen_at = seen_at.replace(tzinfo=dt.UTC)
    return seen_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _score(score: float | None) -> str:
    return "n/a" if score is None else f"{score:.2f}"


def format_alert(event: AlertEventLike) -> Text:
    """The console line for ``event`` (plain text with styles; user text is never markup)."""
    line = Text()
    line.append(_time(event.seen_at), style="dim")
    line.append("  ")
    if event.kind == "face":
        line.append("FACE ", style="bold magenta")
        line.append(f" camera {event.camera_id}  ")
        line.append(_FACE_REVIEWED.get(str(event.status), FACE_VERDICT), style="bold yellow")
        line.append(": ")
        line.append(event.subject_name or "<unnamed subject>", style="bold")
        if event.watchlist:
            line.append(f" (watchlist {event.watchlist})")
    elif event.kind == "plate":
        line.append("PLATE", style="bold cyan")
        line.append(f" camera {event.camera_id}  hotlist hit: ")
        line.append(event.plate or "<no plate>", style="bold")
        details = []
        if event.read is not None:
            details.append(f"read {event.read}")
        if event.distance is not None:
            details.append(f"distance {event.distance}")
        if event.watchlist:
            details.append(f"hotlist {event.watchlist}")
        if details:
            line.append(" (" + ", ".join(details) + ")")
        raw = event.to_json()
        if raw.get("vehicle_note"):
            style = "bold red" if raw.get("vehicle_mismatch") else "dim"
            line.append(f"  {raw['vehicle_note']}", style=style)
        elif raw.get("vehicle"):
            line.append(f"  seen: {raw['vehicle']}")
    else:
        line.append(f"{event.kind.upper()} camera {event.camera_id}", style="bold")
    line.append(f"  score {_score(event.score)}")
    line.append(f"  [{event.status}]", style="dim")
    return line


class ConsoleSink:
    """Prints alerts; never fails delivery for formatting reasons."""

    name = "console"

    def __init__(self, console: Console) -> None:
        self._console = console

    def publish(self, event: AlertEventLike) -> None:
        self._console.print(format_alert(event), soft_wrap=True, highlight=False)

    def close(self) -> None:
        return None
