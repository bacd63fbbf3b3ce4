"""Real plate crops for the recogniser: the Romanian dashcam frames (MIT), labelled, mixed into
the synthetic ones.

``RobertLucian/license-plate-dataset`` has plate boxes but no plate text.  :func:`extract_crops`
cuts each box of the drives trained on (:data:`TRAIN_DRIVES`; the other two are held out for
measuring) out of its frame with a margin around it, and labels it: with the project's own
transcription where ``bench/plates_ro_truth.csv`` has one (plates at least 120 px wide,
transcribed by eye), else with what a teacher reader (the shipped ``ppocrv6-plates`` behind the
format-aware decoding) reads there when it is sure (``min_score``); a crop it is unsure of is
left out.  The labels are data the project makes itself from MIT-licensed frames, so weights
learned from them may ship.  The crops go into a folder as PNG files with ``labels.csv``
beside them (inspectable, no pickles).

:class:`RealCrops` serves them to training as :class:`~citywatch.training.plate_synth.Sample`,
each cut again with the box loose or tight by a little and padded as the reader pads (as
:func:`~citywatch.training.plate_degrade.camera_view` cuts a synthetic plate), half of them
also dirtied, blurred, darkened or compressed like the synthetic ones; :class:`MixedSource`
draws sample ``i`` from the real crops with probability ``share`` (a pure function of the seed
and ``i``, so a resumed run draws what an uninterrupted one would), else from the synthetic
generator.
"""

from __future__ import annotations

import csv
import itertools
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from citywatch.eval.voc import voc_boxes
from citywatch.training.plate_degrade import ViewSettings, box_jitter, degrade
from citywatch.training.plate_synth import Sample
from citywatch.vision.record import FloatArray, ImageBGR

#: the drives trained on; dayride_type1_002 and _003 are held out (the plate detector's split)
TRAIN_DRIVES = ("dayride_type1_001", "nightride_type3_001")
MARGIN = 0.5  # a stored crop holds the box and this many box heights around it
MIN_HEIGHT_PX = 12.0  # boxes lower than this are too small to read and are left out
LABELS = "labels.csv"
REAL_FORMAT = "real"

#: reads each box of a frame: per box, the best plate text and its score (None: nothing fits)
Teacher = Callable[[ImageBGR, FloatArray], list[tuple[str, float] | None]]


class RealCropError(ValueError):
    """A crop folder or a dataset cannot be used; the message names the path."""


@dataclass(frozen=True)
class RealCrop:
    """One stored crop: the picture (the box with its margin), the box inside it, the text."""

    image: ImageBGR
    box: tuple[float, float, float, float]  # xyxy in the crop
    text: str
    source: str  # "hand" (transcribed) or "teacher" (read by the teacher, sure)


def _frames(dataset: Path, drives: Sequence[str]) -> Iterator[tuple[Path, Path]]:
    """(frame, VOC annotation) of each frame of ``drives``, sorted by name."""
    for split in ("train", "valid"):
        for image in sorted((dataset / split / "images").glob("*.jpg")):
            if image.name.split(".mp4")[0] in drives:
                yield image, dataset / split / "annots" / (image.name.removesuffix(".jpg") + ".xml")


def hand_labels(truth_csv: Path) -> dict[tuple[str, int], str]:
    """``(frame name, box index) -> text`` of the transcriptions (unreadable ``?`` left out)."""
    out: dict[tuple[str, int], str] = {}
    with truth_csv.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["plate"] != "?":
                out[(row["image"], int(row["box"]))] = row["plate"].upper()
    return out


def extract_crops(
    dataset: Path,
    out: Path,
    teacher: Teacher,
    *,
    truth: dict[tuple[str, int], str] | None = None,
    drives: Sequence[str] = TRAIN_DRIVES,
    min_score: float = 0.9,
) -> dict[str, int]:
    """Cut, label and store the crops of ``drives`` into the folder ``out`` (see the module
    doc); returns counts (boxes, hand, teacher, unsure, small)."""
    if not (dataset / "train" / "images").is_dir():
        raise RealCropError(f"{dataset}: not the dataset/ folder of the Romanian plate set")
    out.mkdir(parents=True, exist_ok=True)
    truth = truth or {}
    counts = {"frames": 0, "boxes": 0, "hand": 0, "teacher": 0, "unsure": 0, "small": 0}
    rows: list[dict[str, str]] = []
    for image_path, xml in _frames(dataset, drives):
        read_in = cv2.imread(str(image_path))
        if read_in is None:
            raise RealCropError(f"{image_path}: cannot be read as an image")
        image: ImageBGR = np.asarray(read_in, np.uint8)
        counts["frames"] += 1
        boxes = np.asarray(voc_boxes(xml), np.float32).reshape(-1, 4)
        # the teacher reads only the boxes large enough and not transcribed
        ask = [
            k
            for k, box in enumerate(boxes)
            if box[3] - box[1] >= MIN_HEIGHT_PX and (image_path.name, k) not in truth
        ]
        reads = dict(zip(ask, teacher(image, boxes[ask]), strict=True)) if ask else {}
        for k, box in enumerate(boxes):
            counts["boxes"] += 1
            if box[3] - box[1] < MIN_HEIGHT_PX:
                counts["small"] += 1
                continue
            text, source = truth.get((image_path.name, k), ""), "hand"
            if not text:
                read = reads[k]
                if read is None or read[1] < min_score:
                    counts["unsure"] += 1
                    continue
                text, source = read[0], "teacher"
            counts[source] += 1
            crop, inner = _with_margin(image, box)
            name = f"{len(rows):05d}.png"
            cv2.imwrite(str(out / name), crop)
            rows.append(
                {
                    "file": name,
                    "text": text,
                    "source": source,
                    "frame": image_path.name,
                    "box": str(k),
                    **{
                        key: f"{v:.1f}"
                        for key, v in zip(("x0", "y0", "x1", "y1"), inner, strict=True)
                    },
                }
            )
    with (out / LABELS).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["file"])
        writer.writeheader()
        writer.writerows(rows)
    return counts


def _with_margin(image: ImageBGR, box: FloatArray) -> tuple[ImageBGR, tuple[float, ...]]:
    """The box with :data:`MARGIN` box heights around it (clipped to the frame), and the box
    in the crop's coordinates."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in box)
    m = MARGIN * (y1 - y0)
    a, b = max(0, int(x0 - m)), max(0, int(y0 - m))
    c, d = min(w, int(np.ceil(x1 + m))), min(h, int(np.ceil(y1 + m)))
    return np.ascontiguousarray(image[b:d, a:c]), (x0 - a, y0 - b, x1 - a, y1 - b)


def spaced(text: str) -> str:
    """``text`` with a gap wherever letters and digits meet (``B21GSB`` -> ``B 21 GSB``), as
    the synthetic labels mark a plate's gaps (Romanian plates have them there)."""
    out = text[:1]
    for prev, ch in itertools.pairwise(text):
        out += (" " if prev.isdigit() != ch.isdigit() else "") + ch
    return out


class SampleSource(Protocol):
    """What training draws its samples from (:class:`PlateSynth`, :class:`MixedSource`)."""

    def sample_at(self, index: int) -> Sample: ...


class RealCrops:
    """The crops of a folder :func:`extract_crops` wrote, served as samples (module doc)."""

    def __init__(self, folder: Path, *, view: ViewSettings | None = None) -> None:
        labels = folder / LABELS
        if not labels.is_file():
            raise RealCropError(
                f"{folder}: no {LABELS} (make it with `citywatch train plate-crops`)"
            )
        crops: list[RealCrop] = []
        with labels.open(newline="", encoding="utf-8") as fh:
            for line, row in enumerate(csv.DictReader(fh), start=2):
                try:
                    image = cv2.imread(str(folder / row["file"]))
                    box = (float(row["x0"]), float(row["y0"]), float(row["x1"]), float(row["y1"]))
                    text = row["text"]
                except (KeyError, ValueError) as err:
                    raise RealCropError(f"{labels}:{line}: bad row ({err})") from None
                if image is None:
                    raise RealCropError(f"{labels}:{line}: {row['file']} cannot be read")
                pixels: ImageBGR = np.asarray(image, np.uint8)
                crops.append(RealCrop(pixels, box, text, row.get("source", "")))
        if not crops:
            raise RealCropError(f"{labels}: no crops")
        self.crops = crops
        self._view = view or ViewSettings()

    def __len__(self) -> int:
        return len(self.crops)

    def sample(self, index: int, rng: random.Random) -> Sample:
        """Crop ``index`` (modulo their number), cut again as the reader would cut a
        detector's box of it."""
        crop = self.crops[index % len(self.crops)]
        x0, y0, x1, y1 = crop.box
        bh = y1 - y0
        jit = box_jitter(bh, rng)
        pad = self._view.pad * bh
        h, w = crop.image.shape[:2]
        a = int(np.clip(round(x0 - jit[0] - pad), 0, w - 2))
        b = int(np.clip(round(y0 - jit[1] - pad), 0, h - 2))
        c = int(np.clip(round(x1 + jit[2] + pad), a + 2, w))
        d = int(np.clip(round(y1 + jit[3] + pad), b + 2, h))
        image = np.ascontiguousarray(crop.image[b:d, a:c])
        if rng.random() < 0.5:
            image = degrade(image, rng, self._view)
        label = spaced(crop.text)
        return Sample(image, label, REAL_FORMAT, "real", (label,))


class MixedSource:
    """Sample ``i``: a real crop with probability ``share``, else synthetic sample ``i``."""

    def __init__(self, synth: SampleSource, real: RealCrops, share: float, seed: int) -> None:
        if not 0.0 < share < 1.0:
            raise ValueError(f"real share {share}: expected more than 0 and less than 1")
        self._synth, self._real, self._share, self._seed = synth, real, share, seed

    def sample_at(self, index: int) -> Sample:
        rng = random.Random(self._seed * 2_000_029 + index)
        if rng.random() < self._share:
            return self._real.sample(rng.randrange(len(self._real)), rng)
        return self._synth.sample_at(index)
