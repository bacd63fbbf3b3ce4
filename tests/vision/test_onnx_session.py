"""onnxruntime sessions: which providers are asked for, with which options."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import onnxruntime as ort
import pytest
from pydantic import ValidationError

from citywatch.config.plates import PlateReaderConfig
from citywatch.vision import onnx_session
from citywatch.vision.onnx_session import CPU, PROVIDER_OPTIONS, OnnxModelError, open_session

CUDA = "CUDAExecutionProvider"


class FakeOrt:
    """Stands in for the onnxruntime module: a build with CUDA, recording each session."""

    SessionOptions = ort.SessionOptions
    ExecutionMode = ort.ExecutionMode
    GraphOptimizationLevel = ort.GraphOptimizationLevel

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def get_available_providers(self) -> list[str]:
        return [CUDA, CPU]

    def InferenceSession(self, path: str, opts: Any, **kwargs: Any) -> dict[str, Any]:
        self.calls.append({"path": path, **kwargs})
        return kwargs


@pytest.fixture
def fake_ort(monkeypatch: pytest.MonkeyPatch) -> FakeOrt:
    fake = FakeOrt()
    monkeypatch.setitem(sys.modules, "onnxruntime", fake)
    return fake


def test_cuda_gets_the_heuristic_search_and_no_tf32_and_cpu_no_options(
    tmp_path: Path, fake_ort: FakeOrt
) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(b"x")
    open_session(model, what="test model", providers=[CUDA])
    call = fake_ort.calls[-1]
    assert call["providers"] == [CUDA, CPU]
    assert call["provider_options"] == [
        {"cudnn_conv_algo_search": "HEURISTIC", "use_tf32": "0"},
        {},
    ]
    open_session(model, what="test model")  # nothing asked: the CPU, without options
    assert fake_ort.calls[-1]["providers"] == [CPU]
    assert fake_ort.calls[-1]["provider_options"] == [{}]


def test_callers_may_name_other_options(tmp_path: Path, fake_ort: FakeOrt) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(b"x")
    exhaustive = {CUDA: {"cudnn_conv_algo_search": "EXHAUSTIVE"}}
    open_session(model, what="test model", providers=[CUDA], provider_options=exhaustive)
    assert fake_ort.calls[-1]["provider_options"][0] == {"cudnn_conv_algo_search": "EXHAUSTIVE"}
    assert dict(PROVIDER_OPTIONS[CUDA])["cudnn_conv_algo_search"] == "HEURISTIC"  # untouched


def test_a_missing_provider_falls_back_to_the_cpu_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.vision.faces import onnx_graphs

    model = onnx_graphs.identity(tmp_path / "id.onnx", [1, 3, 4, 4])
    with caplog.at_level("WARNING", logger=onnx_session.__name__):
        session = open_session(model, what="test model", providers=["OpenVINOExecutionProvider"])
    assert session.get_providers() == [CPU]
    assert "OpenVINOExecutionProvider" in caplog.text
    with pytest.raises(OnnxModelError, match="test model: model file not found"):
        open_session(tmp_path / "none.onnx", what="test model")


def test_plate_text_detector_providers_are_validated_and_reach_the_engine() -> None:
    from citywatch.vision.plates.rapidocr_backend import RapidOcrEngine

    cfg = PlateReaderConfig(det_providers=[CUDA])
    engine = RapidOcrEngine.from_config(cfg)  # no CUDA in this build: the CPU, still working
    assert engine.providers == [CPU]
    with pytest.raises(ValidationError, match="det_providers"):
        PlateReaderConfig.model_validate({"det_providers": ["CUDA"]})
