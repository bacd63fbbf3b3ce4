"""Convert the packaged dlib ResNet to ONNX once, and cache it keyed by the source's hash.

``citywatch models prepare`` (run by ``make install``) calls :func:`ensure_onnx_model`, which
converts; the ``dlib-onnx`` embedder calls :func:`prepared_onnx_model` on start-up, which only
checks (one hash of the .dat) and fails, naming that command, when the graph is missing or was
made from other bytes: nothing is converted at run time, so a service never writes a second
copy into whatever folder it runs in.  The folder is ``models.cache_dir``
(``citywatch.config.root.default_models_dir``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from pathlib import Path

import onnx
from onnx import helper

from citywatch.files import atomic_write_bytes
from citywatch.vision.faces.dlib_onnx import (
    CONVERTER_VERSION,
    DAT_NAME,
    ONNX_NAME,
    DlibModelError,
    build_onnx,
    parse_dlib_resnet,
)

log = logging.getLogger(__name__)


def default_dat_path() -> Path:
    """The .dat inside the ``face-recognition-models`` package, found without importing it
    (its ``__init__`` needs pkg_resources, which modern setuptools no longer ships)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise DlibModelError(
            "package 'face-recognition-models' is not installed: it ships " + DAT_NAME
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models" / DAT_NAME


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _cache_key(source_sha: str) -> str:
    return f"{source_sha}/converter-{CONVERTER_VERSION}"


def _cached_key(path: Path) -> str | None:
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # a half-written or foreign file: convert again
        return None
    return {p.key: p.value for p in model.metadata_props}.get("citywatch.source_key")


class OnnxModelNotPrepared(DlibModelError):
    """The converted graph is missing or stale; the message names the command that makes it."""


def prepared_onnx_model(cache_dir: Path, *, source: Path | None = None) -> Path:
    """``cache_dir/dlib_resnet_v1.onnx`` when it was converted from ``source`` (default: the
    packaged .dat) by this converter version; otherwise :class:`OnnxModelNotPrepared`."""
    source = default_dat_path() if source is None else Path(source)
    if not source.is_file():
        raise DlibModelError(f"dlib model not found at {source}")
    target = Path(cache_dir) / ONNX_NAME
    if not target.is_file():
        state = "is missing"
    elif _cached_key(target) != _cache_key(_sha256(source)):
        state = f"was converted from another {source.name} or by another converter version"
    else:
        return target
    raise OnnxModelNotPrepared(
        f"face embedder dlib-onnx is not prepared: {target} {state}.  Run `citywatch models "
        "prepare` with this config (it converts the dlib ResNet into models.cache_dir)"
    )


def ensure_onnx_model(cache_dir: Path, *, source: Path | None = None) -> Path:
    """Return ``cache_dir/dlib_resnet_v1.onnx``, converting ``source`` (default: the packaged
    .dat) first when the file is missing or was made from different bytes or by another
    converter version.  The write is atomic (temporary file, then rename)."""
    source = default_dat_path() if source is None else Path(source)
    if not source.is_file():
        raise DlibModelError(f"dlib model not found at {source}")
    cache_dir = Path(cache_dir)
    target = cache_dir / ONNX_NAME
    key = _cache_key(_sha256(source))
    if target.is_file() and _cached_key(target) == key:
        return target

    log.info("converting %s to ONNX at %s", source, target)
    model = build_onnx(parse_dlib_resnet(source))
    helper.set_model_props(model, {"citywatch.source_key": key, "source": source.name})
    atomic_write_bytes(target, model.SerializeToString())
    return target
