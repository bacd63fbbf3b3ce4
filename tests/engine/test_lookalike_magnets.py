"""Lookalike magnets reach the API through the camera's health record (issue 14)."""

from types import SimpleNamespace

from citywatch.api.schemas import CameraHealthPublic
from citywatch.decisions.entry_stats import EntryStats
from citywatch.engine.local import lookalike_magnets


def test_an_entry_with_near_misses_is_named_by_id_in_the_health_and_the_api() -> None:
    stats = EntryStats(0.77, band=0.05, min_tracks=2, magnet_near_misses=2)
    for score in (0.73, 0.75, 0.60):
        stats.add(42, "Jane Roe", score)
    stats.add(7, "John Doe", 0.74)  # one near miss: not a magnet
    worker = SimpleNamespace(
        pipeline=SimpleNamespace(face_decider=SimpleNamespace(entry_stats=stats))
    )
    magnets = lookalike_magnets(worker)  # type: ignore[arg-type]
    assert [m["subject_id"] for m in magnets] == [42]
    assert magnets[0]["near_misses"] == 2 and magnets[0]["passers_by"] == 3
    assert "Jane Roe" not in str(magnets)  # ids and counts only in the health file
    shown = CameraHealthPublic.of("cam-1", {"lookalike_magnets": magnets})
    assert [(m.subject_id, m.near_misses) for m in shown.lookalike_magnets] == [(42, 2)]
    assert shown.lookalike_magnets[0].own_threshold >= 0.77
    no_faces = SimpleNamespace(pipeline=SimpleNamespace(face_decider=None))
    assert lookalike_magnets(no_faces) == []  # type: ignore[arg-type]
    assert (
        CameraHealthPublic.of("cam-1", {"lookalike_magnets": [{"bad": 1}]}).lookalike_magnets == []
    )
