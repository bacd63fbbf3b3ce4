"""Continuous recording's cost (issue 17): CPU per recorded camera, bytes per hour, how soon
footage is ready after an alert, and what re-encoding with privacy masks would cost.

Test streams: ``../shared/data/faces/crowd_video/video.mp4`` (a 1920x1080 crowd, 105
pictures) decoded once, scaled to 1280x720 and 1920x1080 and encoded with PyAV's libx264 as a
camera would send it (``--seconds`` long, a keyframe every 2 s, no B-frames, 2 and 4 Mbit/s).
For each stream:

* **stream copy**: the demuxed packets go through the live path (``SegmentRecorder.packet``:
  the tap's copy, the queue, the writer thread's Annex B conversion, fragmented-MP4 mux,
  fsync, SHA-256, rename, the rows in SQLite), ``--passes`` times over (timestamps shifted:
  one continuous camera).  CPU is this process's CPU time (every thread) per second of
  footage, as a share of one core; demuxing is not counted (the camera's source does it for
  the analysis anyway).
* **bytes per hour** of the segments written.
* **segment ready**: wall time from a segment's last packet to its row committed; footage
  of an alert is in playback at most ``segment_s`` plus this after the alert.
* **evidence clip ready**: the clip maker's work once the seconds after the decision have
  arrived (cut 10 s from the packet buffer, decode, YuNet on every picture, blur, x264,
  write); an alert's clip is ready ``after_s`` (5 s) plus this after the decision.
* **masked re-encode**: decode every picture, black out a privacy mask (20 % of the
  picture), encode x264 veryfast at the stream's bit rate: the CPU continuous recording of a
  masked camera would take, per second of footage.

The host is shared: ``host_other_busy`` (the share of the CPUs other work took during each
measurement) is written beside every figure; compare figures of one run only.

    .venv/bin/python bench/recording.py [--seconds 20] [--passes 6] [--out bench/out]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from citywatch.config.faces import FacesConfig
from citywatch.eval.common import new_figure, save_figure, write_json
from citywatch.eval.host_load import LoadMeter
from citywatch.services import recordings
from citywatch.services.segment_recorder import SegmentRecorder
from citywatch.sources.recorder import PacketBuffer, cut, decode
from citywatch.store.db import make_engine, make_session_factory, upgrade_database
from citywatch.store.media import MediaStore
from citywatch.store.models import CameraRow
from citywatch.vision.clips import ClipPicture, redact_clip
from citywatch.vision.faces.registry import build_detector
from citywatch.vision.masks import PrivacyMasker

REPO = Path(__file__).resolve().parents[1]
SOURCE = (REPO / ".." / "shared" / "data" / "faces" / "crowd_video" / "video.mp4").resolve()
FPS, GOP = 25, 50
STREAMS = {"720p": (1280, 720, 2_000_000), "1080p": (1920, 1080, 4_000_000)}
MASK = [(0.0, 0.0), (0.45, 0.0), (0.45, 0.45), (0.0, 0.45)]  # ~20 % of the picture
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()


@contextmanager
def measured(out: dict[str, Any], key: str) -> Iterator[None]:
    """CPU seconds (every thread of this process), wall seconds and the host's other load."""
    with LoadMeter() as meter:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        yield
        out[f"{key}_cpu_s"] = time.process_time() - cpu0
        out[f"{key}_wall_s"] = time.perf_counter() - wall0
    out[f"{key}_host_other_busy"] = meter.metrics()["host_other_busy"]


def source_pictures() -> list[np.ndarray]:
    with av.open(str(SOURCE)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]


def encode_stream(
    path: Path, pictures: list[np.ndarray], size: tuple[int, int, int], s: float
) -> None:
    w, h, bitrate = size
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=FPS)
        st.width, st.height, st.pix_fmt, st.bit_rate = w, h, "yuv420p", bitrate
        st.options = {
            "preset": "veryfast",
            "g": str(GOP),
            "keyint_min": str(GOP),
            "sc_threshold": "0",
            "bf": "0",
            "maxrate": str(bitrate),
            "bufsize": str(bitrate),
        }
        scaled = [
            np.asarray(cv2.resize(p, (w, h), interpolation=cv2.INTER_AREA), np.uint8)
            for p in pictures
        ]
        n = len(scaled)
        for i in range(int(s * FPS)):
            j = i % (2 * n - 2)  # forwards then backwards: no jump at the loop
            frame = av.VideoFrame.from_ndarray(scaled[j if j < n else 2 * n - 2 - j], "bgr24")
            out.mux(st.encode(frame))
        out.mux(st.encode(None))


def stream_copy(path: Path, work: Path, passes: int, segment_s: float) -> dict[str, Any]:
    url = f"sqlite:///{work / 'rec.db'}"
    upgrade_database(url)
    sessions = make_session_factory(make_engine(url))
    with sessions() as s:
        s.add(
            CameraRow(
                id="cam", url_redacted="", purposes=[], legal_basis="b", impact_assessment="d"
            )
        )
        s.commit()
    media = MediaStore(work / "media")
    src = av.open(str(path))
    stream = src.streams.video[0]
    packets = [p for p in src.demux(stream) if p.size and p.pts is not None]
    tb = stream.time_base or Fraction(1, 90_000)
    base = int(packets[0].pts or 0)
    span = (int(packets[-1].pts or 0) - base) + round(1 / (FPS * tb))
    now = {"t": T0}
    rec = SegmentRecorder("cam", sessions, media, segment_s=segment_s, clock=lambda: now["t"])
    res: dict[str, Any] = {}
    with measured(res, "copy"):
        for k in range(passes):
            for p in packets:
                pts = int(p.pts or 0)
                if k:
                    pts += span
                    p.pts, p.dts = pts, (p.dts + span if p.dts is not None else None)
                media_s = float((pts - base) * tb)
                now["t"] = T0 + media_s
                rec.packet(p, stream, media_s)
            rec.drain()
        wall0 = time.perf_counter()
        rec.ended()
        rec.drain()
        res["segment_ready_s"] = time.perf_counter() - wall0
    health = rec.close()
    footage_s = passes * float(span * tb)
    with sessions() as s:
        segs = recordings.segments_in_range(
            s,
            "cam",
            dt.datetime.fromtimestamp(T0 - 1, dt.UTC),
            dt.datetime.fromtimestamp(T0 + footage_s + 1, dt.UTC),
        )
    src.close()
    res.update(
        footage_s=footage_s,
        segments=len(segs),
        state=health.state,
        bytes_per_hour=sum(x.bytes for x in segs) * 3600 / footage_s,
        copy_core_pct=100 * res["copy_cpu_s"] / footage_s,
    )
    return res


def clip_ready(path: Path, work: Path) -> dict[str, Any]:
    """The evidence clip's work after its last second arrived (10 s, YuNet, x264)."""
    buf = PacketBuffer("cam", seconds=60, max_bytes=1 << 30)
    with av.open(str(path)) as src:
        stream = src.streams.video[0]
        first = None
        for p in src.demux(stream):
            if p.size and p.pts is not None and p.time_base is not None:
                t = float(p.pts * p.time_base)
                first = t if first is None else first
                buf.packet(p, stream, t - first)
    detector = build_detector(FacesConfig().detector)
    media = MediaStore(work / "clips")
    res: dict[str, Any] = {}
    with measured(res, "clip"):
        packets = cut(buf.snapshot(), 2.0, 12.0)
        pictures = [ClipPicture(d.media_s, d.image) for d in decode(packets)]
        clip = redact_clip(pictures, detector, min_score=0.5, keep=None)
        media.publish(media.stage_clip("clip", "bench", clip.data))
    res["clip_pictures"] = len(pictures)
    return res


def masked_reencode(path: Path, bitrate: int, seconds: float) -> dict[str, Any]:
    masker = PrivacyMasker([MASK])
    res: dict[str, Any] = {}
    out = av.open(str(path.with_suffix(".masked.mp4")), "w")
    with av.open(str(path)) as src, measured(res, "mask"):
        vin = src.streams.video[0]
        st = out.add_stream("libx264", rate=FPS)
        st.width, st.height, st.pix_fmt, st.bit_rate = vin.width, vin.height, "yuv420p", bitrate
        st.options = {"preset": "veryfast", "g": str(GOP), "bf": "0"}
        n = 0
        for frame in src.decode(vin):
            img = masker.apply(np.asarray(frame.to_ndarray(format="bgr24"), np.uint8))
            out.mux(st.encode(av.VideoFrame.from_ndarray(img, "bgr24")))
            n += 1
            if n >= seconds * FPS:
                break
        out.mux(st.encode(None))
    out.close()
    res["mask_core_pct"] = 100 * res["mask_cpu_s"] / (n / FPS)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each test stream")
    ap.add_argument("--passes", type=int, default=6, help="times each stream is recorded")
    ap.add_argument("--segment-s", type=float, default=60.0)
    ap.add_argument("--mask-seconds", type=float, default=8.0)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = ap.parse_args(argv)
    console = Console()
    if not SOURCE.is_file():
        console.print(f"[red]{SOURCE} is missing[/red]: ../shared/data is needed")
        return 2
    pictures = source_pictures()
    report: dict[str, Any] = {
        "seconds": args.seconds,
        "passes": args.passes,
        "segment_s": args.segment_s,
    }
    with tempfile.TemporaryDirectory(prefix="cw-bench-rec-") as tmp:
        for name, size in STREAMS.items():
            work = Path(tmp) / name
            work.mkdir()
            stream = work / "camera.mp4"
            encode_stream(stream, pictures, size, args.seconds)
            console.print(f"{name}: test stream {stream.stat().st_size / 1e6:.1f} MB")
            row = stream_copy(stream, work, args.passes, args.segment_s)
            row |= clip_ready(stream, work)
            row |= masked_reencode(stream, size[2], args.mask_seconds)
            report |= {f"{name}_{k}": v for k, v in row.items()}
    table = Table(title="continuous recording, per camera (shared host: see host_other_busy)")
    for col in (
        "stream",
        "copy % core",
        "GB/hour",
        "segment ready s",
        "clip ready s",
        "masked re-encode % core",
        "host busy (copy)",
    ):
        table.add_column(col)
    for name in STREAMS:

        def r(key: str, name: str = name) -> Any:
            return report[f"{name}_{key}"]

        table.add_row(
            name,
            f"{r('copy_core_pct'):.2f}",
            f"{r('bytes_per_hour') / 1e9:.2f}",
            f"{r('segment_ready_s'):.3f}",
            f"{r('clip_wall_s'):.1f}",
            f"{r('mask_core_pct'):.0f}",
            f"{r('copy_host_other_busy') or 0:.2f}",
        )
    console.print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "recording.json", report)
    fig = new_figure(6.0, 3.5)
    ax = fig.add_subplot(1, 1, 1)
    names = list(STREAMS)
    ax.bar([f"{n}\ncopy" for n in names], [report[f"{n}_copy_core_pct"] for n in names])
    ax.bar([f"{n}\nmasked" for n in names], [report[f"{n}_mask_core_pct"] for n in names])
    ax.set_yscale("log")
    ax.set_ylabel("% of one core per camera")
    ax.axhline(1.0, color="grey", linestyle=":", label="target: 1 % (stream copy)")
    ax.legend()
    save_figure(fig, args.out / "recording.png")
    console.print(f"wrote {args.out / 'recording.json'} and recording.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
