"""Vehicle type and colour with plate reads (``plates.vehicles``): which detector, how sure."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from citywatch.config.base import OnnxProvider, Strict

VehicleDetectorType = Literal["picodet", "nanodet", "yolox"]


class VehiclesConfig(Strict):
    enabled: bool = Field(
        default=True,
        description="Describe the vehicle that holds each plate read (type and colour); the "
        "detector runs only on frames in which a plate was read, unless search is 'vehicles'",
    )
    type: VehicleDetectorType = Field(
        default="picodet",
        description="Detector family: 'picodet' (PP-PicoDet, the shipped "
        "picodet_s_320_coco.onnx), 'nanodet' (NanoDet-m) or 'yolox' (YOLOX); a file of your "
        "own of another family needs model_path",
    )
    model_path: Path | None = Field(
        default=None,
        description="A COCO-80 ONNX file of the chosen family; empty: the shipped PP-PicoDet "
        "(only for type 'picodet')",
    )
    min_score: float = Field(
        default=0.35, ge=0.01, le=1, description="Vehicles the detector is less sure of are dropped"
    )
    nms_iou: float = Field(default=0.5, gt=0, le=1, description="Overlap that suppresses a box")
    threads: int = Field(default=1, ge=1, le=64, description="Inference threads")
    providers: list[OnnxProvider] = Field(
        default_factory=list,
        description="onnxruntime execution providers in order (CPU always last)",
    )
    search: Literal["frame", "vehicles"] = Field(
        default="frame",
        description="Where plates are searched in video: 'frame' (the moving regions) or "
        "'vehicles' (the moving regions inside vehicle boxes; the detector runs on every moving "
        "frame; it lost a close-up clip and cost time on the dev clips, docs/vehicles.md). "
        "See bench/plates_in_vehicles.py for what each costs and finds",
    )

    @model_validator(mode="after")
    def _model_for_family(self) -> VehiclesConfig:
        if self.model_path is None and self.type != "picodet":
            raise ValueError(
                f"plates.vehicles.type {self.type!r} needs plates.vehicles.model_path "
                "(only the 'picodet' file ships with citywatch)"
            )
        return self
