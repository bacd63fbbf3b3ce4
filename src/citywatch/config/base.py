"""Shared pydantic base: unknown keys are rejected, values validated on assignment."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

#: onnxruntime execution providers a user may ask for (faces and plates); those missing from the
#: installed onnxruntime are skipped with a warning, and the CPU provider is always the last
#: resort.
OnnxProvider = Literal[
    "CUDAExecutionProvider",
    "TensorrtExecutionProvider",
    "OpenVINOExecutionProvider",
    "CoreMLExecutionProvider",
    "DmlExecutionProvider",
    "CPUExecutionProvider",
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)
