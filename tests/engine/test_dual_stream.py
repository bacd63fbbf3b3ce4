"""Two streams per camera (issue 18): the substream analysed, the main stream the evidence."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from pydantic import SecretStr, ValidationError

from citywatch.audit.chain import Actor
from citywatch.config.camera import CameraConfig
from citywatch.config.root import parse_config
from citywatch.engine.assemble import Models
from citywatch.engine.camera import build_camera_worker
from citywatch.engine.platform import Platform
from citywatch.engine.runtime import ReloadingHotlist
from citywatch.services.hotlists import add_plate
from citywatch.sources import recorder
from citywatch.sources.mainstream import BoxMap, ClockLink, DualSource, picture_at
from citywatch.sources.pyav import CameraSource, SourceError
from citywatch.sources.recorder import PacketBuffer
from citywatch.store.db import make_engine, make_session_factory, upgrade_database
from citywatch.store.media import MediaStore
from citywatch.store.models import AlertRow
from tests.conftest import embedded_config

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
ADMIN = Actor("test-admin", "admin")
CLIP, PLATE = "Video10_2.avi", "XSNB23"


@pytest.mark.parametrize(
    ("src", "dst", "box", "want"),
    [
        ((640, 360), (640, 360), (10, 20, 30, 40), (10, 20, 30, 40)),  # one stream: as is
        ((640, 360), (1280, 720), (10, 20, 30, 40), (20, 40, 60, 80)),
        ((640, 360), (1920, 1080), (100, 50, 200, 150), (300, 150, 600, 450)),
        ((704, 576), (1920, 1080), (352, 288, 704, 576), (960, 540, 1920, 1080)),  # 4:3 on 16:9
        ((640, 360), (1280, 720), (600, 300, 700, 400), (1200, 600, 1280, 720)),  # clipped
        ((1280, 720), (640, 360), (20, 40, 60, 80), (10, 20, 30, 40)),  # down works too
    ],
)
def test_box_map(
    src: tuple[int, int],
    dst: tuple[int, int],
    box: tuple[float, float, float, float],
    want: tuple[float, float, float, float],
) -> None:
    assert BoxMap(src, dst).box(box) == pytest.approx(want)


def test_box_map_of_many_and_of_none() -> None:
    m = BoxMap((640, 360), (1280, 720))
    boxes = np.array([[0, 0, 10, 10], [5, 5, 6, 6]], np.float32)
    assert m.boxes(boxes).tolist() == [[0, 0, 20, 20], [10, 10, 12, 12]]
    assert m.boxes(np.zeros((0, 4), np.float32)).shape == (0, 4)
    with pytest.raises(ValueError, match="positive"):
        BoxMap((0, 360), (1280, 720))


def test_clock_link_files_share_media_time_and_live_streams_their_arrival() -> None:
    assert ClockLink(live=False).to_main(12.5) == 12.5
    link = ClockLink(live=True, window_s=10.0)
    assert link.to_main(3.0) == 3.0  # nothing seen yet
    # the main stream opened 2 s after the substream: its media clock is 2 s behind
    for k in range(20):
        wall = 1000.0 + k * 0.2
        link.seen("sub", wall - 1000.0, wall + 0.05)
        link.seen("main", wall - 1002.0, wall + 0.04)
    assert link.to_main(3.0) == pytest.approx(1.0 + 0.01)


def test_detect_url_is_validated_and_never_printed(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ValidationError, match="detect_urls"):
        CameraConfig.model_validate({"id": "c", "url": "a.mp4", "detect_urls": "b.mp4"})
    with pytest.raises(ValidationError, match="detect_url is empty"):
        CameraConfig.model_validate({"id": "c", "url": "a.mp4", "detect_url": " "})
    cam = CameraConfig(
        id="c",
        url=SecretStr("rtsp://admin:main-secret@10.0.0.9/main"),
        detect_url=SecretStr("rtsp://admin:sub-secret@10.0.0.9/sub?token=tok-secret"),
    )
    assert "sub-secret" not in repr(cam) and "sub-secret" not in str(cam.model_dump())
    with caplog.at_level(logging.DEBUG):
        sub = CameraSource(cam)
        main = CameraSource(cam, role="main")
    assert sub.display_url == "rtsp://***@10.0.0.9/sub?token=***"
    assert main.display_url == "rtsp://***@10.0.0.9/main"
    for secret in ("main-secret", "sub-secret", "tok-secret"):
        assert secret not in repr(sub) + repr(main) + caplog.text
    bad = CameraConfig(id="c", url=SecretStr("a.mp4"), detect_url=SecretStr("${NO_SUCH_VAR}"))
    with pytest.raises(SourceError, match="detect_url"):
        CameraSource(bad, env={})


def _copy(src: Path, dst: Path, size: tuple[int, int]) -> Path:
    """An H.264 copy of ``src`` at ``size`` (a keyframe every 12 pictures)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        stream = out.add_stream("libx264", rate=vin.average_rate or 12)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"g": "12", "preset": "veryfast", "crf": "18"}
        for vf in inp.decode(vin):
            image = cv2.resize(vf.to_ndarray(format="bgr24"), size, interpolation=cv2.INTER_AREA)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        out.mux(stream.encode(None))
    return dst


@pytest.fixture(scope="module")
def two_files(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> tuple[Path, Path]:
    src = shared_data / "plates/video_nl/clips" / CLIP
    tmp = tmp_path_factory.mktemp("dual")
    return _copy(src, tmp / "sub.mp4", (640, 360)), _copy(src, tmp / "main.mp4", (1280, 720))


def _main_pictures(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]


def test_picture_at_decodes_the_nearest_main_picture(
    two_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, main_path = two_files
    converted: list[int] = []
    to_bgr = recorder._bgr
    monkeypatch.setattr(recorder, "_bgr", lambda f: converted.append(1) or to_bgr(f))
    buf = PacketBuffer("c", seconds=60, max_bytes=10**8)
    cam = CameraConfig(id="c", url=SecretStr(str(main_path)))
    src = CameraSource(cam, taps=[buf], role="main")
    assert list(src.frames()) == []  # demuxed only
    assert src.health.frames_decoded == 36  # packets, counted as the stream's frames
    pictures = _main_pictures(main_path)
    pic = picture_at(buf.snapshot(), 14 / 12)
    assert pic is not None and pic.media_s == pytest.approx(14 / 12, abs=1e-3)
    assert np.array_equal(pic.image, pictures[14])
    assert pic.decoded <= 12 + 3  # from its keyframe (12) on, not the whole file
    assert pic.decoded > 1 and len(converted) == 1  # only the picture it returns made BGR
    assert picture_at(buf.snapshot(), 99.0) is None


def test_dual_source_yields_the_substream_and_feeds_the_main_buffer(
    two_files: tuple[Path, Path],
) -> None:
    sub_path, main_path = two_files
    cam = CameraConfig(
        id="c", url=SecretStr(str(main_path)), detect_url=SecretStr(str(sub_path)), analyse_fps=4
    )
    buf = PacketBuffer("c", seconds=60, max_bytes=10**8)
    link = ClockLink(live=False)
    dual = DualSource(CameraSource(cam), CameraSource(cam, taps=[buf], role="main"), link)
    frames = list(dual.frames())
    assert {f.image.shape for f in frames} == {(360, 640, 3)}
    assert len(frames) == 12  # 3 s at 4 fps
    assert buf.stats().packets == 36 and dual.main_health.frames_decoded == 36
    assert dual.health.main_stream == "ended" and dual.health.frames_analysed == 12
    missing = cam.model_copy(update={"url": SecretStr("/nonexistent/main.mp4")})
    dual = DualSource(
        CameraSource(missing), CameraSource(missing, role="main"), ClockLink(live=False)
    )
    assert len(list(dual.frames())) == 12  # the analysis goes on without its main stream
    assert dual.health.main_stream.startswith("failed: cannot open /nonexistent/main.mp4")


@pytest.mark.integration
def test_a_two_stream_camera_alerts_with_a_main_stream_snapshot(
    tmp_path: Path, two_files: tuple[Path, Path]
) -> None:
    sub_path, main_path = two_files
    boxes: dict[str, tuple[float, ...]] = {}
    snapshots: dict[str, np.ndarray] = {}
    for name, urls in {
        "one": {"url": str(main_path)},
        "dual": {"url": str(main_path), "detect_url": str(sub_path)},
    }.items():
        cam = {
            "id": f"gate-{name}",
            **urls,
            "purposes": ["plate"],
            "legal_basis": "Test Act s.1",
            "impact_assessment": "DPIA-T-1",
            "approved_on": "2026-01-01",
            "zone": "stage",
        }
        cfg = parse_config(embedded_config(tmp_path / name, [cam]))
        upgrade_database(cfg.store.database_url)
        sessions = make_session_factory(make_engine(cfg.store.database_url))
        Platform.create(cfg, sessions, ADMIN).register_cameras()
        with sessions() as session:
            add_plate(session, ADMIN, "stolen", PLATE, "reported stolen")
            session.commit()
        media = MediaStore(cfg.store.media_dir)
        parts = build_camera_worker(
            cfg.cameras[0], cfg, Models(cfg), sessions, media,
            ReloadingHotlist(sessions, cfg), lambda _e: None, now=NOW,
        )  # fmt: skip
        assert (parts.evidence is None) == (name == "one")
        parts.worker.run()
        with sessions() as session:
            alert = session.query(AlertRow).one()
            assert alert.plate == PLATE and alert.snapshot_path is not None
            boxes[name] = (alert.box_x0, alert.box_y0, alert.box_x1, alert.box_y1)
            data = np.frombuffer(
                (Path(cfg.store.media_dir) / alert.snapshot_path).read_bytes(), np.uint8
            )
            snapshots[name] = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if parts.evidence is not None:
            assert parts.evidence.stats.snapshots == 1 and parts.evidence.stats.fallbacks == 0
    snap = snapshots["dual"]
    assert snap.shape == (720, 1280, 3)  # the main stream's picture, not the substream's
    # ... one of its decoded pictures (JPEG apart), not the substream scaled up
    pictures = _main_pictures(main_path)
    diffs = [float(np.mean(cv2.absdiff(snap, p))) for p in pictures]
    assert min(diffs) < 2.0
    # the box lies where the one-stream camera found the plate on the main stream
    a, b = np.array(boxes["dual"]), np.array(boxes["one"])
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = lambda x: (x[2] - x[0]) * (x[3] - x[1])  # noqa: E731
    assert ix / (area(a) + area(b) - ix) > 0.5
    assert b[2] > 640 or b[3] > 360 or a[2] > 320  # in main-frame pixels, not the substream's
