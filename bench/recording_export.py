"""What a signed evidence export of recorded footage costs (issue 17): cutting by stream copy,
hashing and signing, and the offline check.

Footage: the 1080p crowd clip of ../shared/data (H.264 High, 25 fps, ~4.6 Mbit/s), copied
back to back by stream copy into one-minute segments (as the recorder writes them), then
``--minutes`` such segments in a row.  Measured, each over the whole range:

* ``export``: ``export_files`` (the service's cut + hash + sign, without the database):
  wall and CPU seconds, per hour of footage;
* ``hash_sources``: the check of every source segment against its stored SHA-256 the
  service makes first;
* ``verify``: ``verify_export`` of the zip (the court's check);
* ``host_other_busy``: the share of the CPUs other processes took meanwhile.

Writes a table and ``bench/out/recording_export.json``.

    .venv/bin/python bench/recording_export.py [--minutes 10] [--out bench/out]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
import time
from pathlib import Path

from rich.console import Console

from citywatch.audit.chain import Actor
from citywatch.audit.evidence_export import file_sha256, verify_export
from citywatch.audit.keys import HmacKey
from citywatch.eval.common import rows_table, write_json
from citywatch.eval.host_load import load_between, sample
from citywatch.services.recording_export import export_files
from citywatch.sources.remux import SegmentFile, remux_range

REPO = Path(__file__).resolve().parents[1]
CLIP = (REPO / ".." / "shared" / "data" / "faces/crowd_video/video.mp4").resolve()
T0 = dt.datetime(2026, 11, 30, 14, 0, tzinfo=dt.UTC)
CLIP_S = 4.2  # the crowd clip's length, about


def one_minute_segment(folder: Path) -> Path:
    """~60 s of the clip, copied back to back by stream copy."""
    copies = [SegmentFile(CLIP, T0 + dt.timedelta(seconds=CLIP_S * k)) for k in range(15)]
    parts = remux_range(copies, T0, T0 + dt.timedelta(seconds=60), lambda n: folder / "m.mp4")
    return parts[0].path


def timed(fn: object) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()  # type: ignore[operator]
    return time.perf_counter() - wall, time.process_time() - cpu, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=int, default=10)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = ap.parse_args()
    console = Console()
    if not CLIP.is_file():
        console.print(f"[yellow]skipped:[/] {CLIP} is not there (../shared/data)")
        return
    key = HmacKey(b"bench-key-" * 4, "bench")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        minute = one_minute_segment(tmp)
        segs = []
        for k in range(args.minutes):
            path = tmp / f"seg{k:03d}.mp4"
            shutil.copy(minute, path)
            segs.append(SegmentFile(path, T0 + dt.timedelta(minutes=k)))
        footage_bytes = sum(s.path.stat().st_size for s in segs)
        before = sample()
        hash_wall, hash_cpu, _ = timed(lambda: [file_sha256(s.path) for s in segs])
        start, end = T0 + dt.timedelta(seconds=1), T0 + dt.timedelta(minutes=args.minutes)
        exp_wall, exp_cpu, _result = timed(
            lambda: export_files(
                segs,
                tmp / "export.zip",
                key,
                camera_id="bench",
                camera_name="bench",
                start=start,
                end=end,
                case_ref="BENCH",
                actor=Actor("bench", "investigator"),
            )
        )
        ver_wall, ver_cpu, check = timed(lambda: verify_export(tmp / "export.zip", key))
        load = load_between(before, sample())
        assert check.ok, check.problems  # type: ignore[attr-defined]
        export_bytes = (tmp / "export.zip").stat().st_size
    per_hour = 60.0 / args.minutes
    rows = [
        {
            "step": name,
            "wall_s": round(w, 3),
            "cpu_s": round(c, 3),
            "wall_s_per_footage_hour": round(w * per_hour, 2),
            "cpu_s_per_footage_hour": round(c * per_hour, 2),
            "mb_per_s": round(footage_bytes / 1e6 / w, 1) if w > 0 else 0.0,
        }
        for name, w, c in (
            ("hash_sources", hash_wall, hash_cpu),
            ("export", exp_wall, exp_cpu),
            ("verify", ver_wall, ver_cpu),
        )
    ]
    console.print(rows_table(f"export of {args.minutes} min of 1080p H.264", rows))
    metrics: dict[str, object] = {
        "minutes": args.minutes,
        "footage_mb": round(footage_bytes / 1e6, 1),
        "footage_mb_per_hour": round(footage_bytes / 1e6 * per_hour, 1),
        "export_mb": round(export_bytes / 1e6, 1),
    }
    for r in rows:
        for k, v in r.items():
            if k != "step":
                metrics[f"{r['step']}.{k}"] = v
    if load is not None:
        metrics.update(load.metrics())
        note = load.note()
        if note:
            console.print(f"[yellow]note:[/] {note}")
    args.out.mkdir(parents=True, exist_ok=True)
    path = write_json(args.out / "recording_export.json", metrics)
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
