"""Searching less while nothing is found (``faces.idle_search_every``,
``plates.idle_search_every``; ``vision/cadence.py``): cost and loss against searching every
moving frame, in one run.

Each variant runs every scene of ``bench/pipeline.py`` (the crowd as a two-stream camera,
quiet, crowd, plates, Hamilton) in turns, the order turned round each round, with the
pipeline as shipped otherwise (motion gate, still-scene decode rest, the camera's CPU of every
thread counted per second of video).  Then each variant runs the plate and Hamilton scenes
paced in real time for the alert latency.  Per variant: streams per core per scene, the mix
(their harmonic mean) and the mix with the two-stream crowd in the crowd's place, what each
scene found (the Hamilton subjects, the hotlisted plates), and the latency from decoded frame
to alert and from first sighting to alert.  Writes ``bench/out/idle_search.json``.

    .venv/bin/python bench/idle_search.py [--every 1,3/2,3] [--rounds 2] [--scenes quiet,...]
        [--tag idle_search]

``--every`` lists the variants: "3" is both stages every 3rd moving frame while idle, "3/2"
the faces every 3rd and the plates every 2nd; "1" searches every moving frame (the baseline).
A third part sets ``faces.whole_frame_every`` (the whole frame every n-th moving frame while
faces are tracked, only around them between): "3/2/1" against "3/2/3" measures that alone;
left out, it is the config's default.  ``--tag`` names the JSON written.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from citywatch.config.root import CitywatchConfig, ModelsConfig
from citywatch.engine.allocator import keep_freed_buffers
from citywatch.engine.assemble import Models
from citywatch.eval.host_load import LoadMeter
from pipeline import (
    CORE,
    DATA,
    SUBJECTS,
    gallery_and_hotlist,
    mix,
    run_citywatch,
    scenes,
)
from pipeline_dual import Result

REPO = Path(__file__).resolve().parents[1]
DUAL_MIX = tuple("crowd-dual" if n == "crowd" else n for n in CORE)  # the crowd on two streams


def variant(cfg: CitywatchConfig, every: str) -> CitywatchConfig:
    """``cfg`` with the faces searching every n-th moving frame while idle and the plates
    every m-th: ``every`` is "n" (both alike), "n/m" or "n/m/w" (w: the faces'
    ``whole_frame_every``)."""
    n, _, rest = every.partition("/")
    m, _, w = rest.partition("/")
    update: dict[str, int] = {"idle_search_every": int(n)}
    if w:
        update["whole_frame_every"] = int(w)
    faces = cfg.faces.model_copy(update=update)
    plates = cfg.plates.model_copy(update={"idle_search_every": int(m or n)})
    return cfg.model_copy(update={"faces": faces, "plates": plates})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--every",
        default="1,3/2,3",
        help="variants: idle_search_every of both stages, or faces/plates (1: the baseline)",
    )
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--scenes", default=",".join(("crowd-dual", *CORE)))
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    ap.add_argument("--tag", default="idle_search", help="name of the JSON written")
    args = ap.parse_args()
    console = Console(width=160)
    if not DATA.is_dir():
        console.print(f"[red]no data at {DATA}[/]")
        return 2
    keep_freed_buffers()
    args.out.mkdir(parents=True, exist_ok=True)
    everies = [x.strip() for x in args.every.split(",") if x.strip()]
    base = CitywatchConfig(models=ModelsConfig())
    models = Models(base)
    gallery, hotlist = gallery_and_hotlist(models, base)
    wanted = {s.strip() for s in args.scenes.split(",") if s.strip()}
    chosen = [s for s in scenes(args.out / "cache") if s.name in wanted]
    results: list[Result] = []
    latency: dict[str, tuple[list[float], list[float], set[str]]] = {}
    with LoadMeter() as meter:
        for turn in range(args.rounds):
            order = everies if turn % 2 == 0 else everies[::-1]
            for scene in chosen:
                for every in order:
                    console.log(f"round {turn + 1}: {scene.name}, idle_search_every {every}")
                    r, _ = run_citywatch(scene, variant(base, every), models, gallery, hotlist)
                    r.mode, r.round = f"every-{every}", turn + 1
                    results.append(r)
        for every in everies:
            console.log(f"paced (real time): idle_search_every {every}")
            lat, since, found = latency.setdefault(every, ([], [], set()))
            for scene in chosen:
                if scene.name not in ("plates", "hamilton"):
                    continue
                col = run_citywatch(
                    scene, variant(base, every), models, gallery, hotlist, pace=True
                )[1]
                lat.extend(col.latency_s)
                since.extend(col.since_first_s)
                found.update(col.found)

    table = Table(title="idle search: one camera's CPU (every thread) per second of video")
    for c in ("round", "scene", "variant", "frames", "ms/frame", "streams/core", "found"):
        table.add_column(c, justify="right")
    summary: dict[str, object] = {}
    for r in results:
        table.add_row(
            str(r.round), r.scene, r.mode, str(r.frames), f"{r.ms_per_frame:.1f}",
            f"{r.streams_per_core:.2f}", ",".join(sorted(r.found)) or "-",
        )  # fmt: skip
    console.print(table)
    t2 = Table(title="per variant (streams per core: median over rounds)")
    for c in ("variant", *[s.name for s in chosen], "mix", "mix, crowd-dual", "hamilton",
              "plates found",
              "latency p95 s", "first seen -> alert p95 s"):  # fmt: skip
        t2.add_column(c, justify="right")
    for every in everies:
        mode = f"every-{every}"
        mine = [r for r in results if r.mode == mode]
        per = {
            s.name: statistics.median(r.streams_per_core for r in mine if r.scene == s.name)
            for s in chosen
        }
        mixes = [
            mix({(r.scene, r.mode): r for r in mine if r.round == n}, CORE, mode)
            for n in range(1, args.rounds + 1)
        ]
        dual_mixes = [
            mix({(r.scene, r.mode): r for r in mine if r.round == n}, DUAL_MIX, mode)
            for n in range(1, args.rounds + 1)
        ]
        ham = {x for r in mine if r.scene == "hamilton" for x in r.found if x in SUBJECTS}
        plate_sets = {tuple(sorted(r.found)) for r in mine if r.scene == "plates"}
        lat, since, _ = latency.get(every, ([], [], set()))
        p95 = float(np.percentile(lat, 95)) if lat else float("nan")
        p95_first = float(np.percentile(since, 95)) if since else float("nan")
        mx = statistics.median(mixes) if all(m == m for m in mixes) else float("nan")
        dmx = statistics.median(dual_mixes) if all(m == m for m in dual_mixes) else float("nan")
        t2.add_row(
            mode, *[f"{per[s.name]:.2f}" for s in chosen], f"{mx:.2f}", f"{dmx:.2f}",
            f"{len(ham)}/{len(SUBJECTS)}", " | ".join(",".join(p) for p in plate_sets),
            f"{p95:.2f}", f"{p95_first:.2f}",
        )  # fmt: skip
        summary[mode] = {
            "streams_per_core": {k: round(v, 3) for k, v in per.items()},
            "mix_by_round": [round(m, 3) for m in mixes],
            "mix_crowd_dual_by_round": [round(m, 3) for m in dual_mixes],
            "hamilton_found": sorted(ham),
            "plates_found_by_round": [list(p) for p in plate_sets],
            "latency_frame_to_alert_p95_s": round(p95, 3),
            "latency_first_seen_to_alert_p95_s": round(p95_first, 3),
            "alerts_timed": len(lat),
        }
    console.print(t2)
    summary.update(meter.metrics())
    out = args.out / f"{args.tag}.json"
    out.write_text(json.dumps(summary, indent=2))
    console.print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
