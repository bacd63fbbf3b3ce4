import numpy as np
import pytest

from citywatch.vision.boxes import box_iou
from citywatch.vision.record import Detections
from citywatch.vision.tracking import ByteTracker, IouTracker


def _walk(tracker, steps=6):
    ids = []
    for k in range(steps):
        d = Detections.from_boxes(
            [[10 + 6 * k, 10, 60 + 6 * k, 60], [200, 200, 240, 250]], [0.9, 0.85]
        )
        ids.append(tracker.update(d, k * 0.2).track_id.tolist())
    return ids


@pytest.mark.parametrize("factory", [IouTracker, ByteTracker])
def test_two_objects_keep_distinct_stable_ids(factory):
    ids = [row for row in _walk(factory()) if -1 not in row]
    assert len(ids) >= 4
    assert all(row == ids[0] for row in ids)
    assert ids[0][0] != ids[0][1]


def test_iou_tracker_forgets_after_lost_time():
    t = IouTracker(lost_s=1.0)
    box = Detections.from_boxes([[0, 0, 10, 10]], [0.9])
    first = t.update(box, 0.0).track_id[0]
    assert t.update(box, 0.5).track_id[0] == first
    assert t.update(box, 2.0).track_id[0] != first


def test_iou_table():
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    assert box_iou(a, b)[0].tolist() == pytest.approx([1.0, 1 / 3, 0.0])


def test_iou_tracker_new_detection_before_a_matched_one_in_the_same_frame():
    t = IouTracker()
    t.update(Detections.from_boxes([[0, 0, 10, 10]], [0.5]), 0.0)
    # the new (unmatched) box has the higher score, so it is handled first
    out = t.update(Detections.from_boxes([[100, 100, 120, 120], [0, 0, 10, 10]], [0.9, 0.5]), 0.2)
    assert out.track_id[1] == 1 and out.track_id[0] not in (-1, 1)
