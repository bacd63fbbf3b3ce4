"""The public register as the service builds it: counts, authorisation states, withheld
locations, the model card, and the guard that keeps personal data out of published free text."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from citywatch.config.root import CitywatchConfig, StoreConfig
from citywatch.eval.model_card import ModelCard
from citywatch.services.register import (
    WITHHELD,
    DayActivity,
    PersonalTerms,
    Tally,
    build_register,
    impact_assessment_status,
    monthly,
)
from citywatch.store.media import MediaStore
from citywatch.store.models import CameraRow
from citywatch.vision.faces.registry import model_id
from tests.services.helpers import NOW, add_authorisation, add_camera
from tests.services.register_seed import EXPECTED, HIDDEN_REASON, PERSONAL, seed_register


@pytest.fixture
def db(session_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """SQLite, and PostgreSQL when it answers (tests/store/db_fixtures.py)."""
    return session_factory


@pytest.fixture
def config(tmp_path: Path) -> CitywatchConfig:
    store = StoreConfig(database_url="sqlite://", media_dir=tmp_path / "media", state_dir=tmp_path)
    return CitywatchConfig(store=store)


@pytest.fixture
def seeded(db: sessionmaker[Session], media: MediaStore) -> sessionmaker[Session]:
    with db() as session:
        seed_register(session, db, media)
    return db


def test_register_counts_states_and_withheld_location(
    seeded: sessionmaker[Session], config: CitywatchConfig
) -> None:
    with seeded() as session:
        reg = build_register(session, config, now=NOW)
    text = reg.model_dump_json()
    assert [p for p in PERSONAL if p in text] == []
    assert {m.month: m.model_dump(exclude={"month"}) for m in reg.statistics} == EXPECTED
    cams = {c.id: c for c in reg.cameras}
    assert cams["cam-1"].face_recognition_authorised  # W-1 is live at NOW
    assert not cams["cam-2"].face_recognition_authorised
    hidden = cams["cam-hidden"]
    assert (hidden.location, hidden.zone, hidden.withheld_reason) == (None, "east", HIDDEN_REASON)
    assert [a.state for a in reg.authorisations] == ["live", "awaiting_confirmation"]
    assert reg.authorisations[1].zones == ["north"]


@pytest.mark.parametrize(
    ("impact", "approved", "expected"),
    [
        ("DPIA-1", dt.date(2025, 1, 1), "approved"),
        ("DPIA-1", NOW.date(), "approved"),
        ("DPIA-1", NOW.date() + dt.timedelta(days=1), "awaiting approval"),
        ("DPIA-1", None, "missing"),
        ("  ", dt.date(2025, 1, 1), "missing"),
    ],
)
def test_impact_assessment_status(impact: str, approved: dt.date | None, expected: str) -> None:
    row = CameraRow(id="c", impact_assessment=impact, approved_on=approved)
    assert impact_assessment_status(row, NOW.date()) == expected


def test_monthly_adds_days_up_per_month_and_camera() -> None:
    days = [
        DayActivity("a", dt.date(2026, 10, 31), Tally(faces_discarded=5, face_alerts=1, pending=1)),
        DayActivity("a", dt.date(2026, 11, 1), Tally(hotlist_hits=2, rejected=2, plate_reads=9)),
        DayActivity("b", dt.date(2026, 11, 30), Tally(face_alerts=1, confirmed=1)),
    ]
    months, cams = monthly(days)
    assert [m.month for m in months] == ["2026-10", "2026-11"]
    assert months[0].faces_analysed == 6  # discarded + matched
    nov = months[1]
    assert (nov.alerts, nov.confirmed, nov.rejected, nov.plate_reads) == (3, 1, 2, 9)
    assert [(c.month, c.camera_id) for c in cams] == [
        ("2026-10", "a"),
        ("2026-11", "a"),
        ("2026-11", "b"),
    ]


def test_personal_data_typed_into_free_text_is_withheld(
    seeded: sessionmaker[Session], config: CitywatchConfig
) -> None:
    with seeded() as session:
        add_camera(session, "cam-typo", name="Gate where AB 123 CD parks", zone="west")
        add_authorisation(session, "W-9", cameras=("cam-typo",), zones=("near jane roe's house",))
        row = session.get(CameraRow, "cam-typo")
        assert row is not None
        reg = build_register(session, config, now=NOW)
    cams = {c.id: c for c in reg.cameras}
    assert cams["cam-typo"].name == WITHHELD
    assert cams["cam-typo"].zone == "west"
    assert reg.authorisations[-1].zones == [WITHHELD]
    assert reg.authorisations[-1].cameras == ["cam-typo"]
    assert "AB 123 CD" not in reg.model_dump_json()


def test_personal_terms_match_whole_names_and_plates_in_any_spelling(
    seeded: sessionmaker[Session],
) -> None:
    texts = ["AB-123-CD", "ab 123cd", "Jane Roe's car", "ZG123XY", "Janeroe", "Municipal Act 12"]
    with seeded() as session:
        terms = PersonalTerms.load(session, texts)
    assert terms.holds_personal("seen: AB-123-CD")
    assert terms.holds_personal("ab 123cd")
    assert terms.holds_personal("Jane Roe's car")
    assert terms.holds_personal("ZG123XY")  # a read that hit nothing is personal too
    assert not terms.holds_personal("Janeroe")  # not the name as a whole word
    assert not terms.holds_personal("Municipal Act 12")
    assert terms.clean("Municipal Act 12") == "Municipal Act 12"


def _card(model: str, tmp_path: Path) -> Path:
    card = ModelCard(
        model=model,
        dataset="/home/someone/data/identities_v2",
        date="2026-10-30",
        target_fpir=0.003,
        threshold=0.9312,
        overall_threshold=0.925,
        group_thresholds={"size:small": 0.9312, "size:large": 0.92},
        gallery_size=150,
        rates={"calibration_fnir": 0.081, "verification_accuracy": 0.968, "note": "text"},
    )
    return card.save(tmp_path / "card.json")


def test_model_card_is_published_without_its_path(
    tmp_path: Path, db: sessionmaker[Session]
) -> None:
    config = CitywatchConfig.model_validate({"faces": {"model_card": str(tmp_path / "card.json")}})
    _card(model_id(config.faces.embedder), tmp_path)
    with db() as session:
        card = build_register(session, config, now=NOW).model_card
    assert card.face_threshold == pytest.approx(0.9312)
    assert card.face_threshold_source == "model card"
    assert card.card_dataset == "identities_v2"  # the name, not where it lies
    assert card.measured == {"calibration_fnir": 0.081, "verification_accuracy": 0.968}
    assert card.group_thresholds["size:small"] == pytest.approx(0.9312)
    assert "/home/someone" not in card.model_dump_json()
    assert str(tmp_path) not in card.model_dump_json()


def test_a_card_for_another_model_publishes_no_rates(
    tmp_path: Path, db: sessionmaker[Session]
) -> None:
    config = CitywatchConfig.model_validate({"faces": {"model_card": str(tmp_path / "card.json")}})
    _card("some-other-model", tmp_path)
    with db() as session:
        card = build_register(session, config, now=NOW).model_card
    assert card.face_threshold == pytest.approx(config.faces.threshold)
    assert card.face_threshold_source == "config"
    assert card.measured == {}
    assert "not valid" in card.note
