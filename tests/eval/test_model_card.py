"""Model cards: round trip, calibration from measured scores, and the live system's rules."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pytest

from citywatch.audit.chain import Actor, entries, verify
from citywatch.config.faces import FaceEmbedderConfig, FacesConfig
from citywatch.config.root import CitywatchConfig
from citywatch.eval.faces import IdentityReport, OpenSet, Verification
from citywatch.eval.model_card import (
    AUDIT_ACTION,
    ModelCard,
    ModelCardError,
    ThresholdRefused,
    apply_and_audit,
    apply_model_card,
    audit_operating_point,
    calibrate,
    equitable_point,
    resolve_operating_point,
)
from citywatch.store.db import make_engine, make_session_factory, upgrade_database
from citywatch.vision.faces.registry import model_id

MODEL = model_id(FaceEmbedderConfig())  # what the default embedder config is called


def _card(**changes: object) -> ModelCard:
    base: dict[str, object] = {
        "model": MODEL,
        "dataset": "identities",
        "date": "2026-11-27",
        "target_fpir": 0.003,
        "threshold": 0.93,
        "overall_threshold": 0.925,
        "group_thresholds": {"blur_soft": 0.93, "blur_sharp": 0.92},
        "gallery_size": 6,
        "rates": {"calibration_fnir": 0.2, "verification_accuracy": 0.97},
    }
    base.update(changes)
    return ModelCard(**base)  # type: ignore[arg-type]


def test_round_trip(tmp_path: Path) -> None:
    card = _card()
    path = card.save(tmp_path / "card.json")
    assert ModelCard.load(path) == card
    assert "0.9300" in card.summary() and "identities" in card.summary()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("not json", "not JSON"),
        ('{"schema": "other"}', "not a citywatch model card"),
        ('{"schema": "citywatch.model_card/1", "model": "m"}', "missing or malformed"),
    ],
)
def test_malformed_cards_are_named(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ModelCardError, match=match):
        ModelCard.load(path)
    with pytest.raises(ModelCardError, match="cannot read"):
        ModelCard.load(tmp_path / "absent.json")


def test_equitable_point_is_the_strictest_group() -> None:
    assert equitable_point(0.9, {"a": 0.91, "b": 0.95}) == 0.95
    assert equitable_point(0.9, {}) == 0.9


def _faces(card: Path | None, **fields: object) -> FacesConfig:
    return FacesConfig.model_validate({"model_card": card, **fields})


@pytest.mark.parametrize(
    ("fields", "threshold", "source"),
    [
        ({}, 0.93, "model card"),
        ({"threshold": 0.95}, 0.95, "config (stricter than the card)"),
        ({"threshold": 0.93}, 0.93, "config (stricter than the card)"),
        (
            {"threshold": 0.9, "threshold_override_reason": "pilot with human review of all"},
            0.9,
            "override",
        ),
    ],
)
def test_operating_point_rules(
    tmp_path: Path, fields: dict[str, object], threshold: float, source: str
) -> None:
    path = _card().save(tmp_path / "card.json")
    point = resolve_operating_point(_faces(path, **fields))
    assert (point.threshold, point.source) == (threshold, source)
    assert point.overridden == (source == "override")


def test_looser_threshold_is_refused_without_a_reason(tmp_path: Path) -> None:
    path = _card().save(tmp_path / "card.json")
    with pytest.raises(ThresholdRefused, match=r"0\.9000 is looser .* 0\.9300"):
        resolve_operating_point(_faces(path, threshold=0.9))
    config = CitywatchConfig.model_validate({"faces": {"model_card": str(path), "threshold": 0.9}})
    with pytest.raises(ThresholdRefused):
        apply_model_card(config)


def test_no_card_keeps_the_configured_threshold() -> None:
    point = resolve_operating_point(FacesConfig(threshold=0.8))
    assert (point.threshold, point.source, point.card) == (0.8, "config", None)


def test_card_for_another_model_is_refused(tmp_path: Path) -> None:
    path = _card(model="dlib-resnet-v1").save(tmp_path / "card.json")  # measured without flip
    with pytest.raises(ModelCardError, match=r"'dlib-resnet-v1'.*" + re.escape(repr(MODEL))):
        resolve_operating_point(_faces(path))


def test_apply_sets_the_threshold_on_a_copy(tmp_path: Path) -> None:
    path = _card().save(tmp_path / "card.json")
    config = CitywatchConfig.model_validate({"faces": {"model_card": str(path)}})
    applied, point = apply_model_card(config)
    assert applied.faces.threshold == 0.93 and config.faces.threshold != 0.93
    assert "model card" in point.describe()


def test_override_is_audited(tmp_path: Path) -> None:
    path = _card().save(tmp_path / "card.json")
    url = f"sqlite:///{tmp_path / 'cw.db'}"
    upgrade_database(url)
    sessions = make_session_factory(make_engine(url))
    actor = Actor.system("platform")
    reason = "pilot with human review of all"
    point = resolve_operating_point(_faces(path, threshold=0.9, threshold_override_reason=reason))
    plain = resolve_operating_point(_faces(path))
    with sessions() as session:
        assert audit_operating_point(session, actor, plain) is None
        entry = audit_operating_point(session, actor, point)
        session.commit()
    assert entry is not None and entry.action == AUDIT_ACTION and entry.reason == reason
    with sessions() as session:
        rows = list(entries(session))
        assert [r.action for r in rows] == [AUDIT_ACTION]
        assert rows[0].details["card_threshold"] == 0.93 and rows[0].details["threshold"] == 0.9
        assert verify(session).ok
    # What the platform calls at start: the config to run with, and the override audited.
    faces = {"model_card": str(path), "threshold": 0.9, "threshold_override_reason": reason}
    config, started = apply_and_audit(
        CitywatchConfig.model_validate({"faces": faces}), sessions, actor
    )
    assert config.faces.threshold == 0.9 and started.overridden
    with sessions() as session:
        assert [r.action for r in entries(session)] == [AUDIT_ACTION, AUDIT_ACTION]
    _, quiet = apply_and_audit(
        CitywatchConfig.model_validate({"faces": {"model_card": str(path)}}), sessions, actor
    )
    with sessions() as session:
        assert len(list(entries(session))) == 2 and quiet.threshold == 0.93


def test_calibrate_takes_the_strictest_group_and_rounds_up() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    nonmated = rng.uniform(0.0, 0.9, n)
    soft = np.arange(n) % 2 == 0
    nonmated[soft] += 0.05  # soft faces look more alike: their threshold must be higher
    ops = OpenSet(
        mated=[rng.uniform(0.85, 1.0, 500)],
        nonmated=[nonmated],
        nonmated_images=[np.arange(n)],
    )
    groups = np.where(soft, 0, 1).astype(np.int64)
    report = IdentityReport(
        metrics={"dataset": "synthetic", "model": MODEL, "identities": 12, "rank1": 0.9},
        rows=[],
        verification=Verification.__new__(Verification),
        open_set=ops,
        groups={"blur": (groups, ("blur_soft", "blur_sharp"))},
    )
    card = calibrate(report, target_fpir=0.01, today=dt.date(2026, 1, 2))
    assert card.threshold == card.group_thresholds["blur_soft"] > card.overall_threshold
    assert card.threshold >= float(np.sort(nonmated[soft])[-11])  # 10 of 1000 soft may pass
    assert (nonmated[soft] >= card.threshold).mean() <= 0.01
    assert card.date == "2026-01-02" and card.gallery_size == 6 and card.rates["rank1"] == 0.9
    with pytest.raises(ValueError, match="cannot resolve FPIR"):
        calibrate(report, target_fpir=1e-4)
