"""A still scene lets the analysed stream's decoder rest (issue 18, sources/still.py): keyframes
only (or reference pictures only) after still_after_s without motion, every picture again from
the first moving frame; the demuxed packets (evidence, recording) are untouched."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np
import pytest
from av.video.stream import VideoStream
from pydantic import SecretStr

from citywatch.config.camera import CameraConfig
from citywatch.engine.worker import CameraWorker
from citywatch.sources.decode import DecodeSetting, StreamFacts
from citywatch.sources.health import CameraHealth
from citywatch.sources.pyav import CameraSource
from citywatch.sources.still import MotionFeed, choose_still
from citywatch.vision.motion import MotionGate
from citywatch.vision.record import Frame, FrameRecord

FPS = 10
MOVES_AT = 63  # picture 63 (6.3 s): between the keyframes at 6.0 and 7.0 s


def _h264(out: Any, fps: int, **options: str) -> VideoStream:
    """A 160x90 H.264 stream of ``out`` at ``fps`` with these x264 options (no scene cuts)."""
    s = out.add_stream("libx264", rate=fps)
    assert isinstance(s, VideoStream)
    s.width, s.height, s.pix_fmt = 160, 90, "yuv420p"
    s.options = {"sc_threshold": "0", "preset": "veryfast", **options}
    return s


def still_then_moving(
    path: Path, *, fps: int = FPS, gop: int = 10, bframes: int = 2, frames: int = 100
) -> Path:
    """A still textured picture; from picture MOVES_AT a white square crosses it."""
    rng = np.random.default_rng(7)
    base = rng.integers(40, 200, (90, 160, 3), np.uint8)
    with av.open(str(path), "w") as out:
        s = _h264(out, fps, g=str(gop), keyint_min=str(gop), bf=str(bframes))
        for i in range(frames):
            img = base.copy()
            if i >= MOVES_AT:
                x = 4 * (i - MOVES_AT)
                img[30:60, x : x + 30] = 255
            out.mux(s.encode(av.VideoFrame.from_ndarray(img, format="bgr24")))
        out.mux(s.encode(None))
    return path


class GatePipeline:
    """The motion gate alone; notes each frame's time, verdict and the source's decode mode."""

    def __init__(self, health: Any) -> None:
        self.gate = MotionGate()
        self.health = health
        self.seen: list[tuple[float, bool, str]] = []
        self.decode_texts: dict[float, str] = {}

    def process(self, frame: Frame) -> tuple[FrameRecord, list[Any]]:
        record = FrameRecord(frame=frame)
        luma = frame.luma()
        record.motion = self.gate.update(luma if luma is not None else frame.image)
        health: CameraHealth = self.health()
        self.seen.append((round(frame.pts_s, 3), record.motion.moving, health.decode_now))
        self.decode_texts[round(frame.pts_s, 3)] = health.decode
        return record, []

    def flush(self) -> list[Any]:
        return []


class Sink:
    def handle(self, camera_id: str, sightings: list[Any]) -> None:
        pass


class CountTap:
    def __init__(self) -> None:
        self.packets = 0

    def packet(self, packet: Any, stream: Any, media_s: float) -> None:
        self.packets += 1

    def ended(self) -> None:
        pass


def run(
    video: Path, still: Literal["auto", "off"] = "auto", **cam: Any
) -> tuple[GatePipeline, CameraSource, int]:
    camera = CameraConfig(
        id="c", url=SecretStr(str(video)), analyse_fps=5, still_decode=still, **cam
    )
    tap = CountTap()
    src = CameraSource(camera, taps=[tap])
    pipe = GatePipeline(lambda: src.health)
    CameraWorker("c", src, pipe, Sink(), live=False, motion_feed=src.motion_feed).run()
    return pipe, src, tap.packets


def test_a_still_clip_drops_to_keyframes_and_motion_brings_every_picture_back(
    tmp_path: Path,
) -> None:
    video = still_then_moving(tmp_path / "still.mp4")
    full, full_src, full_packets = run(video, still="off")
    pipe, src, packets = run(video)
    # With it off: every picture decoded, 5 fps analysed throughout.
    assert full_src.health.frames_decoded == 100 and len(full.seen) == 50
    still = [t for t, moving, _ in pipe.seen if t < MOVES_AT / FPS]
    # Still from the start (after the gate's warm-up): after still_after_s (2 s) only the
    # keyframes (whole seconds) are analysed, and health says so.
    rested = [(t, now) for t, _, now in pipe.seen if 2.9 < t < MOVES_AT / FPS]
    assert [t for t, _ in rested] == [3.0, 4.0, 5.0, 6.0]
    assert {now for _, now in rested} == {"keyframes"}
    assert pipe.decode_texts[rested[-1][0]].endswith(
        "still scene: keyframes only (a keyframe every 1 s <= still_max_gop_s 2); resting now"
    )
    assert not src.health.decode.endswith("resting now")  # awake at the end
    assert still[:15] == pytest.approx([i * 0.2 for i in range(15)])  # 0 .. 2.8 s
    # Motion from 6.3 s is first seen on the next keyframe (7.0 s: at most one group of
    # pictures later), then every picture is decoded again: 5 fps from there on.
    moving = [t for t, m, _ in pipe.seen if m and t >= MOVES_AT / FPS]
    assert moving[0] == 7.0
    first_full = min(t for t, m, _ in full.seen if m and t >= MOVES_AT / FPS)
    assert moving[0] - first_full <= 1.0  # one group of pictures
    after = [t for t, _, _ in pipe.seen if t >= 7.0]
    assert np.allclose(np.diff(after), 0.2)
    assert [now for t, _, now in pipe.seen if t > 7.0] == ["normal"] * (len(after) - 1)
    # Fewer pictures decoded; the same frames analysed from the motion on.
    assert src.health.frames_decoded < full_src.health.frames_decoded
    assert after == [t for t, _, _ in full.seen if t >= 7.0]
    assert src.health.decode_now == "normal"
    assert "still scene: keyframes only (a keyframe every 1 s" in src.health.decode
    # Every demuxed packet still reached the taps (evidence clips, recording).
    assert packets == full_packets == 100


def test_a_long_group_of_pictures_rests_on_reference_pictures_only(tmp_path: Path) -> None:
    # Keyframes 5 s apart (> still_max_gop_s 2): B-frames are skipped instead.
    video = still_then_moving(tmp_path / "long.mp4", gop=50, bframes=1)
    full, full_src, _ = run(video, still="off")
    pipe, src, _ = run(video)
    rested = [now for t, _, now in pipe.seen if 3.0 < t < MOVES_AT / FPS]
    assert rested and set(rested) == {"reference"}
    assert "reference pictures only (a keyframe every 5 s > still_max_gop_s 2" in (
        src.health.decode
    )
    assert src.health.frames_decoded < full_src.health.frames_decoded
    moving = [t for t, m, _ in pipe.seen if m and t >= MOVES_AT / FPS]
    full_moving = [t for t, m, _ in full.seen if m and t >= MOVES_AT / FPS]
    assert moving[0] - full_moving[0] <= 0.2 + 1e-6
    assert [now for t, _, now in pipe.seen if t > moving[0]][-5:] == ["normal"] * 5


def test_a_source_nobody_reports_to_never_rests(tmp_path: Path) -> None:
    video = still_then_moving(tmp_path / "still.mp4")
    camera = CameraConfig(id="c", url=SecretStr(str(video)), analyse_fps=5)
    src = CameraSource(camera)
    assert len(list(src.frames())) == 50
    assert src.health.frames_decoded == 100 and src.health.decode_now == "normal"


def facts(fps: float, gop: int, ref_share: float | None) -> StreamFacts:
    return StreamFacts("h264", 640, 360, fps, gop, ref_share)


@pytest.mark.parametrize(
    ("stream", "base", "setting", "want"),
    [
        (facts(10, 10, 0.45), "DEFAULT", "auto", "keyframes"),  # the quiet clip: 1 s groups
        (facts(29.97, 60, 1.0), "DEFAULT", "auto", "keyframes"),  # 60 pictures at 29.97: 2 s
        (facts(25, 51, 1.0), "DEFAULT", "auto", "off"),  # 2.04 s, every picture a reference
        (facts(25, 100, 0.5), "DEFAULT", "auto", "reference"),
        (facts(25, 100, 0.5), "NONREF", "auto", "off"),  # skipped already
        (facts(25, 0, 0.5), "DEFAULT", "auto", "reference"),  # one keyframe seen so far
        (facts(25, 0, None), "DEFAULT", "auto", "off"),
        (facts(10, 10, 0.45), "DEFAULT", "off", "off"),
        (facts(10, 10, 0.45), "NONKEY", "auto", "off"),  # keyframes only already
    ],
)
def test_choose_still(stream: StreamFacts, base: str, setting: str, want: str) -> None:
    plan = choose_still(stream, DecodeSetting("x", skip=base), setting=setting)  # type: ignore[arg-type]
    assert plan.mode == want and plan.why


def test_the_latency_bound_is_the_config(tmp_path: Path) -> None:
    plan = choose_still(facts(10, 40, 1.0), DecodeSetting("x"), max_gop_s=4.0)
    assert plan.mode == "keyframes" and plan.gop_s == 4.0


def test_motion_feed() -> None:
    feed = MotionFeed()
    for i in range(10):
        feed.seen(i, i * 0.2, moving=i < 3)
    assert feed.still_for() == pytest.approx(6 * 0.2)
    assert feed.moved_after(1) and not feed.moved_after(2)
    assert feed.wait_for(9, 0.0) and not feed.wait_for(10, 0.0)
    feed.seen(10, 2.0, moving=True)
    assert feed.still_for() == 0.0 and feed.last_index == 10
    done = threading.Event()

    def waiter() -> None:
        feed.wait_for(99, 60.0)
        done.set()

    t = threading.Thread(target=waiter)
    t.start()
    feed.close()  # wakes a waiting reader at once
    t.join(5.0)
    assert done.is_set() and feed.closed


def forced_keyframes(path: Path, keys: set[int], frames: int = 120) -> Path:
    """A still picture at 10 fps, keyframes exactly at ``keys`` (no B-frames)."""
    rng = np.random.default_rng(3)
    base = rng.integers(40, 200, (90, 160, 3), np.uint8)
    with av.open(str(path), "w") as out:
        s = _h264(out, FPS, g="1000", bf="0", **{"forced-idr": "1"})
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(base, format="bgr24")
            frame.pict_type = av.video.frame.PictureType.I if i in keys else 0
            out.mux(s.encode(frame))
        out.mux(s.encode(None))
    return path


def test_a_group_longer_than_the_bound_brings_every_picture_back(tmp_path: Path) -> None:
    # Keyframes every second, then none from 4 s to 9 s: once that 5 s group is seen the
    # decoder stops resting and decodes it from its keyframe (the analysis misses nothing).
    video = forced_keyframes(tmp_path / "longer.mp4", {0, 10, 20, 30, 40, 90, 100, 110})
    pipe, src, _ = run(video)
    times = [t for t, _, _ in pipe.seen]
    assert [t for t in times if 2.9 < t < 4.1] == [3.0, 4.0]  # resting on 1 s groups
    assert [t for t in times if 4.0 < t < 9.0] == pytest.approx([4.2 + 0.2 * i for i in range(24)])
    assert "no rest (a keyframe every 5 s > still_max_gop_s 2" in src.health.decode


def test_the_plan_and_the_mode_reach_the_camera_health_record(tmp_path: Path) -> None:
    from citywatch.engine.local import health_record

    video = still_then_moving(tmp_path / "still.mp4", frames=60)  # ends still, resting
    camera = CameraConfig(id="c", url=SecretStr(str(video)), analyse_fps=5)
    src = CameraSource(camera)
    worker = CameraWorker(
        "c", src, GatePipeline(lambda: src.health), Sink(), live=False, motion_feed=src.motion_feed
    )
    worker.run()
    record = health_record(src.health, worker)["source"]
    assert record["decode_now"] == "keyframes"
    assert record["decode"].endswith(
        "still scene: keyframes only (a keyframe every 1 s <= still_max_gop_s 2); resting now"
    )


def test_no_verdict_in_time_brings_every_picture_back(tmp_path: Path) -> None:
    from citywatch.sources.decode import DecodeChooser
    from citywatch.sources.still import StillDecoder

    video = still_then_moving(tmp_path / "still.mp4", frames=60)
    modes: list[str] = []
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        chooser = DecodeChooser(5.0)
        chooser.opened(stream)
        feed = MotionFeed()
        still = StillDecoder(
            stream, chooser, feed, wait_s=0.0, on_change=lambda plan, now: modes.append(now)
        )
        index, decoded = 0, []
        for packet in container.demux(stream):
            if packet.size:
                chooser.packet(bytes(packet), bool(packet.is_keyframe))
            for frame in still.decode(packet):
                decoded.append(round(float(frame.time), 2))
                still.handed(index, float(frame.time))
                if frame.time < 3.5:  # the analysis answers until 3.5 s, then falls silent
                    feed.seen(index, float(frame.time), moving=False)
                index += 1
    # Rested at 3 s (still), skipping 3.1-3.9; the keyframe at 5 s found no verdict on the
    # one at 4 s: back to every picture, the group from 4 s decoded again (nothing missed).
    assert modes[-2:] == ["keyframes", "normal"]
    assert decoded == pytest.approx(
        [0.1 * i for i in range(31)] + [4.0 + 0.1 * i for i in range(20)]
    )
    assert still.wakeups == 1 and still.caught_up == 10  # the keyframe at 4 s and 9 more
