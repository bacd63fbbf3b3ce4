"""Before/after of issue 15 in one run: ``citywatch eval plates`` with an earlier commit's code
and with this tree's, in turns, on the same photos, machine and load.

Issue 15's cost targets were set on one host ("93 ms per EU photo today"); CPU ms per photo
differ between hosts by more than the changes measured (the same tree reads an EU photo in
56 CPU ms on one of this project's machines and 37 on another), so a cost claim needs the
baseline measured beside it.  The earlier code is taken with ``git archive <commit> src``
(``bench/pipeline_compare.py``'s ``base_src``: nothing in the working tree changes); each side
runs ``citywatch eval plates --json`` in its own process with ``PYTHONPATH`` at its ``src`` and
its own defaults, one inference thread.  Every set is run by both sides in each round, the
sides taking turns, so load from other processes falls on both alike.

The default base, ``09bc3b4``, is the last commit before issue 15's first change: the stage the
issue measured (PP-OCR's text detector and recogniser).  Prints per set the exact rate and
CPU ms per photo of each side (median over rounds) and after/before; writes
``plates_compare.json`` and ``plates_compare.png``.

    .venv/bin/python bench/plates_compare.py [--base 09bc3b4] [--rounds 2]
        [--set images_eu:HR,RS,DE,SK,CZ,EU] [--set images_us:US:a] [--out bench/out]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

from citywatch.eval.common import new_figure, save_figure  # noqa: E402
from pipeline_compare import base_src  # noqa: E402

PLATES = REPO.parent / "shared" / "data" / "plates"
DEFAULT_SETS = (
    "images_eu:HR,RS,DE,SK,CZ,EU",
    "images_eu:RS,HR,NL,DE,EU,US",
    "images_us:US:a",
    "images_us:US:b",
)
SIDES = ("before", "after")
METRICS = ("exact_rate", "cpu_ms_per_image", "ms_per_image")


def parse_set(spec: str) -> tuple[str, str, str]:
    """``NAME:FORMATS[:SUBSET]`` -> (folder name, formats, subset 'all', 'a' or 'b')."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise SystemExit(f"--set {spec!r}: expected NAME:FORMATS[:a|b|all]")
    subset = parts[2] if len(parts) == 3 else "all"
    if subset not in ("a", "b", "all"):
        raise SystemExit(f"--set {spec!r}: the subset must be a, b or all, got {subset!r}")
    return parts[0], parts[1], subset


def run_eval(src: Path, spec: str, out: Path, data: Path) -> dict[str, float]:
    """One ``citywatch eval plates`` of ``spec`` with the code in ``src``; its flat metrics."""
    name, formats, subset = parse_set(spec)
    images = data / name
    if not images.is_dir():
        raise SystemExit(f"--set {spec!r}: no photo folder {images}")
    out.mkdir(parents=True, exist_ok=True)
    result = out / "plates_compare_side.json"
    result.unlink(missing_ok=True)
    cmd = [
        sys.executable, "-c", "import sys; from citywatch.cli.main import app; sys.exit(app())",
        "eval", "plates", "--images", str(images), "--formats", formats, "--subset", subset,
        "--threads", "1", "--json", str(result),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(cmd, env=env, cwd=out, capture_output=True, text=True)
    if done.returncode != 0 or not result.is_file():
        tail = (done.stderr or done.stdout)[-2000:]
        raise SystemExit(f"eval plates of {spec} with {src} failed ({done.returncode}):\n{tail}")
    flat: dict[str, float] = json.loads(result.read_text())
    return {k: float(flat[k]) for k in (*METRICS, "host_other_busy") if k in flat}


def summarise(runs: dict[str, dict[str, list[dict[str, float]]]]) -> dict[str, dict[str, float]]:
    """Per set: each side's median of each metric over the rounds, and the cost ratio."""
    out: dict[str, dict[str, float]] = {}
    for spec, sides in runs.items():
        row: dict[str, float] = {}
        for side in SIDES:
            for m in METRICS:
                vals = [r[m] for r in sides[side] if m in r]
                if vals:
                    row[f"{side}_{m}"] = statistics.median(vals)
        if row.get("before_cpu_ms_per_image"):
            row["cpu_after_over_before"] = (
                row["after_cpu_ms_per_image"] / row["before_cpu_ms_per_image"]
            )
        out[spec] = row
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="09bc3b4", help="the commit measured as 'before'")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--set", action="append", dest="sets", help="NAME:FORMATS[:a|b|all]")
    ap.add_argument("--data", type=Path, default=PLATES, help="folder of the photo sets")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = ap.parse_args()
    sets = args.sets or list(DEFAULT_SETS)
    for spec in sets:
        parse_set(spec)
    console = Console(width=150)
    srcs = {"before": base_src(args.base, args.out / "cache"), "after": REPO / "src"}
    runs: dict[str, dict[str, list[dict[str, float]]]] = {
        s: {"before": [], "after": []} for s in sets
    }
    for k in range(args.rounds):
        for spec in sets:
            order = SIDES if k % 2 == 0 else SIDES[::-1]
            for side in order:
                console.log(f"round {k + 1}: {spec} {side}")
                runs[spec][side].append(run_eval(srcs[side], spec, args.out, args.data))
    summary = summarise(runs)
    table = Table(
        title=f"issue 15 before ({args.base}) and after, same run, medians of {args.rounds}"
    )
    for col in (
        "set",
        "exact before",
        "exact after",
        "CPU ms before",
        "CPU ms after",
        "after/before",
    ):
        table.add_column(col, justify="right")
    for spec, row in summary.items():
        table.add_row(
            spec,
            f"{row.get('before_exact_rate', float('nan')):.3f}",
            f"{row.get('after_exact_rate', float('nan')):.3f}",
            f"{row.get('before_cpu_ms_per_image', float('nan')):.1f}",
            f"{row.get('after_cpu_ms_per_image', float('nan')):.1f}",
            f"{row.get('cpu_after_over_before', float('nan')):.2f}",
        )
    console.print(table)
    busy = [r.get("host_other_busy", 0.0) for s in runs.values() for rs in s.values() for r in rs]
    console.print(f"host busy with other work: {min(busy):.2f}-{max(busy):.2f} of its CPUs")
    args.out.mkdir(parents=True, exist_ok=True)
    record = {"base": args.base, "rounds": args.rounds, "summary": summary, "runs": runs}
    (args.out / "plates_compare.json").write_text(json.dumps(record, indent=2))
    plot(args.out / "plates_compare.png", summary, args.base)
    console.print(f"wrote {args.out / 'plates_compare.json'} and plates_compare.png")
    return 0


def plot(png: Path, summary: dict[str, dict[str, float]], base: str) -> None:
    import numpy as np

    names = list(summary)
    x = np.arange(len(names))
    fig = new_figure(max(6.0, 2.2 * len(names)), 6.0)
    cost, exact = fig.add_subplot(2, 1, 1), fig.add_subplot(2, 1, 2)
    for k, side in enumerate(SIDES):
        label = f"{side} ({base})" if side == "before" else side
        cpu = [summary[n].get(f"{side}_cpu_ms_per_image", np.nan) for n in names]
        ok = [summary[n].get(f"{side}_exact_rate", np.nan) for n in names]
        cost.bar(x + (k - 0.5) * 0.38, np.nan_to_num(cpu), 0.38, label=label)
        exact.bar(x + (k - 0.5) * 0.38, np.nan_to_num(ok), 0.38, label=label)
    cost.set_ylabel("CPU ms per photo (1 thread)")
    cost.set_xticks(x, names, fontsize=7)
    cost.legend()
    exact.set_ylabel("exact rate")
    exact.set_ylim(0, 1)
    exact.set_xticks(x, names, fontsize=7)
    cost.set_title("issue 15: the plate stage before and after, same run")
    save_figure(fig, png)


if __name__ == "__main__":
    sys.exit(main())
