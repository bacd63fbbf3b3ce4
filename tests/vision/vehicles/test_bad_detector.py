"""A vehicle detector file of the wrong shape or class count (issue 20): a clear error naming
the file, and plates are still read and voted, without vehicle type and colour."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from citywatch.config.root import CitywatchConfig
from citywatch.decisions.plates import PlateTrackVoter
from citywatch.engine.assemble import Models
from citywatch.vision.plates.stage import PlateStage
from citywatch.vision.record import Frame, FrameRecord
from tests.vision.plates.test_stage import FakeDetector, FakeReader
from tests.vision.vehicles.foreign import write_voc_detector


def test_plates_are_read_without_vehicles_when_the_detector_file_is_foreign(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    voc = write_voc_detector(tmp_path / "voc.onnx")
    cfg = CitywatchConfig.model_validate(
        {"plates": {"formats": ["NL"], "vehicles": {"model_path": str(voc)}}}
    )
    cfg.plates.reader.refine = False
    cfg.plates.reader.det_retry_equalised = False
    with caplog.at_level(logging.ERROR):
        assert Models(cfg).vehicles is None
    assert "voc.onnx" in caplog.text and "80 COCO classes" in caplog.text
    assert "without vehicle type and colour" in caplog.text
    assert "Traceback" not in caplog.text

    stage = PlateStage(
        FakeDetector([(100, 150, 190, 170)]),
        FakeReader({100: ("56JTT5", 0.95)}),
        None,
        cfg.plates,
        vehicles=Models(cfg).vehicles,
    )
    voter = PlateTrackVoter(cfg.plates, "cam", clock=lambda: 0.0, keep_evidence=False)
    image = np.full((300, 400, 3), 120, np.uint8)
    reads = []
    for n in range(4):
        record = stage.process(FrameRecord(frame=Frame("cam", n, n * 0.2, n * 0.2, image)))
        record.plates = record.plates.with_tracks(np.array([1]))
        reads += voter.update(record)
    assert record.plates.text == ("56JTT5",) and len(record.vehicles) == 0
    (read,) = reads + voter.flush()
    assert read.text == "56JTT5"
    assert (read.vehicle_kind, read.vehicle_colour, read.vehicle) == ("", "", "")
