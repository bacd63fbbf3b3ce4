"""A PP-OCR style CTC text recogniser run directly with onnxruntime, and the plate reader
built on it.

By default the model is the PP-OCRv4 recogniser that ships inside the ``rapidocr-onnxruntime``
wheel (``models/ch_PP-OCRv4_rec_infer.onnx``); any recogniser exported the same way (input
``[N, 3, 48, W]`` BGR scaled to -1..1, output ``[N, W/8, C]`` probabilities, its character list
in the model's ``character`` metadata or in a keys file) can be given by path instead.  The
output becomes :class:`~citywatch.vision.plates.ctc.CharProbs` here, at the edge: nothing else
sees the model's 6,625-symbol alphabet.

:class:`CtcPlateReader` reads each box at one or more horizontal stretches (US plates use
narrow fonts the recogniser reads better widened) and decodes the probabilities against the
plate formats (:func:`~citywatch.vision.plates.ctc.decode`).

A model may take another input height than 48 (a fixed height in its input shape: citywatch's
own plate recogniser takes 32) and may read a plate in two *rows* (model metadata ``rows``:
``2``): its output then holds the steps of the upper half, then those of the lower half, and
the two become one line with a separator between them, so that a stacked (two-line) plate
reads upper line first.  A model whose input is not ``[N, 3, H, W]`` or whose output is not
``[N, T, classes]`` with one class per character of its list (plus blank and space) is refused
at load with a :class:`RecogniserError` naming the file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import cv2
import numpy as np

from citywatch.vision.onnx_session import PROVIDER_OPTIONS, OnnxModelError, open_session
from citywatch.vision.plates.ctc import ALPHABET, CharProbs, Slot, decode, greedy, slots
from citywatch.vision.plates.formats import Candidate, PlateFormat
from citywatch.vision.plates.stacked import join_lines
from citywatch.vision.record import FloatArray, ImageBGR

if TYPE_CHECKING:
    from citywatch.config.plates import PlateReaderConfig

HEIGHT = 48  # the recogniser's input height
MIN_WIDTH = 160  # narrower lines are padded to this (PP-OCR pads to 320: twice the work)
MAX_WIDTH = 1280
BATCH = 6  # crops per recogniser run
SEPARATORS = " -.·:_"


class RecogniserError(RuntimeError):
    """The recogniser model cannot be loaded or does not look like a CTC recogniser."""


def line_width(crop: ImageBGR, stretch: float, height: int = HEIGHT) -> int:
    """The width ``crop`` is resized to (at ``height``, widened by ``stretch``)."""
    h, w = crop.shape[:2]
    return min(MAX_WIDTH, max(1, math.ceil(height * stretch * w / max(h, 1))))


def min_width_for(height: int) -> int:
    """The narrowest input of a model of input ``height`` (:data:`MIN_WIDTH` at 48)."""
    return math.ceil(MIN_WIDTH * height / HEIGHT)


def line_tensor(
    crops: Sequence[ImageBGR], width: int, height: int = HEIGHT, min_width: int = MIN_WIDTH
) -> FloatArray:
    """The recogniser input for ``crops`` resized to ``width`` x ``height`` (BGR scaled to
    -1..1), zero-padded on the right to ``min_width``."""
    batch = np.zeros((len(crops), 3, height, max(min_width, width)), np.float32)
    for i, c in enumerate(crops):
        img = c if c.ndim == 3 else cv2.cvtColor(c, cv2.COLOR_GRAY2BGR)
        small = cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR)
        batch[i, :, :, :width] = (small.astype(np.float32) * (2.0 / 255.0) - 1.0).transpose(2, 0, 1)
    return batch


def default_model_path() -> Path:
    """The PP-OCRv4 recogniser inside the rapidocr-onnxruntime wheel."""
    try:
        import rapidocr_onnxruntime
    except ImportError as err:  # pragma: no cover - depends on the installation
        raise RecogniserError(
            "the default plate recogniser ships in the package rapidocr-onnxruntime "
            f"(pip install rapidocr-onnxruntime==1.4.4), or set plates.reader.rec_model: {err}"
        ) from err
    return Path(rapidocr_onnxruntime.__file__).parent / "models" / "ch_PP-OCRv4_rec_infer.onnx"


def _columns(characters: Sequence[str]) -> tuple[list[list[int]], list[int], list[int]]:
    """For the model's classes (blank first): the columns of each plate symbol (upper and
    lower case), of the separators, and of blank."""
    index: dict[str, list[int]] = {}
    for i, ch in enumerate(characters):
        index.setdefault(ch, []).append(i)
    sym = [index.get(c, []) + (index.get(c.lower(), []) if c.isalpha() else []) for c in ALPHABET]
    missing = [c for c, cols in zip(ALPHABET, sym, strict=True) if not cols]
    if missing:
        raise RecogniserError(f"recogniser alphabet lacks plate symbols {''.join(missing)}")
    seps = [i for c in SEPARATORS for i in index.get(c, [])]
    return sym, seps, [0]


class LineRecogniser(Protocol):
    """What the plate reader reads with: crops in, per-step plate-symbol probabilities out."""

    path: Path

    def probabilities(
        self, crops: Sequence[ImageBGR], *, stretch: float = 1.0
    ) -> list[CharProbs]: ...


class CtcRecogniser:
    """A CTC text recogniser: crops in, :class:`CharProbs` out."""

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        keys_path: Path | None = None,
        threads: int = 1,
        providers: Sequence[str] = ("CPUExecutionProvider",),
        provider_options: Mapping[str, Mapping[str, str]] = PROVIDER_OPTIONS,
    ) -> None:
        path = Path(model_path) if model_path is not None else default_model_path()
        if not path.is_file():
            raise RecogniserError(f"plate recogniser model {path} does not exist")
        try:
            self._session: Any = open_session(
                path,
                what="plate recogniser",
                threads=threads,
                providers=list(providers),
                provider_options=provider_options,
                simplify=True,
            )
        except OnnxModelError as err:
            raise RecogniserError(str(err)) from None
        if keys_path is not None:
            chars = Path(keys_path).read_text(encoding="utf-8").splitlines()
        else:
            meta = self._session.get_modelmeta().custom_metadata_map
            if "character" not in meta:
                raise RecogniserError(
                    f"plate recogniser model {path} has no 'character' metadata; "
                    "give its keys file (plates.reader.rec_keys)"
                )
            chars = meta["character"].splitlines()
        # PP-OCR: blank first, then the keys, then a space
        self.characters = ["<blank>", *chars, " "]
        try:
            self._sym, self._sep, _ = _columns(self.characters)
        except RecogniserError as err:
            raise RecogniserError(f"plate recogniser model {path}: {err}") from None
        self.height, self.rows = self._check_shapes(path)
        self.min_width = min_width_for(self.height)
        self._input = self._session.get_inputs()[0].name
        self.path = path
        self.providers: list[str] = list(self._session.get_providers())

    def _check_shapes(self, path: Path) -> tuple[int, int]:
        """The model's input height and rows; a :class:`RecogniserError` naming ``path`` when
        its input or output is not what a CTC line recogniser has."""
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        shape_in = list(inputs[0].shape) if len(inputs) == 1 else []
        shape_out = list(outputs[0].shape) if outputs else []

        def fixed(dim: object) -> int | None:
            return dim if isinstance(dim, int) and dim > 0 else None

        if len(shape_in) != 4 or fixed(shape_in[1]) not in (3, None):
            raise RecogniserError(
                f"plate recogniser model {path}: expected one input [N, 3, H, W], got "
                f"{[i.shape for i in inputs]}"
            )
        classes = len(self.characters)
        if len(shape_out) != 3 or fixed(shape_out[2]) not in (classes, None):
            raise RecogniserError(
                f"plate recogniser model {path}: expected output [N, T, {classes}] (blank, "
                f"the {classes - 2} characters of its list, space), got {shape_out}"
            )
        height = fixed(shape_in[2]) or HEIGHT
        meta = self._session.get_modelmeta().custom_metadata_map
        rows = meta.get("rows", "1")
        if rows not in ("1", "2"):
            raise RecogniserError(f"plate recogniser model {path}: rows {rows!r}, expected 1 or 2")
        return height, int(rows)

    def _width(self, crop: ImageBGR, stretch: float) -> int:
        """The width ``crop`` is resized to (at the recogniser's height, widened by
        ``stretch``)."""
        return line_width(crop, stretch, self.height)

    def _tensor(self, crops: Sequence[ImageBGR], width: int) -> FloatArray:
        """The input for crops resized to ``width`` (padded to the model's least width)."""
        return line_tensor(crops, width, self.height, self.min_width)

    def probabilities(self, crops: Sequence[ImageBGR], *, stretch: float = 1.0) -> list[CharProbs]:
        """Per crop, the per-step probabilities (steps over the padding dropped).

        Only crops resized to the same width share a run: padding a crop to a wider batch-mate
        changes what PP-OCRv6 reads (it attends across the whole input line, padding
        included), so a read would depend on the other text in the frame.  Reading each crop
        at its own width measured the same accuracy and speed on the CPU as batches padded to
        the widest crop."""
        out: list[CharProbs | None] = [None] * len(crops)
        by_width: dict[int, list[int]] = {}
        for i, crop in enumerate(crops):
            by_width.setdefault(self._width(crop, stretch), []).append(i)
        for width, members in sorted(by_width.items()):
            for start in range(0, len(members), BATCH):
                idx = members[start : start + BATCH]
                batch = self._tensor([crops[i] for i in idx], width)
                probs = self._session.run(None, {self._input: batch})[0]
                if probs.ndim != 3 or probs.shape[2] != len(self.characters):
                    raise RecogniserError(
                        f"plate recogniser model {self.path}: output {list(probs.shape)}, "
                        f"expected [N, T, {len(self.characters)}]"
                    )
                for j, i in enumerate(idx):
                    out[i] = self._char_probs(self._rows(probs[j], width, batch.shape[3]))
        return [o for o in out if o is not None]

    def _rows(self, p: FloatArray, width: int, padded: int) -> FloatArray:
        """One crop's steps, those over the padding dropped; a two-row model's rows one after
        the other with a separator step between them."""
        steps = p.shape[0] // self.rows
        t = max(1, min(steps, math.ceil(width * steps / padded) + 1))
        if self.rows == 1:
            return p[:t]
        sep = np.zeros((1, p.shape[1]), p.dtype)
        sep[0, len(self.characters) - 1] = 1.0  # the space: a separator, and no repeat
        return np.concatenate([p[:t], sep, p[steps : steps + t]], axis=0)

    def _char_probs(self, p: FloatArray) -> CharProbs:
        """One crop's steps of the model's output as plate-symbol probabilities."""
        chars = np.stack([p[:, cols].sum(axis=1) for cols in self._sym], axis=1)
        gap = p[:, self._sep].sum(axis=1) if self._sep else np.zeros(len(p), np.float32)
        blank = p[:, 0]
        other = np.clip(1.0 - chars.sum(axis=1) - gap - blank, 0.0, 1.0)
        return CharProbs(
            chars.astype(np.float32),
            blank.astype(np.float32),
            gap.astype(np.float32),
            other.astype(np.float32),
        )


def merge_candidates(per_variant: Sequence[Sequence[Candidate]]) -> list[Candidate]:
    """Candidates of several reads of one box: each text scored by the mean of its score over
    the reads (0 where a read did not produce it), so a text the reads agree on wins."""
    if len(per_variant) == 1:
        return list(per_variant[0])
    total: dict[str, float] = {}
    first: dict[str, Candidate] = {}
    for cands in per_variant:
        for c in cands:
            total[c.text] = total.get(c.text, 0.0) + c.score
            if c.text not in first or c.score > first[c.text].score:
                first[c.text] = c
    n = len(per_variant)
    merged = [
        Candidate(t, first[t].format, total[t] / n, first[t].fixes, first[t].trimmed) for t in total
    ]
    return sorted(merged, key=lambda c: (-c.score, c.text))


class CtcPlateReader:
    """PlateReader and FormatReader: padded crops of the full frame, read at each of
    ``stretches``, decoded against the plate formats.  A box whose first read already gives a
    candidate scoring ``sure_score`` or more is not read again at the other stretches; with
    ``reread_unfit`` off, neither is a box whose first read fits no plate format at all (text
    that is no plate: widening it rarely makes it one, and most boxes of a frame are such)."""

    name = "ctc"

    def __init__(
        self,
        recogniser: LineRecogniser,
        *,
        pad_x: float = 0.15,
        pad_y: float = 0.15,
        stretches: Sequence[float] = (1.0,),
        sure_score: float = 1.0,
        reread_unfit: bool = True,
    ) -> None:
        from citywatch.vision.plates.rapidocr_backend import crop_padded

        self._rec = recogniser
        self._crop = crop_padded
        self._pad_x, self._pad_y = pad_x, pad_y
        if not stretches or any(s <= 0 for s in stretches):
            raise ValueError(f"stretches must be positive, got {list(stretches)}")
        self._stretches = tuple(stretches)
        self._sure = sure_score
        self._reread_unfit = reread_unfit

    @classmethod
    def from_config(cls, recogniser: LineRecogniser, cfg: PlateReaderConfig) -> CtcPlateReader:
        """The reader ``plates.reader`` describes, reading with ``recogniser``."""
        return cls(
            recogniser,
            pad_x=cfg.pad_x,
            pad_y=cfg.pad_y,
            stretches=cfg.stretches,
            sure_score=cfg.sure_score,
            reread_unfit=cfg.reread_unfit,
        )

    def _slots(self, image: ImageBGR, xyxy: FloatArray) -> list[list[list[Slot]]]:
        """Per stretch, per box: the slots."""
        crops = self._crops(image, xyxy)
        if not crops:
            return [[] for _ in self._stretches]
        return [
            [slots(p) for p in self._rec.probabilities(crops, stretch=s)] for s in self._stretches
        ]

    def read(self, image: ImageBGR, xyxy: FloatArray) -> list[tuple[str, float]]:
        """Greedy text and confidence of each box at the first stretch (the plain reading)."""
        return [greedy(s) for s in self._slots(image, xyxy)[0]]

    def read_formatted(
        self,
        image: ImageBGR,
        xyxy: FloatArray,
        formats: Sequence[PlateFormat],
        *,
        quick: bool = False,
    ) -> list[list[Candidate]]:
        """Plate candidates of each box, best first (empty when nothing fits a format);
        ``quick``: at the first stretch only (one recogniser run per box)."""
        crops = self._crops(image, xyxy)
        stretches = self._stretches[:1] if quick else self._stretches
        return self._read_items(crops, [(i,) for i in range(len(crops))], formats, stretches)

    def read_lines_and_pairs(
        self,
        image: ImageBGR,
        xyxy: FloatArray,
        pairs: Sequence[tuple[int, int]],
        formats: Sequence[PlateFormat],
    ) -> tuple[list[list[Candidate]], list[list[Candidate]]]:
        """Plate candidates of each box (as :meth:`read_formatted`) and of each pair of
        boxes (``(upper, lower)``) read as one stacked plate; a box's crop is recognised once
        per stretch whether its line, a pair it is in, or both need it."""
        crops = self._crops(image, xyxy)
        for pair in pairs:
            if len(pair) != 2 or not all(0 <= k < len(crops) for k in pair):
                raise ValueError(f"stacked pair {pair}: expected two of the {len(crops)} boxes")
        items = [(i,) for i in range(len(crops))] + [tuple(p) for p in pairs]
        reads = self._read_items(crops, items, formats, self._stretches)
        return reads[: len(crops)], reads[len(crops) :]

    def _crops(self, image: ImageBGR, xyxy: FloatArray) -> list[ImageBGR]:
        """Each box padded as the reader pads it, cut from the frame."""
        boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
        return [self._crop(image, b, self._pad_x, self._pad_y) for b in boxes]

    def _read_items(
        self,
        crops: Sequence[ImageBGR],
        items: Sequence[tuple[int, ...]],
        formats: Sequence[PlateFormat],
        stretches: Sequence[float],
    ) -> list[list[Candidate]]:
        """Plate candidates of each item (the indices of its crops: one line, or the upper
        and lower lines of a stacked plate read as one,
        :func:`~citywatch.vision.plates.stacked.join_lines`), at the first stretch and at the
        others while its first read is not sure; the reads of an item merged.  Each crop an
        item still needs is recognised once per stretch."""
        per_item: list[list[list[Candidate]]] = [[] for _ in items]
        todo = list(range(len(items)))
        for stretch in stretches:
            if not todo:
                break
            need = sorted({k for i in todo for k in items[i]})
            probs = dict(
                zip(
                    need,
                    self._rec.probabilities([crops[k] for k in need], stretch=stretch),
                    strict=True,
                )
            )
            for i in todo:
                lines = [probs[k] for k in items[i]]
                one = lines[0] if len(lines) == 1 else join_lines(lines[0], lines[1])
                per_item[i].append(decode(slots(one), formats))
            todo = [i for i in todo if self._again(per_item[i][0])]
        return [merge_candidates(reads) for reads in per_item]

    def _again(self, first: Sequence[Candidate]) -> bool:
        """Whether a box whose first read gave ``first`` is read at the other stretches."""
        if not first:
            return self._reread_unfit
        return first[0].score < self._sure
