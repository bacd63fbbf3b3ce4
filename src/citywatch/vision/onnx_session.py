"""onnxruntime sessions for the ONNX back ends (faces and plates): providers, threads, shape checks.

Models are loaded from local files only.  The execution providers asked for (CUDA, OpenVINO,
...) are used when this onnxruntime build has them; the others are skipped with a warning, and
the CPU provider is always the last resort, so a config written for a GPU box still runs on a
laptop.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
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


def open_session(
    path: Path,
    *,
    what: str,
    threads: int = 1,
    providers: Sequence[str] | None = None,
) -> Any:
    """An ``onnxruntime.InferenceSession`` for ``path``; ``what`` names the model in errors."""
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
    try:
        return ort.InferenceSession(str(path), opts, providers=chosen)
    except Exception as err:
        raise OnnxModelError(f"{what}: cannot load ONNX model {path}: {err}") from err


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
