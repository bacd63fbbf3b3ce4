"""The demo's cameras: two streams each (a 640x360 substream analysed, the full-size video the
evidence) when the footage has substreams, one stream when it has none."""

from __future__ import annotations

from pathlib import Path

import pytest

from citywatch.config.root import load_config
from citywatch.demo.footage import DemoFootage, make_demo_videos
from citywatch.demo.scenario import (
    CAMERAS,
    SUBSTREAM,
    demo_config,
    prepare_footage,
    write_demo_config,
)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoFootage, DemoFootage]:
    root = tmp_path_factory.mktemp("footage")
    kw = {"seconds": 0.4, "fps": 5, "size": (320, 180)}
    return (
        make_demo_videos(root / "one", **kw),  # type: ignore[arg-type]
        make_demo_videos(root / "two", substream=(160, 90), **kw),  # type: ignore[arg-type]
    )


def test_cameras_analyse_the_substream_and_keep_the_main_stream_as_evidence(
    tmp_path: Path, small: tuple[DemoFootage, DemoFootage]
) -> None:
    _, two = small
    cfg = demo_config(tmp_path, two, loop=False)
    assert [c.id for c in cfg.cameras] == [cam for cam, _, _ in CAMERAS]
    for cam in cfg.cameras:
        sub = two.sub_path(cam.id)
        assert sub is not None and cam.detect_url is not None
        assert cam.detect_url.get_secret_value() == str(sub.resolve())
        assert cam.url.get_secret_value() == str(two.path(cam.id).resolve())
        assert cam.detect_url.get_secret_value() != cam.url.get_secret_value()


def test_footage_without_substreams_gives_one_stream_cameras(
    tmp_path: Path, small: tuple[DemoFootage, DemoFootage]
) -> None:
    one, _ = small
    cfg = demo_config(tmp_path, one, loop=True)
    assert all(c.detect_url is None and c.loop for c in cfg.cameras)
    assert {c.url.get_secret_value() for c in cfg.cameras} == {
        str(one.path(c).resolve()) for c, _, _ in CAMERAS
    }


def test_the_written_config_file_keeps_both_streams(
    tmp_path: Path, small: tuple[DemoFootage, DemoFootage]
) -> None:
    _, two = small
    path = write_demo_config(tmp_path, two, loop=True)
    text = path.read_text(encoding="utf-8")
    assert text.count("detect_url:") == len(CAMERAS)
    loaded = {c.id: c for c in load_config(path).cameras}
    for cam_id, _, _ in CAMERAS:
        detect = loaded[cam_id].detect_url
        assert detect is not None and detect.get_secret_value().endswith(f"{cam_id}-sub.mp4")


@pytest.mark.slow
def test_the_demo_footage_has_a_640x360_substream_beside_its_960x540_main_stream(
    tmp_path: Path,
) -> None:
    import av

    footage = prepare_footage(tmp_path)
    assert SUBSTREAM == (640, 360)
    for cam_id, _, _ in CAMERAS:
        sub = footage.sub_path(cam_id)
        assert sub is not None
        for path, size in ((footage.path(cam_id), (960, 540)), (sub, SUBSTREAM)):
            with av.open(str(path)) as container:
                ctx = container.streams.video[0].codec_context
                assert (ctx.width, ctx.height) == size
