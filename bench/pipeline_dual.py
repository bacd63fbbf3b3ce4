"""Helpers of bench/pipeline.py: its per-scene result record, the substream copy of a video,
a camera's source as ``engine/camera.py`` builds it (one stream, or two with main-stream
evidence), the CPU of a main-stream snapshot, and the analysis CPU of still frames counted
apart."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from citywatch.config.camera import CameraConfig
from citywatch.config.root import CitywatchConfig
from citywatch.decisions.types import Sighting
from citywatch.engine.assemble import Models
from citywatch.engine.worker import PipelineLike
from citywatch.sources.pyav import CameraSource
from citywatch.vision.record import Frame, FrameRecord


def substream(video: Path, cache: Path, size: tuple[int, int] = (640, 360)) -> Path:
    """A 640x360 H.264 copy of ``video`` (same rate, a keyframe every 2 s), made once."""
    import av
    import cv2

    out_path = cache / f"{video.stem}-{size[0]}x{size[1]}.mp4"
    if out_path.is_file():
        return out_path
    cache.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(".part.mp4")
    with av.open(str(video)) as inp, av.open(str(tmp), "w") as out:
        vin = inp.streams.video[0]
        rate = vin.average_rate or 25
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"g": str(round(2 * float(rate))), "preset": "veryfast", "crf": "20"}
        for vf in inp.decode(vin):
            image = cv2.resize(vf.to_ndarray(format="bgr24"), size, interpolation=cv2.INTER_AREA)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        out.mux(stream.encode(None))
    tmp.rename(out_path)
    return out_path


def dual_supported() -> bool:
    return "detect_url" in CameraConfig.model_fields


@dataclass
class Result:
    scene: str
    mode: str
    frames: int = 0
    cpu_s: float = 0.0
    native_fps: float = 0.0
    analysed_fps: float = 5.0
    found: set[str] = field(default_factory=set)
    analysis_s: float = 0.0  # the analysis thread's CPU only (the figure before issue 18)
    decoded: int = 0  # pictures the source decoded (every delivered one, skips apart)
    still_s: float = 0.0  # analysis CPU of the frames without motion ...
    still: int = 0  # ... and their number
    snapshot_ms: float = 0.0  # dual-stream: CPU to decode one main-stream snapshot picture
    video_s: float = 0.0  # media seconds the analysed videos cover (0: count analysed frames)
    round: int = 1  # pipeline.py --rounds: which turn
    decode: str = ""  # the source's health 'decode' (how it decoded, still scene included)
    moves: list[tuple[float, bool]] = field(default_factory=list)  # (pts, moving) analysed
    idle_cpu_s: float = 0.0  # CPU (every thread) between consecutive still frames ...
    idle_video_s: float = 0.0  # ... and the media time between them

    @property
    def idle_ms_per_s(self) -> float:
        """What the camera pays per second of still video, decode included (measured between
        consecutive still frames, whatever was decoded between them)."""
        return 1000.0 * self.idle_cpu_s / self.idle_video_s if self.idle_video_s else 0.0

    @property
    def ms_per_frame(self) -> float:
        """All of the camera's CPU (decode of every delivered frame, reading, analysis) per
        analysed frame."""
        return 1000.0 * self.cpu_s / max(1, self.frames)

    @property
    def analysis_ms(self) -> float:
        return 1000.0 * self.analysis_s / max(1, self.frames)

    @property
    def still_ms(self) -> float:
        """A still frame's analysis plus the decode share of an analysed frame: what an idle
        camera pays per analysed frame."""
        decode = (self.cpu_s - self.analysis_s) / max(1, self.frames)
        return 1000.0 * (self.still_s / max(1, self.still) + decode)

    @property
    def idle_streams_per_core(self) -> float:
        return 1000.0 / (self.still_ms * self.analysed_fps) if self.still else 0.0

    @property
    def fps_per_core(self) -> float:
        return self.frames / self.cpu_s if self.cpu_s else 0.0

    @property
    def streams_per_core(self) -> float:
        """Seconds of video one core keeps up with per second (a camera that rests its
        decoder on a still scene analyses fewer frames than analysed_fps); without
        ``video_s``, analysed frames per second per core over the analysed rate."""
        if self.video_s and self.cpu_s:
            return self.video_s / self.cpu_s
        return self.fps_per_core / self.analysed_fps if self.analysed_fps else 0.0


class Timed:
    """The pipeline, with the analysis CPU of its frames without motion counted apart."""

    def __init__(self, inner: PipelineLike) -> None:
        self.inner = inner
        self.still_s = 0.0
        self.still = 0

    def process(self, frame: Frame) -> tuple[FrameRecord, list[Sighting]]:
        t0 = time.thread_time()
        record, out = self.inner.process(frame)
        if record.motion is not None and not record.motion.moving:
            self.still_s += time.thread_time() - t0
            self.still += 1
        return record, out

    def flush(self) -> list[Sighting]:
        return self.inner.flush()


def camera_source(cam: CameraConfig, cfg: CitywatchConfig, models: Models) -> tuple[Any, Any, Any]:
    """(source, main-stream evidence or None, main packet buffer or None) as
    ``engine/camera.py`` builds them."""
    if getattr(cam, "detect_url", None) is None:
        return CameraSource(cam), None, None
    from citywatch.engine.dual import MainStreamEvidence
    from citywatch.sources.mainstream import ClockLink, ClockTap, DualSource
    from citywatch.sources.recorder import PacketBuffer

    link = ClockLink(live=False)
    buffer = PacketBuffer(cam.id, seconds=60.0, max_bytes=64 * 1024 * 1024)
    main = CameraSource(cam, taps=[ClockTap(link), buffer], role="main")
    source = DualSource(CameraSource(cam), main, link)
    evidence = MainStreamEvidence(
        cam.id,
        buffer,
        link,
        redactor=lambda: models.face_detector,
        min_score=cfg.faces.detector.redact_min_score,
    )
    return source, evidence, buffer


def snapshot_ms(buffer: Any, seconds: float, n: int = 5) -> float:
    """CPU ms to decode the main picture nearest to ``n`` times spread over the video."""
    from citywatch.sources.mainstream import picture_at

    packets = buffer.snapshot()
    spent, done = 0.0, 0
    for k in range(n):
        t0 = time.thread_time()
        pic = picture_at(packets, seconds * (k + 0.5) / n)
        spent += time.thread_time() - t0
        done += pic is not None
    return 1000.0 * spent / max(1, done)
