import numpy as np
import pytest

from citywatch.vision.record import Detections, Frame, RecordShapeError


def test_detections_shapes_are_checked_with_a_clear_message():
    with pytest.raises(RecordShapeError, match=r"score: expected shape \(2,\), got \(3,\)"):
        Detections(
            xyxy=np.zeros((2, 4), np.float32),
            score=np.zeros(3, np.float32),
            track_id=np.zeros(2, np.int64),
        )


def test_select_keeps_fields_in_step():
    d = Detections.from_boxes(
        [[0, 0, 1, 1], [1, 1, 3, 3], [2, 2, 5, 5]], [0.1, 0.2, 0.3], text=("A", "B", "C")
    )
    sub = d.select(np.array([False, True, True]))
    assert sub.text == ("B", "C")
    assert sub.score.tolist() == pytest.approx([0.2, 0.3])
    assert sub.widths.tolist() == [2.0, 3.0]


def test_frame_rejects_grayscale():
    with pytest.raises(RecordShapeError, match="cam-1"):
        Frame("cam-1", 0, 0.0, 0.0, np.zeros((4, 4), np.uint8))
