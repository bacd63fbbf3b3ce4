from __future__ import annotations

import numpy as np
import pytest

from citywatch.config.plates import PlateTrackerConfig
from citywatch.vision.boxes import box_iou
from citywatch.vision.plates.tracking import PlateTracker, reads_apart
from citywatch.vision.record import Detections


def dets(*rows: tuple[float, float, float, float, str]) -> Detections:
    return Detections.from_boxes(
        [r[:4] for r in rows],
        [0.9] * len(rows),
        text=tuple(r[4] for r in rows),
        text_score=[0.9] * len(rows),
    )


def test_box_iou() -> None:
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    np.testing.assert_allclose(box_iou(a, b), [[1.0, 1 / 3, 0.0]], rtol=1e-6)
    assert box_iou(a, np.zeros((0, 4), np.float32)).shape == (1, 0)


def test_parked_plate_keeps_its_id() -> None:
    tr = PlateTracker()
    ids = [
        tr.update(dets((100 + k, 200, 200 + k, 230, "56JTT5")), 0.2 * k).track_id[0]
        for k in range(10)
    ]
    assert len(set(ids)) == 1 and ids[0] >= 1


def test_moving_plate_that_reads_alike_keeps_its_id() -> None:
    # 100 px wide plate moving 250 px per analysed frame (5 fps): no overlap between frames
    tr = PlateTracker(max_jump=3.0)
    texts = ["56JTT5", "56JTTS", "56JTT5", "S6JTT5"]
    ids = [
        tr.update(dets((250 * k, 200, 250 * k + 100, 230, t)), 0.2 * k).track_id[0]
        for k, t in enumerate(texts)
    ]
    assert len(set(ids)) == 1


def test_jump_with_another_text_is_a_new_track() -> None:
    tr = PlateTracker()
    a = tr.update(dets((0, 200, 100, 230, "56JTT5")), 0.0).track_id[0]
    b = tr.update(dets((250, 200, 350, 230, "XSNB23")), 0.2).track_id[0]
    assert a != b


def test_too_far_is_a_new_track() -> None:
    tr = PlateTracker(max_jump=2.0)
    a = tr.update(dets((0, 200, 100, 230, "56JTT5")), 0.0).track_id[0]
    b = tr.update(dets((500, 200, 600, 230, "56JTT5")), 0.2).track_id[0]
    assert a != b


def test_velocity_prediction_follows_a_steady_car() -> None:
    # after two sightings the predicted box overlaps the next one, even with an unreadable text
    tr = PlateTracker(max_text_distance=0)
    ids = [
        tr.update(
            dets((250 * k, 200, 250 * k + 100, 230, "56JTT5" if k < 2 else "")), 0.2 * k
        ).track_id[0]
        for k in range(4)
    ]
    assert len(set(ids)) == 1


def test_two_plates_side_by_side_stay_apart() -> None:
    tr = PlateTracker()
    first = tr.update(dets((0, 0, 100, 30, "AB123CD"), (300, 0, 400, 30, "XY987ZW")), 0.0)
    second = tr.update(dets((305, 0, 405, 30, "XY987ZW"), (5, 0, 105, 30, "AB123CD")), 0.2)
    assert first.track_id.tolist() == second.track_id.tolist()[::-1]
    assert len(set(first.track_id.tolist())) == 2


def test_lost_track_is_forgotten() -> None:
    tr = PlateTracker(lost_s=1.0)
    a = tr.update(dets((0, 0, 100, 30, "AB123CD")), 0.0).track_id[0]
    assert len(tr) == 1
    b = tr.update(dets((0, 0, 100, 30, "AB123CD")), 5.0).track_id[0]
    assert a != b and len(tr) == 1


def test_empty_update_and_from_config() -> None:
    tr = PlateTracker.from_config(PlateTrackerConfig(lost_s=0.5))
    out = tr.update(Detections.empty(), 0.0)
    assert len(out) == 0


def test_the_next_car_stopped_where_the_last_one_stood_is_another_track() -> None:
    """A queue at a stop line or a barrier: car B's plate overlaps where car A's stood, within
    the track's lost time.  Before, the overlap alone continued A's track (already reported)."""
    tr = PlateTracker()
    box = (100, 200, 180, 220)
    a = [tr.update(dets((*box, "AB123CD")), 0.2 * k).track_id[0] for k in range(5)]
    b = [tr.update(dets((*box, "ZX987YW")), 1.8 + 0.2 * k).track_id[0] for k in range(5)]
    assert len(set(a)) == 1 and len(set(b)) == 1 and a[0] != b[0]


def test_an_overlapping_misread_or_partial_read_stays_on_its_track() -> None:
    tr = PlateTracker()
    box = (100, 200, 180, 220)
    texts = ["AB123CD", "AB128CD", "B123CD", "A8I23CD", "AB1", "", "AB123CD"]
    ids = [tr.update(dets((*box, t)), 0.2 * k).track_id[0] for k, t in enumerate(texts)]
    assert len(set(ids)) == 1


@pytest.mark.parametrize(
    ("a", "b", "apart"),
    [
        ("AB123CD", "ZX987YW", True),
        ("AB123CD", "AB456EF", True),  # 4 of 7 differ
        ("AB123CD", "AB123EF", False),  # 2 of 7: a misread is possible
        ("AB123CD", "AB12", False),  # 3 of 7
        ("ABC1", "XYZ9", True),
        ("ABC", "XYZ", False),  # too short to tell
        ("", "AB123CD", False),
    ],
)
def test_reads_apart(a: str, b: str, apart: bool) -> None:
    assert reads_apart(a, b) is apart
    assert reads_apart(b, a) is apart
