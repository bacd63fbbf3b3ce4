import numpy as np

from citywatch.vision.boxes import merge_boxes
from citywatch.vision.motion import MotionGate


def _scene(x: int) -> np.ndarray:
    img = np.full((360, 640, 3), 90, np.uint8)
    img[100:180, x : x + 60] = 250
    return img


def test_static_scene_is_gated_and_moving_object_is_located():
    gate = MotionGate()
    for _ in range(10):
        m = gate.update(_scene(50))
    assert not m.moving
    m = gate.update(_scene(300))
    assert m.moving
    # the region covers the new position of the object
    assert any(r[0] <= 300 and r[2] >= 360 and r[1] <= 100 and r[3] >= 180 for r in m.regions)


def test_first_frames_count_as_motion_everywhere():
    m = MotionGate(warmup_frames=2).update(_scene(0))
    assert m.moving and m.regions.tolist() == [[0, 0, 640, 360]]


def test_merge_boxes_merges_overlaps_only():
    boxes = np.array([[0, 0, 10, 10], [5, 5, 20, 20], [50, 50, 60, 60]], np.float32)
    merged = merge_boxes(boxes)
    assert sorted(merged.tolist()) == [[0, 0, 20, 20], [50, 50, 60, 60]]
