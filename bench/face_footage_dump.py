"""Record what the face decider sees on the dev footage, for comparing embedders and decision
rules offline (issue 14).  Development only: it keeps embeddings of the faces in public test
clips in a file under bench/out, which the live system never does.

The live pipeline runs with the ``fused`` embedder (dlib + MobileFaceNet) and a decider that
records, at every decision round, the fused vectors of the crops it would use (best quality
first), their quality and face size, and never alerts (every round of every track is seen).
The watchlist of bench/face_suite.py is enrolled with the same embedder.  Output: an .npz with
``gallery`` (M, 256), ``gallery_names`` (M,), and per round ``round_clip``, ``round_track``,
``round_index``, ``round_start``/``round_count`` into ``crops`` (K, 256), ``crop_quality``,
``crop_px``.

    python bench/face_footage_dump.py --out bench/out/footage_rounds.npz
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from pydantic import SecretStr

from citywatch.config.camera import CameraConfig
from citywatch.config.root import CitywatchConfig
from citywatch.decisions.faces import FaceTrackDecider
from citywatch.decisions.types import FaceMatch
from citywatch.engine.assemble import Models, Permissions, build_pipeline
from citywatch.engine.scan import ScanReport, load_watchlist_dir
from citywatch.engine.worker import CameraWorker
from citywatch.eval.face_footage import load_footage_truth
from citywatch.sources.pyav import CameraSource

REPO = Path(__file__).resolve().parents[1]


class RecordingDecider(FaceTrackDecider):
    rows: list[tuple[str, int, int, np.ndarray, np.ndarray, np.ndarray]]
    clip = ""

    def _decide(self, track):  # type: ignore[no-untyped-def]
        best = sorted(track.crops, key=lambda c: -c.quality)[: self.cfg.frames_per_track]
        for crop in best:
            if crop.embedding is None:
                emb = self.embedder.embed(crop.image, crop.landmarks[None])
                crop.embedding = np.asarray(emb, np.float32).reshape(-1)
        track.embeds += 1
        track.best_embedded = max(track.best_embedded, best[0].quality)
        self.rows.append(
            (
                self.clip,
                track.track_id,
                track.embeds,
                np.stack([c.embedding for c in best]),
                np.array([c.quality for c in best], np.float32),
                np.array([c.side for c in best], np.float32),
            )
        )
        return None


class _Null:
    def handle(self, camera_id: str, sightings: list) -> None:  # type: ignore[type-arg]
        assert not any(isinstance(s, FaceMatch) for s in sightings)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--truth", type=Path, default=REPO / "bench/face_footage_truth.csv")
    parser.add_argument("--clips", type=Path, default=REPO.parent / "shared/data")
    parser.add_argument("--watchlist", type=Path, default=REPO / "var/face-suite/watchlist")
    parser.add_argument("--out", type=Path, default=REPO / "bench/out/footage_rounds.npz")
    parser.add_argument("--fps", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    config = CitywatchConfig.model_validate(
        {"models": {"threads": args.threads}, "faces": {"embedder": {"type": "fused"}}}
    )
    models = Models(config)
    enrol = ScanReport()
    gallery = load_watchlist_dir(args.watchlist, models, config, enrol)
    print(f"gallery: {len(gallery)} photos, {len(set(gallery.subject_names))} entries")
    rows: list = []  # type: ignore[type-arg]
    perms = Permissions(faces=True, plates=False, reasons=("dev measurement",))
    for t in load_footage_truth(args.truth):
        cam = CameraConfig(id="dump", url=SecretStr(str(args.clips / t.clip)), analyse_fps=args.fps)
        pipeline = build_pipeline(cam, config, models, perms, gallery)
        decider = RecordingDecider(gallery, models.embedder, config.faces, cam.id)
        decider.rows, decider.clip = rows, t.clip
        pipeline.face_decider = decider
        CameraWorker(cam.id, CameraSource(cam), pipeline, _Null(), live=False).run()
        print(t.clip, sum(r[0] == t.clip for r in rows), "rounds", flush=True)
    counts = [len(r[3]) for r in rows]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        gallery=np.asarray(gallery.embeddings),
        gallery_names=np.array(gallery.subject_names),
        round_clip=np.array([r[0] for r in rows]),
        round_track=np.array([r[1] for r in rows]),
        round_index=np.array([r[2] for r in rows]),
        round_start=np.cumsum([0, *counts[:-1]]),
        round_count=np.array(counts),
        crops=np.concatenate([r[3] for r in rows]),
        crop_quality=np.concatenate([r[4] for r in rows]),
        crop_px=np.concatenate([r[5] for r in rows]),
        subjects=np.array([";".join(t.subjects) for t in load_footage_truth(args.truth)]),
        clips=np.array([t.clip for t in load_footage_truth(args.truth)]),
    )
    print("written", args.out)


if __name__ == "__main__":
    main()
