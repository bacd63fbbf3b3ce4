"""Decode cost per camera with PyAV's options, on real H.264 from ../shared/data (issue 18).

For each clip (its size, frame rate, GOP and whether it has B-frames) and each decoder setting
(FFmpeg's threads: auto with frame threading, one thread, slice threads; skipping
non-reference pictures; keyframes only), the whole clip is decoded as a camera would: every
packet demuxed and decoded, the pictures due at 5 analysed fps converted to BGR.  Reported:
CPU ms (this process, all threads: FFmpeg's decoding threads included) per second of video
and per analysed frame, the pictures decoded, the analysed frames delivered and the largest
gap between two of them (a setting that skips too much cannot keep 5 fps).  Settings are
measured in turns, ``--rounds`` times, the median kept; the host's load is recorded beside.

``--hwdecode cuda`` (or vaapi, qsv, auto) adds the machine's hardware decoder
(``sources/hwdecode.py``) with every picture and with non-reference pictures skipped: the CPU
it leaves to the cameras' analysis is the figure.  Where no device opens, the reason is
printed and the software rows stand alone.

    .venv/bin/python bench/decode.py [--rounds 3] [--hwdecode cuda] [--out bench/out]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import av
from rich.console import Console
from rich.table import Table

from citywatch.eval.host_load import LoadMeter
from citywatch.sources.decode import DecodeSetting, StreamFacts, choose_decode, configure
from citywatch.sources.hwdecode import HwChoice, choose_hw
from citywatch.sources.sampling import PtsSampler

REPO = Path(__file__).resolve().parents[1]
DATA = (REPO / ".." / "shared" / "data").resolve()
CLIPS = {
    "quiet 768x432 10fps": DATA / "video/intel_sample_videos/one-by-one-person-detection.mp4",
    "cars 768x432 10fps": DATA / "video/intel_sample_videos/car-detection.mp4",
    "crowd 1920x1080 25fps": DATA / "faces/crowd_video/video.mp4",
    "hamilton 640x360 30fps": DATA / "faces/watchlist_video/examples/short_hamilton_clip.mp4",
}
SETTINGS = (
    DecodeSetting("threads-auto", threads=0, thread_type="FRAME"),
    DecodeSetting("threads-1", threads=1),
    DecodeSetting("slice-2", threads=2, thread_type="SLICE"),
    DecodeSetting("threads-1+nonref", threads=1, skip="NONREF"),
    DecodeSetting("threads-1+nonkey", threads=1, skip="NONKEY"),
)


@dataclass
class Row:
    clip: str
    setting: str
    seconds: float
    packets: int
    decoded: int
    analysed: int
    max_gap_s: float
    cpu_ms_per_video_s: float
    cpu_ms_per_analysed: float


def facts_of(path: Path) -> StreamFacts:
    return StreamFacts.probe(str(path))


def run(
    path: Path, setting: DecodeSetting, fps: float, hw: HwChoice | None = None
) -> tuple[int, int, int, float, float, float]:
    sampler = PtsSampler(fps)
    packets = decoded = analysed = 0
    last: float | None = None
    gap = 0.0
    first: float | None = None
    end = 0.0
    t0 = time.process_time()
    with av.open(str(path), hwaccel=hw.accel() if hw is not None else None) as c:
        stream = c.streams.video[0]
        configure(stream, setting)
        for packet in c.demux(stream):
            if packet.size:
                packets += 1
            for vf in packet.decode():
                decoded += 1
                t = float(vf.time or 0.0)
                first = t if first is None else first
                end = t
                if not sampler.due(t):
                    continue
                vf.to_ndarray(format="bgr24")
                analysed += 1
                if last is not None:
                    gap = max(gap, t - last)
                last = t
        stated = (c.duration or 0) / 1_000_000
    cpu = time.process_time() - t0
    # the file's stated duration: a setting that decodes one keyframe still covers it all
    seconds = max(1e-9, stated or end - (first or 0.0))
    return packets, decoded, analysed, gap, cpu, seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    ap.add_argument("--hwdecode", default="off", choices=("off", "auto", "cuda", "vaapi", "qsv"))
    args = ap.parse_args()
    console = Console(width=160)
    clips = {k: v for k, v in CLIPS.items() if v.is_file()}
    if not clips:
        console.print(f"[red]no clips under {DATA}[/]")
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    chosen: dict[str, dict[str, object]] = {}
    hw = choose_hw(args.hwdecode)
    console.print(f"hardware decoder asked: {args.hwdecode}; got {hw.label()}")
    settings = list(SETTINGS)
    on_hw: dict[str, HwChoice] = {}
    if hw.hardware:
        for base in ("threads-1", "threads-1+nonref"):
            s = next(x for x in SETTINGS if x.name == base)
            name = f"{hw.kind}{base.removeprefix('threads-1')}"
            settings.append(DecodeSetting(name, threads=1, skip=s.skip))
            on_hw[name] = hw
    with LoadMeter() as meter:
        for name, path in clips.items():
            facts = facts_of(path)
            pick = choose_decode(facts, args.fps)
            chosen[name] = {"facts": asdict(facts), "choice": pick.name, "why": pick.why}
            cpu: dict[str, list[float]] = {s.name: [] for s in settings}
            last: dict[str, tuple[int, int, int, float, float, float]] = {}
            for _ in range(args.rounds):
                for s in settings:
                    last[s.name] = run(path, s, args.fps, on_hw.get(s.name))
                    cpu[s.name].append(last[s.name][4])
            for s in settings:
                packets, decoded, analysed, gap, _, seconds = last[s.name]
                c = statistics.median(cpu[s.name])
                rows.append(
                    Row(
                        name, s.name, round(seconds, 2), packets, decoded, analysed,
                        round(gap, 3), round(1000 * c / seconds, 1),
                        round(1000 * c / max(1, analysed), 2),
                    )
                )  # fmt: skip
    table = Table(title=f"decode cost per camera (CPU of all threads; {args.fps:g} analysed fps)")
    for col in (
        "clip", "setting", "packets", "decoded", "analysed", "max gap s",
        "CPU ms / video s", "CPU ms / analysed", "chosen",
    ):  # fmt: skip
        table.add_column(col, justify="right")
    for r in rows:
        mark = "<-" if chosen[r.clip]["choice"] == r.setting else ""
        table.add_row(
            r.clip, r.setting, str(r.packets), str(r.decoded), str(r.analysed),
            f"{r.max_gap_s:.2f}", f"{r.cpu_ms_per_video_s:.1f}", f"{r.cpu_ms_per_analysed:.2f}",
            mark,
        )  # fmt: skip
    console.print(table)
    for name, picked in chosen.items():
        console.print(f"{name}: {picked['choice']} ({picked['why']})")
    host = meter.metrics()
    console.print(f"host load during the run: {host}")
    out = {
        "rows": [asdict(r) for r in rows],
        "chosen": chosen,
        "host": host,
        "fps": args.fps,
        "hardware": hw.label(),
    }
    (args.out / "decode.json").write_text(json.dumps(out, indent=2))
    console.print(f"wrote {args.out / 'decode.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
