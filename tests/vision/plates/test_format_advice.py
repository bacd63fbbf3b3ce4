"""Advice on a plate format list that mixes US with other regions (build.mixed_regions_note)
and when the cameras' start shows it (engine.platform.start_notes)."""

from __future__ import annotations

import pytest

from citywatch.config.camera import CameraConfig
from citywatch.config.root import CitywatchConfig
from citywatch.engine.assemble import Permissions
from citywatch.engine.platform import CameraStart, start_notes
from citywatch.vision.plates.build import mixed_regions_note

# formats -> the other formats the note names (None: no note)
CASES = [
    (["US"], None),
    (["RS", "HR", "EU"], None),
    (["BR"], None),
    (["RS", "HR", "NL", "DE", "EU", "US"], "RS, HR, NL, DE, EU"),  # the shipped default
    (["US", "BR"], "BR"),
    (["US", "US"], None),
]


@pytest.mark.parametrize(("formats", "named"), CASES)
def test_a_list_mixing_us_with_other_regions_gets_a_note(
    formats: list[str], named: str | None
) -> None:
    note = mixed_regions_note(formats)
    if named is None:
        assert note is None
    else:
        assert note is not None
        assert f"lists US with {named}:" in note
        assert "[US] alone" in note


def _start(plates: bool) -> CameraStart:
    cam = CameraConfig.model_validate(
        {
            "id": "gate",
            "url": "gate.mp4",
            "purposes": ["plate"],
            "legal_basis": "Parking Act 7",
            "impact_assessment": "DPIA-1",
            "approved_on": "2026-01-01",
        }
    )
    return CameraStart(cam, Permissions(faces=False, plates=plates))


def test_the_note_shows_only_where_a_camera_reads_plates() -> None:
    mixed = CitywatchConfig()  # the shipped list mixes US with European formats
    assert len(start_notes(mixed, [_start(plates=True)])) == 1
    assert start_notes(mixed, [_start(plates=False)]) == []
    assert start_notes(mixed, [CameraStart(_start(True).camera, None, "no such file")]) == []
    us = CitywatchConfig.model_validate({"plates": {"formats": ["US"]}})
    assert start_notes(us, [_start(plates=True)]) == []
