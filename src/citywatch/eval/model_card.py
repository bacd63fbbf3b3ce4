"""Model cards: the measured operating point of a face model, and how the live system uses it.

`citywatch calibrate faces` measures a model on a labelled identity set and writes a card (JSON):
which model, on which data set, when, the threshold, and the rates measured.  The threshold is
the **equitable point**: the lowest threshold at which the non-mated searches of *every* group
the data can resolve (face-size bands and sharpness thirds, see
:mod:`citywatch.eval.faces`) stay at or under the target FPIR, as well as all searches
together.  A threshold that only holds on average would let one kind of face (small, blurred)
raise false alerts more often than the others.

The live system loads the card named by ``faces.model_card`` (:func:`apply_model_card`):

* the card must describe the configured embedder (else the threshold means nothing);
* with no ``faces.threshold`` in the config, the card's threshold is used;
* a configured threshold at or above the card's is used (stricter is always allowed);
* a configured threshold below the card's is refused (:class:`ThresholdRefused`) unless
  ``faces.threshold_override_reason`` says why; then it runs, and the platform writes the
  override into the audit log when it starts (:func:`audit_operating_point`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from citywatch.config.faces import FacesConfig
from citywatch.config.root import CitywatchConfig
from citywatch.eval.common import Scalar, accept_rate, check_flat, threshold_at_far
from citywatch.files import atomic_write_bytes
from citywatch.vision.faces.registry import model_id

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from citywatch.audit.chain import Actor, AuditEntry
    from citywatch.eval.faces import IdentityReport
    from citywatch.eval.hard_impostors import HardImpostors, HardPoint

SCHEMA = "citywatch.model_card/1"
AUDIT_ACTION = "faces.threshold_override"


class ModelCardError(ValueError):
    """A model card is missing, malformed or describes another model."""


class ThresholdRefused(ValueError):
    """The configured face threshold is looser than the model card's and no override is given."""


@dataclass(frozen=True)
class ModelCard:
    model: str  # registry.model_id of the embedder measured
    dataset: str
    date: str  # ISO date of the measurement
    target_fpir: float
    threshold: float  # the equitable point: what the live system may not go below
    overall_threshold: float  # the threshold at target_fpir over all searches together
    group_thresholds: dict[str, float]
    gallery_size: int  # identities enrolled per round: FPIR grows with the gallery
    rates: dict[str, Scalar] = field(default_factory=dict)
    detector: str = ""
    layout: str = ""
    #: Which impostors the threshold was calibrated on (issue 14: hard impostors, not random
    #: pairs), the false alerts per 1,000 face tracks it expects, and the watchlist size that
    #: figure assumes (false alerts grow with the list).
    impostor_set: str = "random pairs of the identity set (non-mated searches)"
    expected_false_alerts_per_1000_tracks: float | None = None
    assumed_watchlist_size: int = 0
    hard_threshold: float | None = None  # what the hard impostors alone asked for
    training_data: str = ""  # what the model was trained on, as its makers say
    schema: str = SCHEMA

    @property
    def equitable_point(self) -> float:
        return self.threshold

    def summary(self) -> str:
        fnir = self.rates.get("calibration_fnir")
        fnir_text = f", FNIR {fnir:.3f}" if isinstance(fnir, float) else ""
        text = (
            f"model card: {self.model} measured on {self.dataset!r} ({self.date}): threshold "
            f"{self.threshold:.4f} for FPIR {self.target_fpir:g} in every quality group"
            f"{fnir_text}, gallery of {self.gallery_size}"
        )
        if self.expected_false_alerts_per_1000_tracks is not None:
            text += (
                f"; expects {self.expected_false_alerts_per_1000_tracks:.2g} false alerts per "
                f"1,000 face tracks with {self.assumed_watchlist_size} people listed "
                f"({self.impostor_set})"
            )
        return text

    def to_json(self) -> str:
        data = asdict(self)
        data["rates"] = check_flat(self.rates)
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    def save(self, path: Path) -> Path:
        atomic_write_bytes(Path(path), self.to_json().encode("utf-8"))
        return Path(path)

    @classmethod
    def from_json(cls, text: str, *, where: str = "<model card>") -> ModelCard:
        try:
            data: Any = json.loads(text)
        except json.JSONDecodeError as err:
            raise ModelCardError(f"{where}: not JSON ({err})") from None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise ModelCardError(f"{where}: not a citywatch model card (schema {SCHEMA})")
        try:
            card = cls(
                model=str(data["model"]),
                dataset=str(data["dataset"]),
                date=str(data["date"]),
                target_fpir=float(data["target_fpir"]),
                threshold=float(data["threshold"]),
                overall_threshold=float(data["overall_threshold"]),
                group_thresholds={str(k): float(v) for k, v in data["group_thresholds"].items()},
                gallery_size=int(data["gallery_size"]),
                rates=check_flat(data.get("rates", {})),
                detector=str(data.get("detector", "")),
                layout=str(data.get("layout", "")),
                impostor_set=str(data.get("impostor_set", ModelCard.impostor_set)),
                expected_false_alerts_per_1000_tracks=_opt_float(
                    data.get("expected_false_alerts_per_1000_tracks")
                ),
                assumed_watchlist_size=int(data.get("assumed_watchlist_size", 0)),
                hard_threshold=_opt_float(data.get("hard_threshold")),
                training_data=str(data.get("training_data", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ModelCardError(f"{where}: missing or malformed field ({err})") from None
        if not (math.isfinite(card.threshold) and -1.0 <= card.threshold <= 1.0):
            raise ModelCardError(f"{where}: threshold {card.threshold} is not a cosine in -1..1")
        return card

    @classmethod
    def load(cls, path: Path) -> ModelCard:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as err:
            raise ModelCardError(f"{path}: cannot read model card ({err.strerror})") from None
        return cls.from_json(text, where=str(path))


def _opt_float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def equitable_point(overall: float, group_thresholds: Mapping[str, float]) -> float:
    """The strictest of the overall and the per-group thresholds."""
    return max([overall, *group_thresholds.values()])


def calibrate(
    report: IdentityReport,
    *,
    target_fpir: float,
    today: dt.date | None = None,
    hard: HardImpostors | None = None,
    target_per_1000: float = 1.0,
    assumed_watchlist: int = 100,
    training_data: str = "",
) -> ModelCard:
    """A card from an identity evaluation: thresholds on the pooled non-mated searches of all
    rounds (overall and per quality group), the equitable point, and the measured rates."""
    from citywatch.eval.faces import group_thresholds, rate_key

    if not 0.0 < target_fpir < 1.0:
        raise ValueError(f"target FPIR must be in (0, 1), got {target_fpir}")
    mated, nonmated = report.open_set.pooled()
    if nonmated.size * target_fpir < 1.0:
        raise ValueError(
            f"{nonmated.size} non-mated searches cannot resolve FPIR {target_fpir:g}: "
            f"need at least {math.ceil(1 / target_fpir)}"
        )
    overall = threshold_at_far(nonmated, target_fpir)
    groups: dict[str, float] = {}
    for idx, names in report.groups.values():
        groups.update(group_thresholds(report.open_set, idx, names, target_fpir))
    threshold = equitable_point(overall, groups)
    point = None
    if hard is not None:
        from citywatch.eval.hard_impostors import hard_point

        point = hard_point(
            hard, target_per_1000=target_per_1000, assumed_watchlist=assumed_watchlist
        )
        threshold = max(threshold, point.threshold)
    m = report.metrics
    rates: dict[str, Scalar] = {
        "calibration_fnir": 1.0 - accept_rate(mated, threshold),
        "calibration_fpir": accept_rate(nonmated, threshold),
        "mated_searches": int(mated.size),
        "nonmated_searches": int(nonmated.size),
    }
    held_out = ("verification_accuracy", "tar_at_far_1e-3", "tar_at_far_1e-2", "rank1")
    for key in (*held_out, rate_key("fnir_at_fpir", 0.01), rate_key("fnir_at_fpir", 0.003)):
        if key in m:
            rates[key] = m[key]
    hard_fields = _hard_fields(hard, point, threshold)
    for key in ("expected_false_alerts_per_1000_tracks", "assumed_watchlist_size"):
        if key in hard_fields:  # published in the register with the other rates
            rates[key] = hard_fields[key]
    if hard is not None:
        pooled = hard.pooled()
        rates["hard_impostor_searches"] = int(pooled.size)
        rates["hard_impostor_fpir"] = float((pooled >= threshold).mean()) if pooled.size else 0.0
    ids = m.get("identities")
    return ModelCard(
        model=str(m["model"]),
        dataset=str(m["dataset"]),
        date=(today or dt.datetime.now(dt.UTC).date()).isoformat(),
        target_fpir=target_fpir,
        threshold=_round_up(threshold),
        overall_threshold=_round_up(overall),
        group_thresholds={k: _round_up(v) for k, v in groups.items()},
        gallery_size=int(ids) // 2 if isinstance(ids, int) else 0,
        rates=rates,
        detector=str(m.get("detector", "")),
        layout=str(m.get("layout", "")),
        **hard_fields,
        training_data=training_data,
    )


def _hard_fields(
    hard: HardImpostors | None, point: HardPoint | None, threshold: float
) -> dict[str, Any]:
    if hard is None or point is None:
        return {}
    scores = hard.pooled()
    scale = point.assumed_watchlist / max(1, hard.gallery_people)
    rate = float((scores >= threshold).mean())
    bound = rate if rate * scores.size >= 1 else 3.0 / scores.size
    return {
        "impostor_set": hard.describe(),
        "expected_false_alerts_per_1000_tracks": round(min(1000.0, 1000.0 * bound * scale), 3),
        "assumed_watchlist_size": point.assumed_watchlist,
        "hard_threshold": _round_up(point.threshold),
    }


def _round_up(value: float, places: int = 6) -> float:
    """Rounded for the card, never below the measured threshold (rounding down would let the
    score that set it pass)."""
    scale = 10.0**places
    return math.ceil(value * scale) / scale


# -- the live system's side --------------------------------------------------------------


@dataclass(frozen=True)
class OperatingPoint:
    """The face threshold the system runs with, and where it came from."""

    threshold: float
    source: Literal["config", "model card", "config (stricter than the card)", "override"]
    card: ModelCard | None = None
    card_path: Path | None = None
    override_reason: str | None = None

    @property
    def overridden(self) -> bool:
        return self.source == "override"

    def describe(self) -> str:
        text = f"face threshold {self.threshold:.4f} ({self.source})"
        if self.card is not None:
            text += f"; {self.card.summary()}"
        if self.overridden:
            text += f"; ADMIN OVERRIDE: {self.override_reason}"
        return text


def resolve_operating_point(faces: FacesConfig) -> OperatingPoint:
    """Apply the rules of the module docstring; raises :class:`ModelCardError` or
    :class:`ThresholdRefused`."""
    if faces.model_card is None:
        return OperatingPoint(faces.threshold, "config")
    path = Path(faces.model_card)
    card = ModelCard.load(path)
    running = model_id(faces.embedder)
    if card.model != running:
        raise ModelCardError(
            f"{path}: the card was measured for face model {card.model!r} but the config runs "
            f"{running!r}: run `citywatch calibrate faces` for this model"
        )
    if "threshold" not in faces.model_fields_set:
        return OperatingPoint(card.threshold, "model card", card, path)
    if faces.threshold >= card.threshold:
        return OperatingPoint(faces.threshold, "config (stricter than the card)", card, path)
    if not faces.threshold_override_reason:
        raise ThresholdRefused(
            f"faces.threshold {faces.threshold:.4f} is looser than the model card's equitable "
            f"point {card.threshold:.4f} ({path}: FPIR {card.target_fpir:g} on "
            f"{card.dataset!r}); remove faces.threshold, raise it, or set "
            "faces.threshold_override_reason (an admin override, audited)"
        )
    return OperatingPoint(
        faces.threshold, "override", card, path, override_reason=faces.threshold_override_reason
    )


def apply_model_card(config: CitywatchConfig) -> tuple[CitywatchConfig, OperatingPoint]:
    """``config`` with ``faces.threshold`` set to the operating point (a copy; the caller's
    config is unchanged), and the point itself (log :meth:`OperatingPoint.describe`)."""
    point = resolve_operating_point(config.faces)
    if point.threshold == config.faces.threshold:
        return config, point
    faces = config.faces.model_copy(update={"threshold": point.threshold})
    return config.model_copy(update={"faces": faces}), point


def audit_operating_point(
    session: Session, actor: Actor, point: OperatingPoint
) -> AuditEntry | None:
    """Write an audit entry for an admin override (nothing otherwise), in the caller's
    transaction; the caller commits."""
    if not point.overridden or point.card is None:
        return None
    from citywatch.audit.chain import append

    return append(
        session,
        actor,
        AUDIT_ACTION,
        "faces.threshold",
        details={
            "threshold": point.threshold,
            "card_threshold": point.card.threshold,
            "card_path": str(point.card_path),
            "model": point.card.model,
            "dataset": point.card.dataset,
            "target_fpir": point.card.target_fpir,
        },
        reason=point.override_reason,
    )


def apply_and_audit(
    config: CitywatchConfig, sessions: sessionmaker[Session], actor: Actor
) -> tuple[CitywatchConfig, OperatingPoint]:
    """For the platform at start: :func:`apply_model_card` (raises on a refused threshold),
    then the audit entry of an admin override, committed.  Returns the config to run with."""
    applied, point = apply_model_card(config)
    if point.overridden:
        with sessions() as session:
            audit_operating_point(session, actor, point)
            session.commit()
    return applied, point
