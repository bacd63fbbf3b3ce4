from __future__ import annotations

import io

from rich.console import Console

from citywatch.alerts.console import FACE_VERDICT, ConsoleSink
from tests.alerts.fakes import face_event, plate_event


def _render(ev: object) -> str:
    buf = io.StringIO()
    sink = ConsoleSink(Console(file=buf, width=200, color_system=None))
    sink.publish(ev)  # type: ignore[arg-type]
    sink.close()
    return buf.getvalue()


def test_face_alert_is_a_possible_match_pending_review() -> None:
    out = _render(face_event())
    assert FACE_VERDICT in out
    assert "POSSIBLE MATCH — pending review" in out
    assert "identified" not in out.lower()
    assert "cam-entrance" in out and "Jane Example" in out
    assert "0.81" in out
    assert "2025-05-17 12:30:05 UTC" in out


def test_plate_alert_shows_plate_read_and_distance() -> None:
    out = _render(plate_event())
    assert "PLATE" in out and "cam-street" in out
    assert "CW123X" in out and "read CW128X" in out and "distance 1" in out
    assert "0.93" in out


def test_user_text_is_not_markup() -> None:
    out = _render(face_event(subject_name="[bold red]Robert'); DROP[/]"))
    assert "[bold red]Robert'); DROP[/]" in out


def test_only_a_reviewer_confirms_a_face_match() -> None:
    assert FACE_VERDICT in _render(face_event(status="unknown-status"))
    out = _render(face_event(status="confirmed"))
    assert "CONFIRMED by a reviewer" in out and "pending review" not in out
