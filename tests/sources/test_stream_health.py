"""Which stream a camera analyses, and at what size, as its health says it (issue 18)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import av
import pytest
from pydantic import SecretStr

from citywatch.config.camera import CameraConfig
from citywatch.demo.footage import DemoFootage, make_demo_videos
from citywatch.sources.health import HealthTracker, stream_text
from citywatch.sources.mainstream import ClockLink, DualSource
from citywatch.sources.pyav import CameraSource


@pytest.mark.parametrize(
    ("source", "text"),
    [
        ({"stream": "url", "width": 1280, "height": 720, "codec": "h264"}, "url 1280x720 h264"),
        (
            {
                "stream": "detect_url",
                "width": 640,
                "height": 360,
                "codec": "hevc",
                "main_stream": "streaming",
                "main_width": 2560,
                "main_height": 1440,
            },
            "detect_url 640x360 hevc; main url 2560x1440 streaming",
        ),
        (
            {"stream": "detect_url", "width": 640, "height": 360, "main_stream": "connecting"},
            "detect_url 640x360; main url connecting",
        ),
        (
            {
                "stream": "detect_url",
                "width": 640,
                "height": 360,
                "codec": "h264",
                "decode_now": "keyframes",
                "main_stream": "streaming",
            },
            "detect_url 640x360 h264, still: keyframes only; main url streaming",
        ),
        (
            {"stream": "url", "width": 640, "height": 360, "decode_now": "reference"},
            "url 640x360, still: reference pictures only",
        ),
        ({"stream": "url", "decode_now": "normal"}, "url"),
        ({"stream": "url", "width": 0, "height": 0, "codec": ""}, "url"),  # not opened yet
        ({"stream": "url", "width": True, "height": 5, "main_stream": "x"}, "url"),
        ({"stream": "rtsp://u:p@host/", "width": 640, "height": 360}, ""),  # never an address
        ({"state": "streaming"}, ""),  # a record from before the field
    ],
)
def test_stream_text(source: dict[str, Any], text: str) -> None:
    assert stream_text(source) == text


def test_the_tracker_reports_the_stream_and_the_last_size_opened() -> None:
    tracker = HealthTracker("c", stream="detect_url")
    before = tracker.snapshot()
    assert (before.stream, before.width, before.height, before.codec) == ("detect_url", 0, 0, "")
    tracker.opened(640, 360, "h264")
    tracker.opened(704, 576, "hevc")  # a reconnect to a reconfigured camera
    after = tracker.snapshot()
    assert (after.width, after.height, after.codec) == (704, 576, "hevc")
    assert HealthTracker("c").snapshot().stream == ""


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> DemoFootage:
    return make_demo_videos(
        tmp_path_factory.mktemp("streams"), seconds=0.6, fps=5, size=(320, 180), substream=(160, 90)
    )


def _codec(path: Path) -> str:
    with av.open(str(path)) as container:
        return str(container.streams.video[0].codec_context.name)


def test_a_one_stream_camera_reports_url_and_its_size(footage: DemoFootage) -> None:
    path = footage.path("cam-street")
    source = CameraSource(CameraConfig(id="c", url=SecretStr(str(path)), analyse_fps=5))
    assert (source.health.stream, source.health.width) == ("url", 0)
    assert len(list(source.frames())) == 3
    h = source.health
    assert (h.stream, h.width, h.height, h.codec) == ("url", 320, 180, _codec(path))
    assert h.main_stream == "" and (h.main_width, h.main_height) == (0, 0)
    assert stream_text(dataclasses.asdict(h)) == f"url 320x180 {_codec(path)}"


def test_a_two_stream_camera_reports_the_substream_analysed_and_the_main_size(
    footage: DemoFootage,
) -> None:
    main, sub = footage.path("cam-street"), footage.sub_path("cam-street")
    assert sub is not None
    cam = CameraConfig(
        id="c", url=SecretStr(str(main)), detect_url=SecretStr(str(sub)), analyse_fps=5
    )
    dual = DualSource(CameraSource(cam), CameraSource(cam, role="main"), ClockLink(live=False))
    assert len(list(dual.frames())) == 3
    h = dual.health
    assert (h.stream, h.width, h.height) == ("detect_url", 160, 90)
    assert (h.main_width, h.main_height) == (320, 180)
    # the main stream's reader either reached its end first or was stopped when the analysed
    # stream ended: which one depends on the two threads' timing, not on the code under test
    assert h.main_stream in ("ended", "stopped")
    assert dual.main_health.stream == "url"
    record = json.loads(json.dumps(dataclasses.asdict(h)))  # as the health file holds it
    assert stream_text(record) == (
        f"detect_url 160x90 {_codec(sub)}; main url 320x180 {h.main_stream}"
    )
