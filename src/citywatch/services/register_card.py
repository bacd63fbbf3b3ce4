"""The model card as the public register and the oversight report publish it: the face
threshold the cameras run at (the same rules as the live system,
:func:`citywatch.eval.model_card.resolve_operating_point`) and the rates measured behind it.

Numbers, the model's name, the data set's name and the date; never the card's path.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import PurePath

from pydantic import BaseModel, ConfigDict, Field

from citywatch.config.root import CitywatchConfig
from citywatch.eval.model_card import (
    ModelCard,
    ModelCardError,
    ThresholdRefused,
    resolve_operating_point,
)
from citywatch.vision.faces.registry import model_id

log = logging.getLogger(__name__)

MAX_RATES = 40


class ModelCardPublic(BaseModel):
    model_config = ConfigDict(frozen=True)

    face_model: str = Field(description="The face embedder the cameras run")
    face_metric: str
    face_threshold: float = Field(description="Score at which a face is a possible match")
    face_threshold_source: str = Field(
        description="config, model card, config (stricter than the card), or override"
    )
    card_threshold: float | None = Field(description="The card's equitable point")
    card_target_fpir: float | None = Field(
        description="False-positive identification rate aimed at"
    )
    card_dataset: str | None = Field(description="The data set the rates were measured on")
    card_date: str | None = Field(description="When the rates were measured")
    card_gallery_size: int | None = Field(description="Identities enrolled when measured")
    group_thresholds: dict[str, float] = Field(
        description="Threshold needed per quality group (face size, sharpness)"
    )
    measured: dict[str, float] = Field(description="Rates and counts measured")
    plate_reader: str
    plate_max_distance: int = Field(description="Hotlist hit at edit distance <= this")
    note: str


def _numbers(values: dict[str, object]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in sorted(values.items()):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if math.isfinite(value) and len(out) < MAX_RATES:
            out[str(key)[:80]] = float(value)
    return out


def public_model_card(config: CitywatchConfig, clean: Callable[[str], str]) -> ModelCardPublic:
    """What the public may know about the face model's operating point.  ``clean`` screens the
    card's free text (model and data set names) for personal data."""
    faces = config.faces
    card: ModelCard | None = None
    threshold, source = faces.threshold, "config"
    note = "No model card is configured: the threshold is the configured one."
    try:
        point = resolve_operating_point(faces)
    except (ModelCardError, ThresholdRefused) as err:
        log.warning("public register: model card not published (%s)", type(err).__name__)
        note = "The configured model card is not valid for this model: no measured rates."
    else:
        card, threshold, source = point.card, point.threshold, point.source
        if card is not None:
            note = "A face alert is a possible match until a person confirms it."
        if point.overridden:
            note = "An administrator runs a threshold looser than the model card's (audited)."
    return ModelCardPublic(
        face_model=clean(card.model if card else model_id(faces.embedder)),
        face_metric="cosine similarity",
        face_threshold=threshold,
        face_threshold_source=source,
        card_threshold=card.threshold if card else None,
        card_target_fpir=card.target_fpir if card else None,
        card_dataset=clean(PurePath(card.dataset).name) if card and card.dataset else None,
        card_date=clean(card.date) if card else None,
        card_gallery_size=card.gallery_size if card else None,
        group_thresholds=_numbers(dict(card.group_thresholds)) if card else {},
        measured=_numbers(dict(card.rates)) if card else {},
        plate_reader=f"{config.plates.reader.type} OCR, track vote",
        plate_max_distance=config.plates.max_distance,
        note=note,
    )
