"""Training the plate recogniser on synthetic plates: seeded, resumable, CPU by default.

:func:`train` draws batches from :class:`~citywatch.training.plate_synth.PlateSynth` (batch
``b`` of a seed is samples ``b*batch ...``, so a resumed run sees what an uninterrupted one
would have), trains :class:`~citywatch.training.plate_model.PlateNet` with CTC loss (AdamW;
the learning rate warms up, then falls along a cosine to 2% at ``steps``: a pure function of
the step, so a run resumed with fewer or more ``steps`` continues on the new schedule), writes
``checkpoint.pt`` into the run folder every ``checkpoint_every`` steps and at the end
(atomically: a killed run leaves the last whole checkpoint), measures greedy exact rate on a
validation set drawn from another seed, and logs one JSON line per measurement to
``log.jsonl``.  Running again with the same folder resumes from its checkpoint.
:func:`~citywatch.training.plate_export.export_onnx` writes the model as it ships
(probabilities, the character list and ``rows`` in its metadata) and checks onnxruntime reads
as torch does.  Needs ``torch``
(``pip install -e '.[train]'``); uses the GPU when one is there.

``init`` chooses the network: ``scratch`` (:class:`~citywatch.training.plate_model.PlateNet`
from random weights, two rows, 32 px high) or ``ppocr`` (the PP-OCRv4 recogniser shipped in
``rapidocr-onnxruntime``, converted to torch by :mod:`citywatch.training.plate_ppocr` and
fine-tuned over its own 6,625 classes: one row, 48 px high, its first stages frozen; draw it
one-line plates only) or ``ppocrv6`` (PP-OCRv6 small, the US default, prepared by ``citywatch
models prepare``, the same way over its 18,710 classes; it attends across its whole input line,
so each crop of a batch goes through it alone instead of zero-padded to the widest, as the
reader runs it) or ``plate-crnn`` (the shipped plate-crnn's own weights, read back from its
ONNX file with its batch norms folded and kept fixed: :func:`~citywatch.training.plate_model.
from_exported`).  Everything else (data, schedule, checkpoints, log) is the same; the export of
a fine-tuned PP-OCR keeps the original's graph and contract.  ``real`` and ``real_share`` record
that a share of the samples came from real crops (:mod:`citywatch.training.plate_real`; the
caller mixes them in with :class:`~citywatch.training.plate_real.MixedSource`).
"""

from __future__ import annotations

import json
import math
import os
import pickle
import random
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from citywatch.training.plate_model import (
    HEIGHT,
    ROWS,
    STRIDE,
    PlateNet,
    encode,
    from_exported,
)
from citywatch.training.plate_real import SampleSource
from citywatch.training.plate_synth import Sample
from citywatch.vision.plates.ctc import ALPHABET
from citywatch.vision.plates.ppocr import line_tensor, line_width, min_width_for

MAX_TRAIN_WIDTH = 10  # wider crops are squeezed to this many times the input height
STRETCH = (0.85, 1.5)  # crops are read widened by 1.0 and 1.4 (plates.reader.stretches)
CHECKPOINT = "checkpoint.pt"


class TrainingError(RuntimeError):
    """Training cannot start or continue; the message names the file or setting."""


@dataclass(frozen=True)
class TrainSettings:
    """What a run does; stored in its checkpoint (a resumed run must match in the fields
    that shape the data and the model)."""

    seed: int = 15
    steps: int = 20_000
    batch: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    formats: tuple[str, ...] | None = None
    checkpoint_every: int = 250
    eval_every: int = 500
    eval_samples: int = 384
    init: str = "scratch"  # or "ppocr" / "ppocrv6": fine-tune PP-OCRv4 / PP-OCRv6 small
    boost: tuple[tuple[str, float], ...] = ()  # (format, factor): drawn that much more often
    stroke_share: float = 0.0  # of the US plates drawn in the project's stroke lettering
    real: str = ""  # a folder of real crops (`train plate-crops`) mixed in
    real_share: float = 0.0  # of the samples drawn from it
    height: int | None = None  # a fine-tuned PP-OCR's input height (None: the model's own, 48)
    col_step: int | None = None  # PP-OCRv6: input columns per output step (None: its own, 8)


_SAME_ON_RESUME = (
    "seed", "batch", "lr", "weight_decay", "formats", "init", "boost", "stroke_share", "real",
    "real_share", "height", "col_step",
)  # fmt: skip
INITS = ("scratch", "plate-crnn", "ppocr", "ppocrv6", "ppocrv6-plates")
PPOCR_INITS = ("ppocr", "ppocrv6", "ppocrv6-plates")
V6_INITS = ("ppocrv6", "ppocrv6-plates")  # PP-OCRv6 small, and the shipped fine-tune of it
PP_HEIGHTS = (32, 48, 64)  # the input heights a PP-OCR fine-tune may read at
WARMUP = 0.05  # of the steps (at least 50)
FLOOR = 0.02  # the learning rate at the last step, relative to the peak


def lr_factor(step: int, steps: int) -> float:
    """The learning rate at ``step`` of ``steps``, relative to the peak."""
    warm = max(50, round(WARMUP * steps))
    if step < warm:
        return (step + 1) / warm
    done = min(1.0, (step - warm) / max(1, steps - warm))
    return FLOOR + (1 - FLOOR) * 0.5 * (1 + math.cos(math.pi * done))


@dataclass
class Progress:
    """What :func:`train` reports after each step."""

    step: int
    steps: int
    loss: float
    val_exact: float | None
    seconds: float


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def stretch_of(seed: int, index: int) -> float:
    return random.Random(seed * 7919 + index).uniform(*STRETCH)


Targets = list[tuple[torch.Tensor, torch.Tensor]]


@dataclass
class Arch:
    """A network being trained and how it reads: input height, rows, width per output step,
    a label's class indices, and per class the plate symbol it reads ('' for blank, separators
    and anything else)."""

    net: nn.Module
    height: int
    rows: int
    stride: int
    encode: Callable[[str], list[int]]
    symbols: list[str]
    alone: bool = False  # each crop through the network alone (no zero padding in a batch)


def build(init: str, height: int | None = None, col_step: int | None = None) -> Arch:
    """The network of ``init`` (see the module doc), on the CPU; ``height`` (PP-OCR only) the
    input height it learns to read at instead of the model's own, ``col_step`` (PP-OCRv6 only)
    the input columns per output step (4 or 8)."""
    if height is not None and init not in PPOCR_INITS:
        raise TrainingError(f"an input height is for a PP-OCR fine-tune; {init!r} reads at 32")
    if col_step is not None and init not in V6_INITS:
        raise TrainingError(f"a column step is for a PP-OCRv6 fine-tune, not {init!r}")
    if height is not None and height not in PP_HEIGHTS:
        raise TrainingError(
            f"input height {height}: expected one of {', '.join(map(str, PP_HEIGHTS))}"
        )
    if init == "scratch":
        return Arch(PlateNet(), HEIGHT, ROWS, STRIDE, encode, ["", *ALPHABET, ""])
    if init == "plate-crnn":
        from citywatch.vision.plates.recognisers import shipped_path

        try:
            folded = from_exported(shipped_path("plate-crnn"))
        except ValueError as err:
            raise TrainingError(str(err)) from None
        return Arch(folded, HEIGHT, ROWS, STRIDE, encode, ["", *ALPHABET, ""])
    if init in PPOCR_INITS:
        from citywatch.training.plate_ppocr import STRIDE as PP_STRIDE
        from citywatch.training.plate_ppocr import (
            PpocrError,
            freeze_early,
            load_ppocr,
            source_of,
        )
        from citywatch.vision.plates.ppocr import HEIGHT as PP_HEIGHT

        try:
            net, classes = load_ppocr(source_of(init), height, col_step)
        except PpocrError as err:
            raise TrainingError(str(err)) from None
        freeze_early(net)
        # PP-OCRv6 attends across its whole input line: each crop is read alone, as at run time
        alone = init in V6_INITS
        h = PP_HEIGHT if height is None else height
        step = PP_STRIDE if col_step is None else col_step
        return Arch(net, h, 1, step, classes.encode, classes.symbols(), alone)
    raise TrainingError(f"unknown init {init!r}; known: {', '.join(INITS)}")


def row_labels(sample: Sample, rows: int = ROWS) -> tuple[str, ...]:
    """What each row reads: a one-line plate in the upper row (the lower one blank), a stacked
    plate's lines one per row; a one-row network reads the whole label."""
    if rows == 1:
        return (sample.label,)
    lines = sample.lines or (sample.label,)
    return (lines[0], lines[1] if len(lines) > 1 else "")


def batch_tensors(
    samples: list[Sample], stretches: list[float], arch: Arch
) -> tuple[torch.Tensor, Targets]:
    """Input ``[N, 3, H, W]`` (each crop at its own width, zero-padded to the widest), and per
    row the concatenated targets and their lengths."""
    height = arch.height
    widths = [
        min(MAX_TRAIN_WIDTH * height, line_width(s.image, st, height))
        for s, st in zip(samples, stretches, strict=True)
    ]
    full = max(min_width_for(height), *widths)
    full = math.ceil(full / arch.stride) * arch.stride
    x = np.zeros((len(samples), 3, height, full), np.float32)
    for i, (s, w) in enumerate(zip(samples, widths, strict=True)):
        x[i, :, :, :w] = line_tensor([s.image], w, height, w)[0]
    rows: Targets = []
    for r in range(arch.rows):
        targets = [arch.encode(row_labels(s, arch.rows)[r]) for s in samples]
        flat = torch.tensor([k for t in targets for k in t], dtype=torch.long)
        rows.append((flat, torch.tensor([len(t) for t in targets], dtype=torch.long)))
    return torch.from_numpy(x), rows


def greedy_text(logits: torch.Tensor, arch: Arch) -> list[str]:
    """Best-path reading of ``[N, rows*T, K]`` logits (each row alone, then joined), separators
    and non-plate symbols dropped."""
    best = logits.argmax(dim=2).cpu().numpy()
    steps = best.shape[1] // arch.rows
    out = []
    for seq in best:
        chars = []
        for r in range(arch.rows):
            prev = 0
            for k in seq[r * steps : (r + 1) * steps]:
                if k != prev and arch.symbols[k]:
                    chars.append(arch.symbols[k])
                prev = k
        out.append("".join(chars))
    return out


def evaluate(arch: Arch, samples: list[Sample], dev: torch.device) -> tuple[float, float]:
    """Greedy exact rate and character accuracy (1 - edit distance / length) on ``samples``,
    each read alone at stretch 1 (as the reader's first read)."""
    from citywatch.vision.plates.formats import edit_distance

    net = arch.net
    net.eval()
    exact, chars, total = 0, 0.0, 0
    with torch.no_grad():
        for s in samples:
            x, _ = batch_tensors([s], [1.0], arch)
            read = greedy_text(net(x.to(dev)), arch)[0]
            exact += read == s.text
            chars += max(0, len(s.text) - edit_distance(read, s.text))
            total += len(s.text)
    net.train()
    return exact / max(1, len(samples)), chars / max(1, total)


def ctc_loss(logits: torch.Tensor, rows: Targets, arch: Arch, ctc: nn.CTCLoss) -> torch.Tensor:
    """The CTC loss of ``[N, rows*T, K]`` logits: each row its own loss (the upper row reads a
    one-line plate or the upper line), summed."""
    logp = logits.log_softmax(2).transpose(0, 1).float().cpu()  # rows*T, N, K
    steps = logp.shape[0] // arch.rows
    in_len = torch.full((logp.shape[1],), steps, dtype=torch.long)
    return sum(
        (
            ctc(logp[r * steps : (r + 1) * steps], targets, in_len, lengths)
            for r, (targets, lengths) in enumerate(rows)
        ),
        torch.zeros(()),
    )


def data_note(settings: dict[str, Any]) -> str:
    """What a run learned from, for the exported file's ``data`` metadata."""
    share = settings.get("real_share")
    fonts = (
        "(citywatch.training.plate_synth; fonts FE-Schrift GL-Nummernschild, DINish OFL-1.1, "
        "Barlow OFL-1.1)"
    )
    if not share:
        return f"synthetic plates only {fonts}"
    return (
        f"synthetic plates {fonts}; {share} of the samples real crops of the Romanian dashcam "
        "frames (RobertLucian/license-plate-dataset, MIT; labelled by citywatch, "
        "citywatch.training.plate_real)"
    )


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by :func:`train`; a truncated or foreign file is a
    :class:`TrainingError` naming it."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile) as err:
        raise TrainingError(
            f"checkpoint {path} cannot be read (truncated or not a checkpoint): {err}; delete "
            "it to start again, or point at another run folder"
        ) from None
    if not isinstance(state, dict) or not {"model", "settings", "step"} <= set(state):
        raise TrainingError(f"checkpoint {path} is not a plate recogniser checkpoint")
    return state


def _save(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def train(
    settings: TrainSettings,
    synth: SampleSource,
    val_synth: SampleSource,
    out: Path,
    *,
    max_seconds: float | None = None,
    stop_at: int | None = None,
    on_step: Callable[[Progress], None] | None = None,
) -> dict[str, Any]:
    """Train (or resume) into the run folder ``out``; stops after ``settings.steps`` or
    ``max_seconds``, checkpointing.  ``stop_at`` stops (checkpointed, measured) at that step of
    the ``settings.steps`` schedule, so a checkpoint between the regular ones can be made again
    (a later resume with a larger ``stop_at`` or none goes on along the same schedule).
    Returns the last measurement."""
    if stop_at is not None and not 0 < stop_at <= settings.steps:
        raise TrainingError(f"stop at step {stop_at}: expected 1..{settings.steps} (the steps)")
    end = settings.steps if stop_at is None else stop_at
    out.mkdir(parents=True, exist_ok=True)
    dev = device()
    torch.manual_seed(settings.seed)
    arch = build(settings.init, settings.height, settings.col_step)
    net = arch.net.to(dev)
    trainable = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=settings.lr, weight_decay=settings.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, settings.steps))
    step, spent = 0, 0.0
    ckpt = out / CHECKPOINT
    if ckpt.exists():
        state = load_checkpoint(ckpt)
        before = state["settings"]
        now, defaults = asdict(settings), asdict(TrainSettings())
        changed = [k for k in _SAME_ON_RESUME if before.get(k, defaults[k]) != now[k]]
        if changed:
            raise TrainingError(
                f"checkpoint {ckpt} was trained with other settings ({', '.join(changed)}: "
                f"{[before.get(k) for k in changed]}); use another run folder"
            )
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, spent = int(state["step"]), float(state.get("seconds", 0.0))
        sched.last_epoch = step  # the learning rate of this step on this run's schedule
        for group in opt.param_groups:
            group["lr"] = group["initial_lr"] * lr_factor(step, settings.steps)
    val = [val_synth.sample_at(i) for i in range(settings.eval_samples)]
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    log = (out / "log.jsonl").open("a", encoding="utf-8")
    ema: float | None = None
    last: dict[str, Any] = {"step": step}
    started = time.monotonic() - spent

    def checkpoint() -> None:
        _save(
            ckpt,
            {
                "model": net.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "step": step,
                "seconds": time.monotonic() - started,
                "settings": asdict(settings),
            },
        )

    net.train()
    try:
        while step < end:
            if max_seconds is not None and time.monotonic() - started - spent >= max_seconds:
                break
            base = step * settings.batch
            idx = range(base, base + settings.batch)
            samples = [synth.sample_at(i) for i in idx]
            stretches = [stretch_of(settings.seed, i) for i in idx]
            # the batch's mean loss; a network that attends across the whole line reads each
            # crop alone (zero padding to a wider batch-mate would change what it reads)
            parts = [[i] for i in range(len(samples))] if arch.alone else [list(range(len(idx)))]
            opt.zero_grad(set_to_none=True)
            value = 0.0
            for part in parts:
                x, rows = batch_tensors(
                    [samples[i] for i in part], [stretches[i] for i in part], arch
                )
                loss = ctc_loss(net(x.to(dev)), rows, arch, ctc) * (len(part) / len(samples))
                loss.backward()
                value += loss.item()
            nn.utils.clip_grad_norm_(trainable, 5.0)
            opt.step()
            sched.step()
            step += 1
            ema = value if ema is None else 0.98 * ema + 0.02 * value
            val_exact = None
            if step % settings.eval_every == 0 or step == end:
                val_exact, val_chars = evaluate(arch, val, dev)
                last = {
                    "step": step,
                    "samples": step * settings.batch,
                    "loss": round(ema, 4),
                    "val_exact": round(val_exact, 4),
                    "val_char_accuracy": round(val_chars, 4),
                    "lr": opt.param_groups[0]["lr"],
                    "seconds": round(time.monotonic() - started, 1),
                }
                log.write(json.dumps(last) + "\n")
                log.flush()
            if step % settings.checkpoint_every == 0:
                checkpoint()
            if on_step is not None:
                on_step(Progress(step, settings.steps, ema, val_exact, time.monotonic() - started))
    finally:
        checkpoint()
        log.close()
    return last
