"""Plate recognition settings (owned by the plates back ends and the plate decision layer)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from citywatch.config.base import Strict


class PlateReaderConfig(Strict):
    type: Literal["rapidocr"] = Field(default="rapidocr", description="Back end name")


class PlatesConfig(Strict):
    reader: PlateReaderConfig = Field(default_factory=PlateReaderConfig)
    formats: list[str] = Field(
        default_factory=lambda: ["RS", "HR", "NL", "DE", "EU", "US"],
        description="Plate formats to normalise against, in order of preference",
    )
    max_distance: int = Field(default=1, ge=0, le=3, description="Hotlist fuzzy-match budget")
    min_reads: int = Field(default=2, ge=1, description="Reads a track needs before it reports")
