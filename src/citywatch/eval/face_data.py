"""Labelled face data for `citywatch eval faces` / `face-pairs`, embedded by the live pipeline.

Two layouts of images are handled:

* **photo** -- whole pictures.  Each goes through exactly what a camera frame goes through:
  the configured detector, the landmarker when the detector gives no points, the quality
  floors (:func:`citywatch.vision.faces.stage.detect_faces`), then the configured embedder.
  The largest usable face is the image's face; an image without one is a detection failure.
* **aligned** -- face crops that were already aligned by whoever made the set (all one size,
  e.g. 112x112 ArcFace crops or dlib's 150x150 chips).  Run face by face, the detector and the
  5-point predictor only add noise to an alignment that is already done (on the identity set:
  verification accuracy 0.965 with per-crop landmarks, 0.969 with one shared set), and they
  can miss on a tight crop.  So the layout itself is measured: the same detector and
  landmarker run on a sample of the crops (labels unused) and the median of their landmarks
  becomes the one set of landmarks for every crop.  Nothing is learnt from identities, and a
  folder of crops in another convention gets its own landmarks.  Should the sample yield too
  few faces, 112x112 crops fall back on the ArcFace layout
  (:data:`citywatch.vision.faces.templates.DLIB5_IN_ARCFACE_112`).

``auto`` picks *aligned* when every image has one and the same square size of at most
:data:`ALIGNED_MAX_SIDE` px, otherwise *photo*.

Timing (``ms_per_face``): the work done per face -- detection, landmarks and quality for
photos, alignment and the network for every face -- without decoding the file.  Embedders
that can (:class:`~citywatch.vision.faces.base.ChipBatchEmbedder`) run the network on the
chips of ``embed_batch`` faces at once, as a frame with several faces and the shared Ray
embedder run it; ``ms_per_face_single`` is the latency of one face embedded on its own
(measured on the first :data:`SINGLE_SAMPLE` faces).  Measuring an aligned set's shared
landmarks happens once per set and is reported on its own (``layout_seconds``).
``ms_per_face`` is wall time, so it grows when other processes share the cores;
``cpu_ms_per_face`` (CPU time of all the process's threads for the same work) does not, and
with one thread it is what an idle core would take.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from citywatch.config.faces import FacesConfig
from citywatch.config.root import CitywatchConfig
from citywatch.vision.faces.base import (
    ChipBatchEmbedder,
    FaceDetector,
    FaceEmbedder,
    FaceLandmarker,
)
from citywatch.vision.faces.quality import assess
from citywatch.vision.faces.registry import (
    build_detector,
    build_embedder,
    build_landmarker,
    model_id,
)
from citywatch.vision.faces.stage import detect_faces
from citywatch.vision.faces.templates import ARCFACE_SIZE, DLIB5_IN_ARCFACE_112
from citywatch.vision.record import Detections, FloatArray, ImageBGR, IntArray

log = logging.getLogger(__name__)

Layout = Literal["auto", "aligned", "photo"]
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
ALIGNED_MAX_SIDE = 256
#: Crops the shared landmarks of an aligned set are measured on (spread over the set).
TEMPLATE_SAMPLE = 200
TEMPLATE_MIN_FACES = 5
#: Faces also embedded one at a time, for the single-face latency.
SINGLE_SAMPLE = 50
Progress = Callable[[int], None]


class FaceDataError(ValueError):
    """A data folder or pairs file is missing, empty or malformed; the message says where."""


@dataclass(frozen=True)
class IdentitySet:
    """Images grouped by identity: ``<root>/<identity>/<image>``."""

    root: Path
    files: tuple[Path, ...]
    labels: IntArray  # index into ``identities``
    identities: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.files)

    @property
    def name(self) -> str:
        return self.root.name


def _natural(p: Path) -> tuple[int, int | str]:
    return (0, int(p.stem)) if p.stem.isdigit() else (1, p.name)


def load_identities(root: Path) -> IdentitySet:
    """Every image file under ``root/<identity>/``; other files are ignored."""
    root = Path(root)
    if not root.is_dir():
        raise FaceDataError(f"identity folder not found: {root}")
    files: list[Path] = []
    labels: list[int] = []
    names: list[str] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        images = sorted(
            (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_natural
        )
        if not images:
            continue
        names.append(folder.name)
        files.extend(images)
        labels.extend([len(names) - 1] * len(images))
    if len(names) < 2:
        raise FaceDataError(
            f"{root}: need at least two identity folders with images (<identity>/<image>), "
            f"found {len(names)}"
        )
    return IdentitySet(root, tuple(files), np.asarray(labels, np.int64), tuple(names))


@dataclass(frozen=True)
class PairList:
    """``img1,img2,same`` rows; the images are paths relative to the CSV's folder."""

    csv: Path
    files: tuple[Path, ...]  # distinct images
    pairs: npt.NDArray[np.int64]  # (P, 2) indices into files
    same: npt.NDArray[np.bool_]  # (P,)


def load_pairs(path: Path) -> PairList:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise FaceDataError(f"{path}: cannot read pairs file ({err.strerror})") from None
    rows = list(csv.DictReader(text.splitlines()))
    need = {"img1", "img2", "same"}
    if not rows or not need <= set(rows[0]):
        raise FaceDataError(f"{path}: expected a CSV with columns img1,img2,same")
    index: dict[Path, int] = {}
    pairs, same = [], []
    for line, row in enumerate(rows, start=2):
        flag = row["same"].strip().lower()
        if flag not in {"0", "1", "yes", "no", "true", "false"}:
            raise FaceDataError(f"{path}:{line}: 'same' must be 0/1 (or yes/no), got {flag!r}")
        ids = []
        for key in ("img1", "img2"):
            image = (path.parent / row[key].strip()).resolve()
            if not image.is_file():
                raise FaceDataError(f"{path}:{line}: image not found: {row[key]!r}")
            ids.append(index.setdefault(image, len(index)))
        pairs.append(ids)
        same.append(flag in {"1", "yes", "true"})
    return PairList(
        path,
        tuple(index),
        np.asarray(pairs, np.int64).reshape(-1, 2),
        np.asarray(same, np.bool_),
    )


def read_image(path: Path) -> ImageBGR:
    try:
        data = np.fromfile(str(path), np.uint8)
    except OSError as err:
        raise FaceDataError(f"{path}: cannot read image ({err.strerror})") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise FaceDataError(f"{path}: not a readable image")
    return np.asarray(image, np.uint8)


def detect_layout(files: Sequence[Path]) -> Literal["aligned", "photo"]:
    """*aligned* when all images share one square size <= ALIGNED_MAX_SIDE (headers only)."""
    from PIL import Image, UnidentifiedImageError

    sizes = set()
    for f in files:
        try:
            with Image.open(f) as im:
                sizes.add(im.size)
        except (OSError, UnidentifiedImageError):
            return "photo"  # read_image names the bad file later
        if len(sizes) > 1:
            return "photo"
    ((w, h),) = sizes
    return "aligned" if w == h and w <= ALIGNED_MAX_SIDE else "photo"


@dataclass
class FacePipeline:
    """The live system's face back ends, built by the same registry the cameras use."""

    detector: FaceDetector
    landmarker: FaceLandmarker | None
    embedder: FaceEmbedder
    cfg: FacesConfig
    model: str

    @classmethod
    def from_config(cls, config: CitywatchConfig, *, threads: int) -> FacePipeline:
        faces = config.faces
        detector = build_detector(faces.detector, threads=threads)
        embedder = build_embedder(faces.embedder, config.models.cache_dir, threads=threads)
        return cls(detector, build_landmarker(), embedder, faces, model_id(faces.embedder))

    def faces(self, image: ImageBGR) -> Detections:
        """Usable faces of a still image, largest first."""
        found = detect_faces(image, self.detector, self.landmarker, self.cfg)
        if len(found) > 1:
            area = found.widths * found.heights
            found = found.select(np.argsort(-area, kind="stable"))
        return found


@dataclass
class Embedded:
    """One embedding per image (zero rows where no face was found) with what the quality
    breakdown needs."""

    embeddings: FloatArray  # (N, d)
    found: npt.NDArray[np.bool_]  # (N,)
    face_px: FloatArray  # shorter side of the face box (aligned: the crop side)
    sharpness: FloatArray  # Laplacian variance of the face (quality.laplacian_variance)
    layout: str
    seconds_total: float  # per face: detection (photos), landmarks, alignment, embedding
    seconds_embed: float  # the embedder alone (alignment and network)
    seconds_layout: float  # aligned crops: measuring the shared landmarks, once per set
    cpu_seconds_total: float  # CPU time of the per-face work, all threads of the process
    landmarks: FloatArray | None = None  # aligned layout: the shared landmarks
    batch: int = 1  # faces per network run
    seconds_single: float = 0.0  # embedding faces one at a time ...
    single_faces: int = 0  # ... this many of them

    @property
    def faces(self) -> int:
        return int(self.found.sum())

    @property
    def detect_failures(self) -> int:
        return int((~self.found).sum())

    @property
    def ms_per_face(self) -> float:
        return 1000.0 * self.seconds_total / max(self.faces, 1)

    @property
    def cpu_ms_per_face(self) -> float:
        return 1000.0 * self.cpu_seconds_total / max(self.faces, 1)

    @property
    def ms_per_face_embed(self) -> float:
        return 1000.0 * self.seconds_embed / max(self.faces, 1)

    @property
    def ms_per_face_single(self) -> float:
        return 1000.0 * self.seconds_single / max(self.single_faces, 1)


def shared_landmarks(
    files: Sequence[Path], pipeline: FacePipeline, *, sample: int = TEMPLATE_SAMPLE
) -> tuple[FloatArray, int]:
    """The median dlib-order landmarks of the largest face on up to ``sample`` crops spread
    evenly over ``files`` (all one size), and how many crops gave a face."""
    picks = np.unique(np.linspace(0, len(files) - 1, min(sample, len(files))).round().astype(int))
    points = []
    size = None
    for i in picks:
        image = read_image(files[int(i)])
        size = image.shape[:2]
        dets = pipeline.detector.detect(image)
        if len(dets) == 0:
            continue
        best = int(np.argmax(dets.widths * dets.heights))
        if dets.landmarks is not None:
            points.append(dets.landmarks[best])
        elif pipeline.landmarker is not None:
            points.append(pipeline.landmarker.landmarks(image, dets.xyxy[best : best + 1])[0])
    if len(points) >= TEMPLATE_MIN_FACES:
        return np.median(np.stack(points), axis=0).astype(np.float32), len(points)
    if size is not None and size[0] == size[1]:
        log.warning(
            "only %d of %d sampled crops gave a face: using the ArcFace crop layout",
            len(points),
            len(picks),
        )
        scale = size[0] / ARCFACE_SIZE
        return (np.asarray(DLIB5_IN_ARCFACE_112) * scale).astype(np.float32), len(points)
    raise FaceDataError(
        f"aligned crops: only {len(points)} of {len(picks)} sampled crops gave a face and the "
        "crops are not square: cannot place landmarks (try --layout photo)"
    )


def embed_images(
    files: Sequence[Path],
    pipeline: FacePipeline,
    *,
    layout: Layout = "auto",
    progress: Progress | None = None,
    batch: int | None = None,
) -> Embedded:
    """Embed every image with the live pipeline (see the module docstring for the layouts and
    the timing); ``batch`` faces per network run (default: ``faces.embedder.batch_size``)."""
    if not files:
        raise FaceDataError("no images to embed")
    chosen = detect_layout(files) if layout == "auto" else layout
    embedder = pipeline.embedder
    batcher = embedder if isinstance(embedder, ChipBatchEmbedder) else None
    wanted = batch if batch is not None else pipeline.cfg.embedder.batch_size
    per_run = max(1, wanted) if batcher is not None else 1
    n = len(files)
    emb = np.zeros((n, embedder.dim), np.float32)
    found = np.zeros(n, np.bool_)
    face_px = np.zeros(n, np.float32)
    sharp = np.zeros(n, np.float32)
    clock = _Clock()
    template = None
    t_layout = 0.0
    if chosen == "aligned":  # once for the whole set: reported apart from the per-face cost
        t0 = time.perf_counter()
        template, _ = shared_landmarks(files, pipeline)
        t_layout = time.perf_counter() - t0
    pending: list[tuple[int, np.ndarray]] = []  # (image index, its face's chip)
    t_single, single_faces = 0.0, 0  # the first faces embedded once more, one at a time
    crop_size: tuple[int, int] | None = None

    def flush() -> None:
        assert batcher is not None
        with clock.face_work(), clock.embedding():  # the batch's network run is per-face work
            out = batcher.embed_chips(np.concatenate([c for _, c in pending]))
        emb[[i for i, _ in pending]] = out
        pending.clear()

    for i, path in enumerate(files):
        image = read_image(path)  # decoding is not the pipeline's cost: not timed
        with clock.face_work():
            if template is not None:
                h, w = image.shape[:2]
                if crop_size is None:
                    crop_size = (h, w)
                elif (h, w) != crop_size:
                    raise FaceDataError(
                        f"{path}: {w}x{h} px, but aligned crops must all be one size "
                        f"({crop_size[1]}x{crop_size[0]}); try --layout photo"
                    )
                dets = Detections.from_boxes([[0, 0, w, h]], [1.0], landmarks=template[None])
            else:
                dets = pipeline.faces(image)
                dets = dets.select(np.arange(min(len(dets), 1)))
            lm = dets.landmarks
            if len(dets) and lm is not None:
                with clock.embedding():
                    if batcher is not None:
                        pending.append((i, batcher.chips(image, lm)))
                    else:
                        emb[i] = embedder.embed(image, lm)[0]
                found[i] = True
        if found[i]:  # for the quality breakdown only: not timed
            face_px[i] = float(min(dets.widths[0], dets.heights[0]))
            sharp[i] = float(assess(dets, image).sharpness_raw[0])
            if single_faces < SINGLE_SAMPLE and lm is not None:
                t0 = time.perf_counter()
                embedder.embed(image, lm)
                t_single += time.perf_counter() - t0
                single_faces += 1
        if len(pending) >= per_run:
            flush()
        if progress is not None:
            progress(1)
    if pending:
        flush()
    return Embedded(
        embeddings=emb,
        found=found,
        face_px=face_px,
        sharpness=sharp,
        layout=chosen,
        seconds_total=clock.total,
        seconds_embed=clock.embed,
        seconds_layout=t_layout,
        cpu_seconds_total=clock.cpu,
        landmarks=template,
        batch=per_run,
        seconds_single=t_single,
        single_faces=single_faces,
    )


class _Clock:
    """Wall and CPU time of the per-face work, and wall time of the embedder within it."""

    def __init__(self) -> None:
        self.total = self.embed = self.cpu = 0.0

    @contextlib.contextmanager
    def face_work(self) -> Iterator[None]:
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.total += time.perf_counter() - t0
            self.cpu += time.process_time() - c0

    @contextlib.contextmanager
    def embedding(self) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.embed += time.perf_counter() - t0
