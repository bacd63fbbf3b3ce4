"""Face back ends compared on the same data in one run: accuracy and milliseconds per face.

Every back end runs the protocols of `citywatch eval faces` (LFW-style verification, open-set
identification) on the same identity set, through the same detector/landmarker and the same
code as the live cameras; only the embedder changes:

* ``dlib``           -- dlib's ResNet through the ``dlib-bin`` wheel (no BLAS);
* ``dlib-onnx``      -- the same network converted to ONNX, run by onnxruntime;
* ``dlib-onnx+flip`` -- the same, each face averaged with its mirror image;
* ``onnx-arcface``   -- with ``--arcface MODEL.onnx``: a user's ArcFace-style model (+flip).

With ``--pairs CSV`` the photo pairs (detection included) are measured too.  Writes a table to
the console, ``models.json`` (flat keys ``<back end>.<metric>``) and ``models.png``.

    .venv/bin/python bench/models.py [--identities DIR] [--per-identity N] [--threads N]
        [--pairs CSV] [--arcface MODEL.onnx] [--skip dlib] [--out bench/out]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress, TaskID

from citywatch.config.faces import FaceEmbedderConfig
from citywatch.config.root import CitywatchConfig
from citywatch.engine.allocator import keep_freed_buffers
from citywatch.eval.common import Metrics, rows_table, write_json
from citywatch.eval.face_data import FacePipeline, load_identities, load_pairs
from citywatch.eval.face_pairs import evaluate_pairs
from citywatch.eval.faces import evaluate_identities

REPO = Path(__file__).resolve().parents[1]
DATA = (REPO / ".." / "shared" / "data").resolve()
COLUMNS = (
    "verification_accuracy",
    "tar_at_far_1e-3",
    "fnir_at_fpir_0.01",
    "fnir_at_fpir_0.003",
    "rank1",
    "ms_per_face",
    "ms_per_face_embed",
    "cpu_ms_per_face",
)


def backends(arcface: Path | None) -> dict[str, FaceEmbedderConfig]:
    out = {
        "dlib": FaceEmbedderConfig(type="dlib", flip=False),
        "dlib-onnx": FaceEmbedderConfig(type="dlib-onnx", flip=False),
        "dlib-onnx+flip": FaceEmbedderConfig(type="dlib-onnx", flip=True),
    }
    if arcface is not None:
        out["onnx-arcface+flip"] = FaceEmbedderConfig(
            type="onnx-arcface", model_path=arcface, flip=True
        )
    return out


def subset(root: Path, per_identity: int | None) -> Path:
    """``root`` itself, or a temporary folder of links to the first N images per identity."""
    if per_identity is None:
        return root
    data = load_identities(root)
    tmp = Path(tempfile.mkdtemp(prefix="cw-bench-")) / root.name
    counts: dict[int, int] = {}
    for path, label in zip(data.files, data.labels.tolist(), strict=True):
        if counts.get(label, 0) >= per_identity:
            continue
        counts[label] = counts.get(label, 0) + 1
        target = tmp / data.identities[label] / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(path)
    return tmp


def plot(rows: list[Metrics], path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = [str(r["backend"]) for r in rows]
    fig = Figure(figsize=(10, 4), dpi=110)
    FigureCanvasAgg(fig)
    acc, ms = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    keys = ("verification_accuracy", "tar_at_far_1e-3", "fnir_at_fpir_0.01")
    x = np.arange(len(names))
    for k, key in enumerate(keys):
        vals = [float(r.get(key) or 0.0) for r in rows]
        acc.bar(x + (k - 1) * 0.27, vals, width=0.27, label=key)
    acc.set_xticks(x, names, rotation=15, fontsize="small")
    acc.set_ylim(0, 1)
    acc.set_title("Accuracy on the identity set")
    acc.legend(fontsize="x-small", loc="lower left")
    ms.bar(names, [float(r["ms_per_face"] or 0.0) for r in rows])
    ms.axhline(10, color="grey", linestyle=":", linewidth=0.8)
    ms.set_yscale("log")
    ms.set_title("ms per face (detection/alignment + embedding)")
    ms.tick_params(axis="x", rotation=15, labelsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def main(argv: list[str] | None = None) -> int:
    keep_freed_buffers()  # as the CLI and the camera workers do
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--identities", type=Path, default=DATA / "faces" / "identities")
    ap.add_argument("--per-identity", type=int, default=None, help="first N images per person")
    ap.add_argument("--pairs", type=Path, default=None, help="also measure this pairs CSV")
    ap.add_argument("--arcface", type=Path, default=None, help="a local ArcFace-style .onnx")
    ap.add_argument("--skip", action="append", default=[], help="back end to leave out")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = ap.parse_args(argv)

    console = Console()
    root = subset(args.identities, args.per_identity)
    data = load_identities(root)
    pairs = load_pairs(args.pairs) if args.pairs else None
    rows: list[Metrics] = []
    flat: Metrics = {"dataset": data.name, "images": len(data), "threads": args.threads}
    for name, emb_cfg in backends(args.arcface).items():
        if name in args.skip:
            continue
        config = CitywatchConfig.model_validate(
            {
                "faces": {"embedder": emb_cfg.model_dump()},
            }
        )
        pipeline = FacePipeline.from_config(config, threads=args.threads)
        started = time.perf_counter()
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task(name, total=len(data))

            def advance(n: int, bar: Progress = bar, task: TaskID = task) -> None:
                bar.advance(task, n)

            report = evaluate_identities(data, pipeline, progress=advance)
        row: Metrics = {"backend": name, **{k: report.metrics.get(k) for k in COLUMNS}}
        if pairs is not None:
            pr = evaluate_pairs(pairs, pipeline)
            row["pairs_accuracy"] = pr.metrics["verification_accuracy"]
            row["pairs_detect_failures"] = pr.metrics["detect_failures"]
        row["seconds"] = round(time.perf_counter() - started, 1)
        rows.append(row)
        for key, value in row.items():
            if key != "backend":
                flat[f"{name}.{key}"] = value
        console.print(f"{name}: done in {row['seconds']} s")
    console.print(rows_table(f"Face back ends on {data.name} ({len(data)} images)", rows))
    write_json(args.out / "models.json", flat)
    plot(rows, args.out / "models.png")
    console.print(f"written: {args.out / 'models.json'}, {args.out / 'models.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
