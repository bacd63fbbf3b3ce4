"""Several CTC recognisers reading each crop together: their per-step probabilities averaged.

Two recognisers of one architecture that learned from different data (PP-OCRv6 small and its
fine-tune on US plates, ``docs/models.md``) err on different crops; the mean of their
per-step probabilities, decoded once against the plate formats, reads plates that neither
reads alone (a classic ensemble of the outputs).  The members must cut a crop into the same
steps: the same input height and the same downsampling along the width, which is checked on
every read and refused, naming both files, when it does not hold.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from citywatch.vision.plates.ctc import CharProbs
from citywatch.vision.plates.ppocr import LineRecogniser, RecogniserError
from citywatch.vision.record import ImageBGR


def mean_probs(reads: Sequence[CharProbs]) -> CharProbs:
    """The step-by-step mean of several reads of one crop (all with the same steps)."""
    if len(reads) == 1:
        return reads[0]
    steps = {len(r) for r in reads}
    if len(steps) != 1:
        raise ValueError(f"reads of one crop have different step counts: {sorted(steps)}")
    return CharProbs(
        np.mean([r.chars for r in reads], axis=0).astype(np.float32),
        np.mean([r.blank for r in reads], axis=0).astype(np.float32),
        np.mean([r.gap for r in reads], axis=0).astype(np.float32),
        np.mean([r.other for r in reads], axis=0).astype(np.float32),
    )


class MeanRecogniser:
    """A :class:`LineRecogniser` made of several: each crop read by all of them, the
    per-step probabilities averaged (each member weighs the same)."""

    def __init__(self, members: Sequence[LineRecogniser]) -> None:
        if len(members) < 2:
            raise ValueError(f"an ensemble needs two recognisers or more, got {len(members)}")
        self.members = tuple(members)
        self.path = self.members[0].path

    def probabilities(self, crops: Sequence[ImageBGR], *, stretch: float = 1.0) -> list[CharProbs]:
        per_member = [m.probabilities(crops, stretch=stretch) for m in self.members]
        out: list[CharProbs] = []
        for i, reads in enumerate(zip(*per_member, strict=True)):
            try:
                out.append(mean_probs(reads))
            except ValueError:
                pairs = zip(self.members, reads, strict=True)
                files = ", ".join(f"{m.path} ({len(r)} steps)" for m, r in pairs)
                raise RecogniserError(
                    f"plate recognisers read crop {i} in different numbers of steps: {files}; "
                    "an ensemble needs recognisers of one architecture and input height"
                ) from None
        return out
