"""Before/after of issue 18 in one run: bench/pipeline.py on an earlier commit's code and on
this tree's, in turns, on the same machine under the same load.

The earlier code is taken with ``git archive <commit> src`` into ``bench/out/cache`` (nothing
in the working tree changes); each side runs ``bench/pipeline.py --citywatch-only`` in its own
process with ``PYTHONPATH`` pointing at its ``src``.  Both sides are measured the new way
(CPU of every thread per analysed frame: the decode of every delivered frame counted); the
analysis thread's CPU alone (the figure before issue 18) is shown beside.

    .venv/bin/python bench/pipeline_compare.py [--base 67d0b24] [--rounds 1] [--scenes quiet,...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
SCENES = ("quiet", "crowd", "crowd-dual", "plates", "hamilton")


def base_src(commit: str, cache: Path) -> Path:
    target = cache / f"base-{commit}"
    if (target / "src" / "citywatch").is_dir():
        return target / "src"
    target.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit, "src"], check=True, capture_output=True
    ).stdout
    tar = target / "src.tar"
    tar.write_bytes(archive)
    with tarfile.open(tar) as t:
        t.extractall(target, filter="data")
    tar.unlink()
    return target / "src"


def run_side(src: Path, tag: str, out: Path, scenes: str = "") -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmd = [sys.executable, str(REPO / "bench" / "pipeline.py"), "--citywatch-only"]
    if scenes:
        cmd += ["--scenes", scenes]
    subprocess.run([*cmd, "--tag", tag, "--out", str(out)], check=True, env=env)
    data: dict[str, object] = json.loads((out / f"{tag}.json").read_text())
    return data


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="67d0b24", help="the commit measured as 'before'")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    ap.add_argument("--scenes", default="", help="only these scenes (bench/pipeline.py --scenes)")
    args = ap.parse_args()
    console = Console(width=170)
    old = base_src(args.base, args.out / "cache")
    runs: dict[str, list[dict[str, object]]] = {"before": [], "after": []}
    for k in range(args.rounds):
        for side, src in (("before", old), ("after", REPO / "src")):
            console.log(f"round {k + 1}: {side} ({src})")
            runs[side].append(run_side(src, f"compare-{side}-{k + 1}", args.out, args.scenes))

    def val(side: str, key: str) -> list[object]:
        return [r.get(key) for r in runs[side]]

    def fmt(xs: list[object]) -> str:
        return " / ".join("-" if x is None else str(x) for x in xs)

    table = Table(title=f"issue 18 before ({args.base}) and after, same run, per round")
    for col in ("scene", "metric", "before", "after"):
        table.add_column(col, justify="right")
    for scene in SCENES:
        for metric in (
            "streams_per_core",
            "ms_per_frame",
            "analysis_ms_per_frame",
            "idle_streams_per_core",
            "decoded",
            "found",
        ):
            key = f"{scene}_citywatch_{metric}"
            table.add_row(scene, metric, fmt(val("before", key)), fmt(val("after", key)))
    for key in (
        "mix_streams_per_core_citywatch",
        "mix_dual_streams_per_core_citywatch",
        "hamilton_recall_citywatch",
        "plates_found_citywatch",
        "latency_frame_to_alert_p95_s",
        "latency_first_seen_to_alert_p95_s",
        "alerts_timed",
        "host_other_busy",
    ):
        table.add_row("", key, fmt(val("before", key)), fmt(val("after", key)))
    console.print(table)
    summary = {"base": args.base, "rounds": args.rounds, **runs}
    (args.out / "pipeline_compare.json").write_text(json.dumps(summary, indent=2))
    plot(args.out / "pipeline_compare.png", runs)
    console.print(f"wrote {args.out / 'pipeline_compare.json'} and pipeline_compare.png")
    return 0


def plot(png: Path, runs: dict[str, list[dict[str, object]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = [*SCENES, "mix", "mix-dual"]
    keys = [f"{s}_citywatch_streams_per_core" for s in SCENES] + [
        "mix_streams_per_core_citywatch",
        "mix_dual_streams_per_core_citywatch",
    ]
    fig, ax = plt.subplots(figsize=(10, 4))
    x = np.arange(len(names))
    for k, side in enumerate(("before", "after")):
        vals = [
            float(np.nanmean([float(r.get(key) or np.nan) for r in runs[side]])) for key in keys
        ]
        ax.bar(x + (k - 0.5) * 0.38, np.nan_to_num(vals), 0.38, label=side)
    ax.set_xticks(x, names)
    ax.set_ylabel("camera streams per core (5 analysed fps)")
    ax.set_title("issue 18: cost per camera, decode included, same run")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
