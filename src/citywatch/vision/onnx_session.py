"""onnxruntime sessions for the ONNX back ends (faces and plates): providers, threads, shape checks.

Models are loaded from local files only.  The execution providers asked for (CUDA, OpenVINO,
...) are used when this onnxruntime build has them; the others are skipped with a warning, and
the CPU provider is always the last resort, so a config written for a GPU box still runs on a
laptop.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"


class OnnxModelError(RuntimeError):
    """An ONNX model file is missing, unreadable or has the wrong inputs/outputs."""


def pick_providers(wanted: Sequence[str] | None, available: Sequence[str]) -> list[str]:
    """The requested providers that this onnxruntime build has, in order, CPU always last."""
    if not wanted:
        return [CPU]
    picked = [p for p in wanted if p in available and p != CPU]
    missing = [p for p in wanted if p not in available]
    if missing:
        log.warning(
            "onnxruntime providers %s not available (have %s); using %s",
            missing,
            list(available),
            [*picked, CPU],
        )
    return [*picked, CPU]


#: Options given to a provider unless the caller names others, measured with
#: bench/providers.py on an H100 (onnxruntime-gpu 1.31, CUDA 13).  cuDNN's exhaustive
#: convolution search (onnxruntime's default) benchmarks every algorithm at each new input
#: shape: 497-503 ms for the plate detector's first run at a new photo size against 68-125 ms
#: with the heuristic search (7-9 ms per run afterwards with either; no search at all ran
#: 105 ms per run), and the detector sees a new shape for nearly every motion region.  TF32
#: matrix maths is off: with it on, 2 of 64 plate crops read differently from the CPU.
PROVIDER_OPTIONS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "CUDAExecutionProvider": MappingProxyType(
            {"cudnn_conv_algo_search": "HEURISTIC", "use_tf32": "0"}
        )
    }
)


def open_session(
    path: Path,
    *,
    what: str,
    threads: int = 1,
    providers: Sequence[str] | None = None,
    provider_options: Mapping[str, Mapping[str, str]] = PROVIDER_OPTIONS,
    simplify: bool = False,
    graph: bytes | None = None,
) -> Any:
    """An ``onnxruntime.InferenceSession`` for ``path``; ``what`` names the model in errors.
    ``provider_options`` maps a provider's name to its options (where it is used); with
    ``simplify`` the graph is first rewritten by :func:`citywatch.vision.onnx_rewrite.simplify`
    (in memory; the file is not changed); ``graph`` is a rewritten copy of the file to load
    instead of it (``path`` still names it)."""
    if threads < 1:
        raise ValueError(f"{what}: threads must be >= 1, got {threads}")
    try:
        import onnxruntime as ort
    except ImportError as err:  # pragma: no cover - a dependency of the package
        raise OnnxModelError(f"{what} needs the Python package 'onnxruntime'") from err
    path = Path(path)
    if not path.is_file():
        raise OnnxModelError(f"{what}: model file not found at {path}")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # errors only: unused-initialiser warnings are noise here
    # The memory arena stays on (onnxruntime's default): without it every run allocates its
    # buffers anew, and RapidOCR's own sessions (arena off) ran the text detector at 92 ms
    # instead of 58 ms per 640x384 frame here.
    if threads > 1:
        no_spinning(opts)
    chosen = pick_providers(providers, ort.get_available_providers())
    model: str | bytes = _simplified(path, what) if simplify else str(path)
    if graph is not None:
        model = graph
    try:
        return ort.InferenceSession(
            model,
            opts,
            providers=chosen,
            provider_options=[dict(provider_options.get(p, {})) for p in chosen],
        )
    except Exception as err:
        raise OnnxModelError(f"{what}: cannot load ONNX model {path}: {err}") from err


def _simplified(path: Path, what: str) -> str | bytes:
    """The rewritten graph of ``path`` (:mod:`citywatch.vision.onnx_rewrite`), or ``path``
    itself where nothing was rewritten or the rewrite failed (a model the rewrites do not
    understand still loads as it is)."""
    from citywatch.vision.onnx_rewrite import simplified_bytes

    try:
        data, done = simplified_bytes(path)
    except Exception as err:  # the session below reports a broken file with its own error
        log.warning("%s: graph not rewritten, loading %s as it is: %s", what, path, err)
        return str(path)
    if data is None:
        return str(path)
    log.debug("%s: %s rewritten in %s", what, done, path)
    return data


def no_spinning(opts: Any) -> None:
    """Worker threads sleep between jobs instead of spinning.  On a machine whose cores are
    shared (several cameras, other services) spinning threads steal each other's time: the dlib
    ResNet at 2 threads took 26-34 ms per face with spinning and 6-7 ms without while other
    processes loaded both cores (3.3 vs 3.6 ms on idle cores)."""
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")


def dim_of(value: object) -> int | None:
    """A tensor dimension as an int, or None when it is symbolic ('N', 'batch', None)."""
    return value if isinstance(value, int) and value > 0 else None


def shape_text(shape: Sequence[object]) -> str:
    return "[" + ",".join("N" if dim_of(d) is None else str(d) for d in shape) + "]"
