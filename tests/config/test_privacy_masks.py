"""Privacy masks in the camera config: validated once at load, errors say where."""

from __future__ import annotations

import pytest

from citywatch.config import ConfigError, parse_config
from citywatch.config.camera import MAX_MASK_POINTS, MAX_MASKS, polygon_area

CAM = {
    "id": "cam-1",
    "url": "street.mp4",
    "purposes": ["face"],
    "legal_basis": "Act 1 s.2",
    "impact_assessment": "DPIA-7",
    "approved_on": "2026-01-01",
}
SQUARE = [[0.1, 0.1], [0.4, 0.1], [0.4, 0.3], [0.1, 0.3]]


def _cam(*masks: object) -> dict:
    return {"cameras": [{**CAM, "privacy_masks": list(masks)}]}


def test_masks_load_with_their_reason():
    cfg = parse_config(
        _cam(
            {"reason": "windows of homes, Main St 3-7", "points": SQUARE},
            {"reason": "clinic entrance", "points": [[0.9, 0.9], [1, 0.9], [1, 1]]},
        )
    )
    masks = cfg.cameras[0].privacy_masks
    assert [m.reason for m in masks] == ["windows of homes, Main St 3-7", "clinic entrance"]
    assert masks[0].points == [(0.1, 0.1), (0.4, 0.1), (0.4, 0.3), (0.1, 0.3)]
    assert parse_config({"cameras": [CAM]}).cameras[0].privacy_masks == []


@pytest.mark.parametrize(
    ("mask", "where", "what"),
    [
        ({"reason": "x", "points": SQUARE[:2]}, "privacy_masks.0.points", "at least 3"),
        (
            {"reason": "x", "points": [[0.1, 0.1], [1.5, 0.1], [0.5, 0.5]]},
            "privacy_masks.0.points.1.0",
            "less than or equal to 1",
        ),
        (
            {"reason": "x", "points": [[0.1, -0.2], [0.9, 0.1], [0.5, 0.5]]},
            "privacy_masks.0.points.0.1",
            "greater than or equal to 0",
        ),
        (
            {"reason": "x", "points": [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]},
            "privacy_masks.0.points",
            "no area",
        ),
        (
            {"reason": "x", "points": [[0.1, 0.1, 0.1], [0.2, 0.2], [0.3, 0.1]]},
            "privacy_masks.0.points.0",
            "at most 2 items",
        ),
        ({"points": SQUARE}, "privacy_masks.0.reason", "Field required"),
        ({"reason": "   ", "points": SQUARE}, "privacy_masks.0.reason", "pattern"),
        ({"reason": "x", "points": SQUARE, "blur": True}, "privacy_masks.0.blur", "unknown key"),
        (
            {"reason": "x", "points": [[0.1, 0.1]] * (MAX_MASK_POINTS + 1)},
            "privacy_masks.0.points",
            f"at most {MAX_MASK_POINTS}",
        ),
    ],
)
def test_a_malformed_mask_is_refused_naming_camera_and_field(mask, where, what):
    with pytest.raises(ConfigError) as err:
        parse_config(_cam(mask))
    text = str(err.value)
    assert f"cameras.0.{where}" in text
    assert what in text


def test_the_number_of_masks_is_bounded():
    with pytest.raises(ConfigError, match=f"at most {MAX_MASKS}"):
        parse_config(_cam(*[{"reason": "x", "points": SQUARE}] * (MAX_MASKS + 1)))


@pytest.mark.parametrize(
    ("points", "area"),
    [
        ([(0, 0), (1, 0), (1, 1), (0, 1)], 1.0),
        ([(0, 0), (0, 1), (1, 1), (1, 0)], 1.0),  # clockwise: same area
        ([(0, 0), (1, 0), (0, 1)], 0.5),
        ([(0, 0), (0.5, 0.5), (1, 1)], 0.0),
    ],
)
def test_polygon_area(points, area):
    assert polygon_area(points) == pytest.approx(area)
