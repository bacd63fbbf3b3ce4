"""How much later a resting decoder lets the motion gate see motion (issue 18, sources/still.py).

Each video runs through a camera source and worker twice, the motion gate alone as the
analysis: with ``still_decode: off`` (every picture decoded) and ``auto`` (keyframes only, or
reference pictures only, after ``still_after_s`` without motion).  A motion onset is a moving
frame after ``still_after_s`` of still ones with every picture decoded; its delay is how much
later the first moving frame at or after it was analysed with the decoder resting.  A motion
episode (consecutive moving frames, every picture decoded) is missed when the resting run
analysed no moving frame within it.  ``--gop`` re-encodes each video first (H.264, a keyframe
every that many pictures, B-frames as x264 chooses): a held-out check at a camera's usual
group of pictures.  Both runs are deterministic (the resting source waits for the verdicts).

    .venv/bin/python bench/still_onsets.py [VIDEO ...] [--gop 10] [--out bench/out]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

from citywatch.config.camera import CameraConfig
from citywatch.engine.worker import CameraWorker
from citywatch.sources.pyav import CameraSource
from citywatch.vision.motion import MotionGate
from citywatch.vision.record import Frame, FrameRecord
from pipeline_still import episodes_missed, onset_delays

REPO = Path(__file__).resolve().parents[1]
QUIET = REPO.parent / "shared/data/video/intel_sample_videos/one-by-one-person-detection.mp4"


class GateOnly:
    def __init__(self) -> None:
        self.gate = MotionGate()
        self.seen: list[tuple[float, bool]] = []

    def process(self, frame: Frame) -> tuple[FrameRecord, list[Any]]:
        record = FrameRecord(frame=frame)
        luma = frame.luma()
        record.motion = self.gate.update(luma if luma is not None else frame.image)
        self.seen.append((frame.pts_s, record.motion.moving))
        return record, []

    def flush(self) -> list[Any]:
        return []


class Nowhere:
    def handle(self, camera_id: str, sightings: list[Any]) -> None:
        pass


def reencode(video: Path, gop: int, cache: Path) -> Path:
    import av

    out_path = cache / f"{video.stem}-g{gop}.mp4"
    if out_path.is_file():
        return out_path
    cache.mkdir(parents=True, exist_ok=True)
    with av.open(str(video)) as inp, av.open(str(out_path), "w") as out:
        vin = inp.streams.video[0]
        stream: Any = out.add_stream("libx264", rate=vin.average_rate or 25)
        stream.width, stream.height, stream.pix_fmt = vin.width, vin.height, "yuv420p"
        stream.options = {"g": str(gop), "crf": "23", "preset": "veryfast"}
        for vf in inp.decode(vin):
            image = vf.to_ndarray(format="bgr24")
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        out.mux(stream.encode(None))
    return out_path


def one(video: Path, still: Literal["auto", "off"]) -> dict[str, Any]:
    cam = CameraConfig(id="c", url=SecretStr(str(video)), analyse_fps=5.0, still_decode=still)
    source = CameraSource(cam)
    gate = GateOnly()
    worker = CameraWorker("c", source, gate, Nowhere(), live=False, motion_feed=source.motion_feed)
    p0 = time.process_time()
    worker.run()
    health = source.health
    return {
        "seen": gate.seen,
        "cpu_s": time.process_time() - p0,
        "decoded": health.frames_decoded,
        "analysed": len(gate.seen),
        "decode": health.decode,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("videos", nargs="*", type=Path, default=[QUIET])
    ap.add_argument("--gop", type=int, default=0, help="re-encode with this keyframe interval")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = ap.parse_args()
    report: dict[str, Any] = {}
    for video in args.videos:
        path = reencode(video, args.gop, args.out / "cache") if args.gop else video
        full, rested = one(path, "off"), one(path, "auto")
        delays = onset_delays(full["seen"], rested["seen"])
        row = {
            "decoded": [full["decoded"], rested["decoded"]],
            "analysed": [full["analysed"], rested["analysed"]],
            "gate_cpu_s": [round(full["cpu_s"], 2), round(rested["cpu_s"], 2)],
            "onsets": len(delays),
            "onset_delay_s": [round(d, 2) for d in delays],
            "onset_delay_max_s": round(max(delays, default=0.0), 2),
            "episodes": sum(
                1
                for i, (_, m) in enumerate(full["seen"])
                if m and (i == 0 or not full["seen"][i - 1][1])
            ),
            "episodes_missed": episodes_missed(full["seen"], rested["seen"]),
            "decode": rested["decode"],
        }
        report[path.name] = row
        print(path.name, json.dumps(row))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "still_onsets.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
