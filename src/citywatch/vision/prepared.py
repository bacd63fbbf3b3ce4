"""The prepared models a config needs, checked once when a command starts.

`citywatch models prepare` makes two models into ``models.cache_dir``: the dlib ResNet converted
to ONNX (the ``dlib-onnx`` face embedder) and the PP-OCRv6 plate recogniser (``ppocrv6-small``,
which ``auto`` reads US-only formats with).  A command that would need one of them and finds it
missing stops before any camera runs, naming the model and that command; it never reads with
another model instead, and never makes one at run time.
"""

from __future__ import annotations

from citywatch.config.camera import Purpose
from citywatch.config.root import CitywatchConfig


class ModelsNotPrepared(ValueError):
    """A model the config needs is not prepared; the message names each and the command."""


def _face_model_problem(config: CitywatchConfig) -> str | None:
    if config.faces.embedder.type not in ("dlib-onnx", "fused"):
        return None  # dlib reads its own package; ONNX models of one's own are named by path
    from citywatch.vision.faces.dlib_onnx import DlibModelError
    from citywatch.vision.faces.dlib_onnx_cache import prepared_onnx_model

    try:
        prepared_onnx_model(config.models.cache_dir)
    except DlibModelError as err:
        return str(err)
    return None


def _plate_model_problem(config: CitywatchConfig) -> str | None:
    r = config.plates.reader
    if r.decoder != "constrained":
        return None  # RapidOCR's own reader, inside its package
    from citywatch.vision.plates.recognisers import RecogniserSetupError, reader_model

    try:
        reader_model(r.recogniser, r.rec_model, config.plates.formats, config.models.cache_dir)
    except RecogniserSetupError as err:
        return str(err)
    return None


def missing_models(
    config: CitywatchConfig, *, faces: bool | None = None, plates: bool | None = None
) -> list[str]:
    """One message per prepared model that is needed and not there.  ``faces``/``plates``:
    whether those models are needed; by default, whether some camera has that purpose."""
    if faces is None:
        faces = any(Purpose.FACE in cam.purposes for cam in config.cameras)
    if plates is None:
        plates = any(Purpose.PLATE in cam.purposes for cam in config.cameras)
    problems = [
        _face_model_problem(config) if faces else None,
        _plate_model_problem(config) if plates else None,
    ]
    return [p for p in problems if p is not None]


def require_prepared_models(
    config: CitywatchConfig, *, faces: bool | None = None, plates: bool | None = None
) -> None:
    """Raise :class:`ModelsNotPrepared` listing every missing model (see
    :func:`missing_models`)."""
    missing = missing_models(config, faces=faces, plates=plates)
    if missing:
        raise ModelsNotPrepared("\n".join(missing))
