"""A plate detector of our own: PP-OCRv4's text detector fine-tuned to find whole plates.

The text detector (DBNet on MobileNetV3, Apache-2.0, inside ``rapidocr-onnxruntime``) finds
characters, so it must see a frame at 640 px or more; a plate, five to ten characters on a
bright rectangle, is found at half that size, a quarter of the pixels.  :func:`load_det` turns
the ONNX graph into a trainable torch module (as :mod:`citywatch.training.plate_ppocr` does for
the recogniser), :class:`DetData` draws training pictures and their shrunk-plate targets, and
:func:`train_det` fine-tunes it with DBNet's loss on its probability map (balanced
cross-entropy with 3:1 hard negatives, plus dice); :func:`export_det` writes it back to ONNX
with the original's contract (input ``x``, BGR scaled to -1..1; output the probability map),
so the same DB post-processing reads it.

Training data that may ship (``../shared/data/README.md``): the MIT-licensed Romanian dashcam
frames (``RobertLucian/license-plate-dataset``; their plate boxes), split by drive, and
synthetic plates drawn with the licensed fonts (:mod:`citywatch.training.plate_render`)
pasted into those frames at every size a camera sees, every format the recogniser reads.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import onnx
import pyclipper
import torch
from torch import nn

from citywatch.eval.voc import voc_boxes
from citywatch.training.plate_ppocr import (
    ConvertedNet,
    convert_trainable,
    declare_4d,
    with_initializers,
    write_weights,
)
from citywatch.training.plate_real import TRAIN_DRIVES
from citywatch.training.plate_render import Fonts, draw_plate, to_bgr
from citywatch.training.plate_styles import PlateStyle, pick_layout, plate_text, styles_for
from citywatch.vision.plates.rapidocr_backend import text_detector_path

SIDE = 320  # training pictures are SIDE x SIDE; the detector runs at this longer side
SHRINK = 0.4  # DBNet's shrink ratio: the target is the plate shrunk by D = A (1 - r^2) / L
MIN_PLATE_PX = 5.0  # plates lower than this in the picture are neither plate nor background
CACHE_SIDE = 800  # Romanian frames are kept in memory at this longer side
LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.modules.batchnorm._BatchNorm)
FROZEN_CONVS = 12  # the stem and first stages of the MobileNetV3 backbone are kept


class DetTrainError(RuntimeError):
    """Training data or a model file cannot be used; the message names it."""


# ---------------------------------------------------------------------------------- model
class DetNet(ConvertedNet):
    """The text detector in torch: ``forward`` gives the probability map ``[N, 1, H, W]``."""


def load_det(path: Path | None = None, *, frozen_convs: int = FROZEN_CONVS) -> DetNet:
    """The text detector at ``path`` (default: PP-OCRv4's) as a trainable :class:`DetNet`,
    its first ``frozen_convs`` convolutions (stem and first stages: strokes and edges) kept."""
    src = path or text_detector_path()
    try:
        model = onnx.load(str(src))
    except Exception as err:  # protobuf's DecodeError, OSError, ...
        raise DetTrainError(f"text detector {src}: cannot be read ({err})") from None
    prepared = with_initializers(model)
    declare_4d(prepared.graph)
    graph, names = convert_trainable(prepared, src, "text detector", DetTrainError)
    params = dict(graph.named_parameters())
    unmapped = sorted(set(params) - set(names))
    if unmapped:
        raise DetTrainError(f"text detector {src}: weights of unknown origin {unmapped[:3]}")
    convs = [m for m in graph.modules() if isinstance(m, nn.Conv2d)]
    for conv in convs[:frozen_convs]:
        for param in conv.parameters():
            param.requires_grad_(False)
    layers = {id(p) for m in graph.modules() if isinstance(m, LAYERS) for p in m.parameters()}
    for param in params.values():
        if id(param) not in layers:  # the upsampling's scales: part of the graph, not weights
            param.requires_grad_(False)
    return DetNet(graph, {k: names[k] for k in params if id(params[k]) in layers})


def export_det(net: DetNet, out: Path, *, source: Path | None = None) -> Path:
    """The source detector with ``net``'s weights written into its own graph (its
    ``Constant`` nodes): input ``x`` of any size, the probability map out, as before;
    checked against torch (to 1e-4) at the training size (the torch graph resizes at the
    size it was converted for)."""
    import onnxruntime as ort

    src = source or text_detector_path()
    proto = onnx.load(str(src))
    write_weights(proto, net, src, DetTrainError)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(out))
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(320).uniform(-1, 1, (1, 3, SIDE, SIDE)).astype(np.float32)
    with torch.no_grad():
        want = net.eval()(torch.from_numpy(x)).numpy()
    if float(np.abs(sess.run(None, {"x": x})[0] - want).max()) > 1e-4:
        out.unlink()
        raise DetTrainError(f"{out}: the exported detector differs from the trained one")
    return out


# ----------------------------------------------------------------------------------- data
@dataclass(frozen=True)
class Frame:
    """A Romanian dashcam frame (BGR at CACHE_SIDE) and its plate boxes (x0, y0, x1, y1)."""

    name: str
    image: np.ndarray
    boxes: tuple[tuple[float, float, float, float], ...]

    @property
    def drive(self) -> str:
        return self.name.split(".mp4")[0]


def ro_frames(root: Path, drives: Sequence[str] | None = None) -> list[Frame]:
    """The dataset's frames with their boxes (``root``: the repository's ``dataset``
    folder), of ``drives`` only when given."""
    xmls = sorted(root.glob("*/annots/*.xml"))
    if not xmls:
        raise DetTrainError(f"{root}: no */annots/*.xml (the license-plate-dataset's dataset/)")
    frames = []
    for xml in xmls:
        name = xml.name[: -len(".xml")]
        if drives is not None and name.split(".mp4")[0] not in drives:
            continue
        picture = xml.parent.parent / "images" / f"{name}.jpg"
        image = cv2.imread(str(picture))
        if image is None:
            raise DetTrainError(f"{picture}: not a readable image")
        s = CACHE_SIDE / max(image.shape[:2])
        image = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        boxes = [(x0 * s, y0 * s, x1 * s, y1 * s) for x0, y0, x1, y1 in voc_boxes(xml)]
        frames.append(Frame(name, image, tuple(boxes)))
    return frames


def shrunk(poly: np.ndarray, ratio: float = SHRINK) -> np.ndarray | None:
    """DBNet's shrunk polygon of ``poly`` (N, 2), or None when nothing is left."""
    area = abs(cv2.contourArea(poly.astype(np.float32)))
    length = cv2.arcLength(poly.astype(np.float32), True)
    if area <= 0 or length <= 0:
        return None
    d = area * (1 - ratio * ratio) / length
    pco = pyclipper.PyclipperOffset()
    pco.AddPath(
        [tuple(map(int, p)) for p in np.round(poly * 8)],
        pyclipper.JT_ROUND,
        pyclipper.ET_CLOSEDPOLYGON,
    )
    out = pco.Execute(-d * 8)
    if not out:
        return None
    return np.asarray(max(out, key=len), np.float32) / 8


class DetData:
    """Training pictures: a crop of a frame at a random scale with 0-3 synthetic plates
    pasted in, degraded as a camera would; the target marks each plate shrunk, and plates
    too small to be anything are masked out of the loss."""

    def __init__(
        self,
        frames: list[Frame],
        fonts: Fonts,
        *,
        seed: int,
        formats: tuple[str, ...] | None = None,
    ) -> None:
        if not frames:
            raise DetTrainError("no frames to train on")
        self.frames = frames
        self.fonts = fonts
        self.styles: tuple[PlateStyle, ...] = tuple(styles_for(formats))
        self.weights = [s.weight for s in self.styles]
        self.seed = seed

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = random.Random(self.seed * 1_000_003 + index)
        frame = rng.choice(self.frames)
        h, w = frame.image.shape[:2]
        # the crop: from the whole frame down to a quarter of it (plates 4-30 px at SIDE)
        side = rng.uniform(0.25, 1.0) * max(w, h)
        cw, ch = min(w, side), min(h, side)
        x0, y0 = rng.uniform(0, w - cw), rng.uniform(0, h - ch)
        s = SIDE / max(cw, ch)
        m = np.array([[s, 0, -x0 * s], [0, s, -y0 * s]], np.float32)
        img = cv2.warpAffine(
            frame.image, m, (SIDE, SIDE), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT
        )
        polys: list[np.ndarray] = []
        real: list[np.ndarray] = []
        for bx0, by0, bx1, by1 in frame.boxes:
            q = np.array([[bx0, by0], [bx1, by0], [bx1, by1], [bx0, by1]], np.float32)
            q = q * s + m[:, 2]
            real.append(q)
        for _ in range(rng.choice((0, 1, 1, 2, 2, 3))):
            img, quad = self._paste(img, rng)
            if quad is not None:
                polys.append(quad)
        img = _degrade(img, rng)
        target = np.zeros((SIDE, SIDE), np.float32)
        mask = np.ones((SIDE, SIDE), np.float32)
        for q in [*real, *polys]:
            if (
                q[:, 0].max() < 0
                or q[:, 1].max() < 0
                or q[:, 0].min() > SIDE
                or q[:, 1].min() > SIDE
            ):
                continue
            height = float(np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])) / 2
            inner = shrunk(q)
            if height < MIN_PLATE_PX or inner is None or _cut(q):
                cv2.fillPoly(mask, [np.round(q).astype(np.int32)], 0.0)
                continue
            cv2.fillPoly(target, [np.round(inner).astype(np.int32)], 1.0)
        return img, target, mask

    def _paste(self, img: np.ndarray, rng: random.Random) -> tuple[np.ndarray, np.ndarray | None]:
        style = rng.choices(self.styles, weights=self.weights)[0]
        layout = pick_layout(style, rng)
        plate = draw_plate(style, layout, plate_text(layout, rng, style.letters), self.fonts, rng)
        face = to_bgr(plate.rgb)
        ph, pw = face.shape[:2]
        height = math.exp(rng.uniform(math.log(5.0), math.log(45.0)))
        width = height * pw / ph
        if width > SIDE * 0.8:
            return img, None
        cx, cy = (
            rng.uniform(width / 2, SIDE - width / 2),
            rng.uniform(height / 2, SIDE - height / 2),
        )
        roll = math.radians(rng.uniform(-8, 8))
        yaw = rng.uniform(-0.25, 0.25)
        src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
        corners = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]], np.float32)
        corners[:, 0] *= width
        corners[:, 1] *= height
        corners[:, 1] *= 1 + yaw * np.sign(corners[:, 0])  # one side nearer
        c, sn = math.cos(roll), math.sin(roll)
        quad = corners @ np.array([[c, sn], [-sn, c]], np.float32) + np.array([cx, cy], np.float32)
        h = cv2.getPerspectiveTransform(src, quad.astype(np.float32))
        warped = cv2.warpPerspective(face, h, (SIDE, SIDE), flags=cv2.INTER_AREA)
        alpha = cv2.warpPerspective(
            np.ones((ph, pw), np.float32), h, (SIDE, SIDE), flags=cv2.INTER_LINEAR
        )
        # light: the plate takes on some of the scene's brightness
        around = img[
            max(0, int(cy - height)) : int(cy + height) + 1,
            max(0, int(cx - width)) : int(cx + width) + 1,
        ]
        gain = (float(around.mean()) / 128.0) ** 0.5 if around.size else 1.0
        gain *= rng.uniform(0.7, 1.15)
        warped = np.clip(warped.astype(np.float32) * gain, 0, 255)
        a = alpha[..., None]
        out = img.astype(np.float32) * (1 - a) + warped * a
        return np.clip(out, 0, 255).astype(np.uint8), quad


def _cut(q: np.ndarray) -> bool:
    """A plate cut by the picture's edge by more than a fifth of its width."""
    inside = np.clip(q, 0, SIDE)
    return float(np.abs(inside - q).max()) > 0.2 * float(q[:, 0].max() - q[:, 0].min())


def _degrade(img: np.ndarray, rng: random.Random) -> np.ndarray:
    r = rng.random()
    if r < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.2))
    f = img.astype(np.float32)
    if rng.random() < 0.15:  # dusk
        f = 255.0 * (f / 255.0) ** rng.uniform(1.2, 2.0) * rng.uniform(0.35, 0.7)
    else:
        f = f * rng.uniform(0.7, 1.25) + rng.uniform(-25, 25)
    if rng.random() < 0.1:
        f = np.repeat(f.mean(axis=2, keepdims=True), 3, axis=2)
    gen = np.random.default_rng(rng.getrandbits(32))
    f = f + gen.normal(0.0, rng.uniform(0, 6), f.shape).astype(np.float32)
    out = np.clip(f, 0, 255).astype(np.uint8)
    if rng.random() < 0.6:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(30, 92)])
        if ok:
            out = np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR), np.uint8)
    return out


def to_blob(images: Sequence[np.ndarray]) -> torch.Tensor:
    x = np.stack(images).astype(np.float32) * (2.0 / 255.0) - 1.0
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


# ------------------------------------------------------------------------------- training
def db_loss(prob: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """DBNet's loss on the probability map: balanced BCE (every positive, the hardest
    negatives up to three times as many) plus dice."""
    p = prob[:, 0].clamp(1e-6, 1 - 1e-6)
    bce = -(target * torch.log(p) + (1 - target) * torch.log(1 - p))
    pos = (target * mask).bool()
    neg = ((1 - target) * mask).bool()
    n_pos = int(pos.sum())
    n_neg = min(int(neg.sum()), max(3 * n_pos, 256))
    neg_loss, _ = torch.topk(bce[neg], n_neg)
    balanced = (bce[pos].sum() + neg_loss.sum()) / (n_pos + n_neg + 1e-6)
    inter = (p * target * mask).sum()
    dice = 1 - 2 * inter / ((p * mask).sum() + (target * mask).sum() + 1e-6)
    return balanced + dice


@dataclass(frozen=True)
class DetSettings:
    """What a run is: a checkpoint continues only a run of the same settings."""

    seed: int = 15
    steps: int = 1200
    batch: int = 8
    lr: float = 5e-4
    drives: tuple[str, ...] = TRAIN_DRIVES
    init: str = ""  # the ONNX detector the run starts from ("": PP-OCRv4's text detector)
    separable: bool = False  # its full 3x3 convolutions made depthwise-separable first
    distil: float = 0.0  # weight of matching the starting detector's own map (0: none)


def distil_loss(prob: torch.Tensor, want: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of a student's probability map against a teacher's (soft targets):
    where the teacher puts a plate, and how far it reaches, not only the labelled boxes."""
    eps = 1e-6
    return nn.functional.binary_cross_entropy(prob.clamp(eps, 1 - eps), want.clamp(0, 1))


def start_path(settings: DetSettings) -> Path:
    """The ONNX detector a run starts from: ``init``, else PP-OCRv4's text detector."""
    return Path(settings.init) if settings.init else text_detector_path()


def _teacher(settings: DetSettings) -> DetNet:
    """The detector a run starts from, as it is (before any separable change), frozen: what a
    cheaper student learns to reproduce (``distil``)."""
    teacher = load_det(start_path(settings)).eval()
    for param in teacher.parameters():
        param.requires_grad_(False)
    return teacher


CHECKPOINT = "checkpoint.pt"
SOURCE = "source.onnx"  # the graph a run trains, beside its checkpoint (export writes into it)


def run_source(run: Path, settings: DetSettings) -> Path:
    """``run/source.onnx``: the detector ``settings`` start from (``init``, else PP-OCRv4's),
    its convolutions made separable when asked (:mod:`citywatch.training.det_slim`); written
    on a run's first start, then kept, so a resumed run and the export use the same graph."""
    out = run / SOURCE
    if out.is_file():
        return out
    src = start_path(settings)
    try:
        proto = onnx.load(str(src))
    except Exception as err:  # protobuf's DecodeError, OSError, ...
        raise DetTrainError(f"detector {src}: cannot be read ({err})") from None
    if settings.separable:
        from citywatch.training.det_slim import make_separable

        if not make_separable(proto):
            raise DetTrainError(f"detector {src}: no full 3x3 convolution to make separable")
    run.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    onnx.save(proto, str(tmp))
    tmp.replace(out)
    return out


def train_det(
    data: DetData,
    settings: DetSettings,
    run: Path,
    *,
    progress: Callable[[int, float], None] | None = None,
    checkpoint_every: int = 100,
) -> DetNet:
    """Fine-tune the text detector on ``data``; ``run/checkpoint.pt`` is written every
    ``checkpoint_every`` steps and at the end, and a run started again on the same folder
    continues from it (refused when its settings differ).  Returns the trained network."""
    torch.manual_seed(settings.seed)
    net = load_det(run_source(run, settings)).train()
    teacher = _teacher(settings) if settings.distil > 0 else None
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=settings.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=settings.lr, total_steps=settings.steps, pct_start=0.1
    )
    run.mkdir(parents=True, exist_ok=True)
    ckpt = run / CHECKPOINT
    start = 0
    if ckpt.is_file():
        try:
            state = torch.load(ckpt, map_location="cpu", weights_only=False)
        except Exception as err:  # a truncated or foreign file
            raise DetTrainError(f"{ckpt}: not a checkpoint of this trainer ({err})") from None
        if {**asdict(DetSettings()), **state.get("settings", {})} != asdict(settings):
            raise DetTrainError(
                f"{ckpt}: a run with other settings ({state.get('settings')}); use another folder"
            )
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        start = int(state["step"])

    def save(step: int) -> None:
        state = {
            "step": step,
            "settings": asdict(settings),
            "model": net.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "torch_rng": torch.get_rng_state(),
        }
        tmp = ckpt.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(ckpt)

    for step in range(start, settings.steps):
        samples = [data.sample(step * settings.batch + i) for i in range(settings.batch)]
        x = to_blob([s[0] for s in samples])
        t = torch.from_numpy(np.stack([s[1] for s in samples]))
        m = torch.from_numpy(np.stack([s[2] for s in samples]))
        prob = net(x)
        loss = db_loss(prob, t, m)
        if teacher is not None:
            with torch.no_grad():
                want = teacher(x)
            loss = loss + settings.distil * distil_loss(prob, want)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if progress is not None:
            progress(step + 1, loss.item())
        if (step + 1) % checkpoint_every == 0 or step + 1 == settings.steps:
            save(step + 1)
    return net


def export_checkpoint(ckpt: Path, out: Path) -> Path:
    """A run's checkpoint as the shipped detector's ONNX file (see :func:`export_det`),
    written into the graph the run trained (``source.onnx`` beside it; PP-OCRv4's text
    detector for a run made before runs kept it)."""
    source = ckpt.parent / SOURCE
    src = source if source.is_file() else None
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        net = load_det(src)
        net.load_state_dict(state["model"])
    except DetTrainError:
        raise
    except Exception as err:
        raise DetTrainError(f"{ckpt}: not a plate detector checkpoint ({err})") from None
    return export_det(net, out, source=src)
