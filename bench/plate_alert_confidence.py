"""Choose ``alerts.plate_min_confidence`` from ``citywatch eval plate-clips``'s own run.

Every clip of the Dutch set (``../shared/data/plates/video_nl``) goes once through the live
pipeline (:func:`citywatch.eval.plate_clips.evaluate_clips`, every true plate on the hotlist,
no minimum).  The clips are split in file order: the 1st, 3rd, 5th, ... clip choose the
minimum, the 2nd, 4th, ... report it.  On the choosing half the minimum is the highest that
still alerts every (clip, true plate) pair alerted without one (the lowest of the pairs' best
confidences), rounded down to a tenth as a margin for clips it has not seen; every candidate is
also listed as true hits, false alerts (reads that hit a hotlist plate not in the clip) and
hits held back.  The reporting half then shows what that minimum does on clips it was not
chosen on, beside no minimum.  Every track read is listed with its confidence and whether it is
the exact plate (wrong reads show where misreads sit, even those that hit nothing).

    .venv/bin/python bench/plate_alert_confidence.py [--json bench/out/plate_min_conf.json]
    .venv/bin/python bench/plate_alert_confidence.py --from-json bench/out/plate_min_conf.json
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "plates" / "video_nl"


@dataclass(frozen=True)
class Hit:
    clip: str
    read: str
    entry: str
    confidence: float
    true: bool


def run_eval(formats: str) -> dict[str, Any]:
    """The live pipeline over every clip: each hit and each track read with its confidence."""
    from citywatch.config.root import CitywatchConfig
    from citywatch.engine.assemble import Models
    from citywatch.eval.plate_clips import evaluate_clips, hotlist_for, load_clip_truth

    config = CitywatchConfig()
    if formats:
        plates = config.plates.model_copy(update={"formats": formats.split(",")})
        config = config.model_copy(update={"plates": plates})
    truth = load_clip_truth(DATA / "per_clip_ground_truth.csv")
    report = evaluate_clips(DATA / "clips", truth, config, Models(config))
    matcher = hotlist_for(truth, config)
    hits, reads = [], []
    for o in report.outcomes:
        for read, conf in zip(o.reads, o.confidences, strict=True):
            reads.append(
                {"clip": o.clip, "read": read, "confidence": conf, "exact": read in o.truth}
            )
            hit = matcher.match(read)
            if hit is not None:
                hits.append(asdict(Hit(o.clip, read, hit.entry, conf, hit.entry in o.truth)))
    return {
        "formats": ",".join(config.plates.formats),
        "clips": [ct.clip for ct in truth],
        "hits": hits,
        "reads": reads,
    }


def score(hits: list[Hit], clips: set[str], minimum: float) -> dict[str, float]:
    kept = [h for h in hits if h.clip in clips and h.confidence >= minimum]
    return {
        "min_confidence": minimum,
        "clips": len(clips),
        "true_hits": len({(h.clip, h.entry) for h in kept if h.true}),
        "false_alerts": sum(not h.true for h in kept),
        "held_back": sum(h.clip in clips and h.confidence < minimum for h in hits),
    }


def choose(hits: list[Hit], clips: set[str]) -> tuple[float, float]:
    """(raw, chosen): the lowest of the true pairs' best confidences, and it rounded down to
    a tenth."""
    best: dict[tuple[str, str], float] = {}
    for h in hits:
        if h.clip in clips and h.true:
            key = (h.clip, h.entry)
            best[key] = max(best.get(key, 0.0), h.confidence)
    raw = min(best.values(), default=0.0)
    return raw, math.floor(raw * 10) / 10


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--json", type=Path, default=None, help="write the run and the choice here")
    ap.add_argument("--from-json", type=Path, default=None, help="re-score a run written before")
    ap.add_argument("--formats", default="", help="e.g. NL (default: the config's)")
    args = ap.parse_args()
    if args.from_json:
        run = json.loads(args.from_json.read_text(encoding="utf-8"))
    else:
        run = run_eval(args.formats)
    hits = [Hit(**h) for h in run["hits"]]
    names = run["clips"]
    choosing, reporting = set(names[0::2]), set(names[1::2])
    raw, chosen = choose(hits, choosing)
    candidates = sorted({0.0, chosen, *(h.confidence for h in hits if h.clip in choosing)})
    for r in sorted(run["reads"], key=lambda r: r["confidence"]):
        side = "choose" if r["clip"] in choosing else "report"
        print(
            f"{side:6} {r['clip']:16} {r['read']:9} conf {r['confidence']:.3f} "
            f"{'exact' if r['exact'] else 'wrong'}"
        )
    print("candidates on the choosing half:")
    for m in candidates:
        print("  ", score(hits, choosing, m))
    print(f"lowest best confidence of a true pair: {raw:.3f}; chosen minimum: {chosen}")
    print("report half, no minimum:", score(hits, reporting, 0.0))
    print("report half, chosen:    ", score(hits, reporting, chosen))
    print("all clips, chosen:      ", score(hits, set(names), chosen))
    if args.json:
        run.update(
            choosing=sorted(choosing),
            reporting=sorted(reporting),
            raw=raw,
            chosen=chosen,
            report_without=score(hits, reporting, 0.0),
            report_with=score(hits, reporting, chosen),
        )
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(run, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
