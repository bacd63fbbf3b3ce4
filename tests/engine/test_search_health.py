"""How often a camera's stages search (vision/cadence.py) reaches its health record, the API,
the console, `cameras status` and the metrics, as numbers and in words."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

from citywatch.api.console.views import camera_health
from citywatch.api.metrics import camera_metrics, render
from citywatch.api.schemas import CameraHealthPublic
from citywatch.cli.health_view import status_table
from citywatch.engine.local import analysis_text, search_figures
from citywatch.vision.cadence import SearchCadence, search_text


def _cadence(every: int, events: str) -> SearchCadence:
    """``events``: one per moving frame 0.25 s apart, "F" found, "m" nothing."""
    c = SearchCadence(every=every, rest_s=2.0)
    for i, e in enumerate(events):
        if c.due(i * 0.25):
            c.saw(i * 0.25, e == "F")
    return c


@pytest.mark.parametrize(
    ("figures", "text"),
    [
        ({"every": 1, "resting": False, "searched": 9, "rested": 0}, "faces: every moving frame"),
        (
            {"every": 3, "resting": True, "searched": 4, "rested": 6},
            "faces: resting, every 3rd moving frame (6 of 10 left)",
        ),
        (
            {"every": 2, "resting": False, "searched": 9, "rested": 1},
            "faces: every moving frame (1 of 10 left)",
        ),
        ({"every": 4, "resting": True, "searched": 1, "rested": 0}, "faces: resting, every 4th"),
        (
            {"every": 2, "resting": True, "searched": 1, "rested": 1},
            "faces: resting, every 2nd moving frame (1 of 2 left)",
        ),
        # a record claiming to rest at every 1 (no such thing): every moving frame
        ({"every": 1, "resting": True, "searched": 5, "rested": 0}, "faces: every moving frame"),
        ({"every": 3, "searched": 4, "rested": 6}, "faces: every moving frame (6 of 10 left)"),
        (
            {"every": 3, "resting": False, "searched": 9, "rested": 0, "windowed": 6},
            "faces: every moving frame (6 searched only around what it tracks)",
        ),
        (
            {"every": 3, "resting": False, "searched": 9, "rested": 3, "windowed": 6},
            "faces: every moving frame (3 of 12 left; 6 searched only around what it tracks)",
        ),
        (
            {"every": 3, "resting": False, "searched": 9, "rested": 0, "windowed": True},
            "faces: every moving frame",  # a malformed count is left out, the rest said
        ),
        ({"every": True, "searched": 4, "rested": 6}, ""),  # malformed: left out
        ({"every": 3, "searched": "4", "rested": 6}, ""),
        ("garbage", ""),
    ],
)
def test_search_text_table(figures: Any, text: str) -> None:
    assert search_text({"faces": figures}).startswith(text)
    if not text:
        assert search_text({"faces": figures}) == ""


def test_a_malformed_stage_leaves_the_others_said() -> None:
    good = {"every": 2, "resting": True, "searched": 3, "rested": 2}
    for bad in ("garbage", {"every": "2", "searched": 1, "rested": 0}):
        assert search_text({"faces": bad, "plates": good}) == (
            "plates: resting, every 2nd moving frame (2 of 5 left)"
        )


def test_figures_follow_the_cadence() -> None:
    resting = _cadence(3, "mmmmmmm")  # nothing found: searched 0, 3, 6
    assert resting.figures() == {
        "every": 3,
        "resting": True,
        "searched": 3,
        "rested": 4,
        "windowed": 0,
    }
    finding = _cadence(3, "FFFF")
    finding.windowed = 2  # the face stage counts its searches around tracked faces here
    assert finding.figures() == {
        "every": 3,
        "resting": False,
        "searched": 4,
        "rested": 0,
        "windowed": 2,
    }
    always = _cadence(1, "mmmm")
    assert always.figures()["resting"] is False  # every 1 never rests, found or not
    assert _cadence(2, "mmmm").figures() == {
        "every": 2,
        "resting": True,
        "searched": 2,
        "rested": 2,
        "windowed": 0,
    }


def test_the_search_reaches_health_api_console_status_and_metrics() -> None:
    faces, plates = _cadence(3, "mmmmmmm"), _cadence(2, "FFF")
    plates.windowed = 1
    worker = SimpleNamespace(
        pipeline=SimpleNamespace(
            faces=SimpleNamespace(cadence=faces), plates=SimpleNamespace(cadence=plates)
        )
    )
    searching = search_figures(worker)  # type: ignore[arg-type]
    assert searching == {"faces": faces.figures(), "plates": plates.figures()}
    record = {
        "source": {"state": "streaming", "stream": "url", "width": 640, "height": 360},
        "searching": searching,
    }
    words = (
        "faces: resting, every 3rd moving frame (4 of 7 left); plates: every moving frame "
        "(1 searched only around what it tracks)"
    )
    assert CameraHealthPublic.of("cam-1", record).searching == words
    assert analysis_text(record) == "url 640x360; " + words
    assert camera_health(record)["stream"] == "url 640x360; " + words
    text = render(camera_metrics({"cam-1": record}))
    assert 'citywatch_camera_searches_total{camera="cam-1",stage="faces"} 3' in text
    assert 'citywatch_camera_searches_rested_total{camera="cam-1",stage="faces"} 4' in text
    assert 'citywatch_camera_searches_total{camera="cam-1",stage="plates"} 3' in text
    assert 'citywatch_camera_searches_windowed_total{camera="cam-1",stage="plates"} 1' in text
    assert 'citywatch_camera_searches_windowed_total{camera="cam-1",stage="faces"} 0' in text
    console = Console(width=400, record=True)
    console.print(status_table({"cam-1": record}, now=0.0))
    assert "url 640x360; faces: resting, every 3rd moving frame" in console.export_text()
    # a camera without stages (no face or plate permission): nothing said, nothing counted
    bare = SimpleNamespace(pipeline=SimpleNamespace(faces=None, plates=None))
    assert search_figures(bare) == {}  # type: ignore[arg-type]
    assert CameraHealthPublic.of("cam-2", {"searching": {}}).searching == ""
    assert "searches_total{" not in render(camera_metrics({"cam-2": {"searching": {}}}))
