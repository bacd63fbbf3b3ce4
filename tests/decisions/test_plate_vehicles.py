"""Vehicle type and colour voted over a plate track, and stage hooks."""

from __future__ import annotations

import numpy as np

from citywatch.config.plates import PlatesConfig, PlateVoteConfig
from citywatch.decisions.plates import PlateTrackVoter, vote_vehicle
from citywatch.vision.plates.stage import inside_vehicles
from citywatch.vision.record import Detections, Frame, FrameRecord, Vehicles


def _record(t: float, kind: str, colour: str, *, held: bool = True) -> FrameRecord:
    frame = Frame("cam", int(t * 10), t, 1000.0 + t, np.zeros((200, 300, 3), np.uint8))
    plates = Detections.from_boxes(
        [[100, 150, 160, 165]], [0.9], text=("56JTT5",), text_score=[0.9]
    ).with_tracks(np.array([7]))
    box = [50, 50, 250, 190] if held else [200, 0, 300, 40]
    vehicles = Vehicles(
        np.array([box], np.float32),
        np.array([0.8], np.float32),
        (kind,),
        (colour,),
        np.array([0.6], np.float32),
    )
    return FrameRecord(frame=frame, plates=plates, vehicles=vehicles)


def _voter() -> PlateTrackVoter:
    cfg = PlatesConfig(formats=["NL"], vote=PlateVoteConfig(early_votes=0))
    return PlateTrackVoter(cfg, "cam", clock=lambda: 0.0, keep_evidence=False)


def test_track_votes_kind_and_colour() -> None:
    voter = _voter()
    for t, kind, colour in [(0.0, "car", "red"), (0.1, "truck", "red"), (0.2, "car", "brown")]:
        assert voter.update(_record(t, kind, colour)) == []
    (read,) = voter.flush()
    assert (read.text, read.vehicle_kind, read.vehicle_colour) == ("56JTT5", "car", "red")
    assert read.vehicle_score == np.float32(2 / 3).item() or abs(read.vehicle_score - 2 / 3) < 1e-6
    assert read.vehicle == "red car"


def test_plate_outside_every_vehicle_has_no_vehicle() -> None:
    voter = _voter()
    voter.update(_record(0.0, "car", "red", held=False))
    voter.update(_record(0.1, "car", "red", held=False))
    (read,) = voter.flush()
    assert (read.vehicle_kind, read.vehicle_colour, read.vehicle_score) == ("", "", 0.0)
    assert read.vehicle == ""


def test_vote_vehicle() -> None:
    assert vote_vehicle({}) == ("", 0.0)
    assert vote_vehicle({"car": 1.0, "bus": 1.0}) == ("bus", 0.5)  # ties: alphabetical
    assert vote_vehicle({"car": 3.0, "bus": 1.0}) == ("car", 0.75)


def test_inside_vehicles() -> None:
    cars = np.array([[100, 100, 200, 200], [0, 0, 5, 5]], np.float32)
    # no motion regions: each grown car box (5 % each side), the tiny one too
    whole = inside_vehicles(None, cars, 640, 480)
    np.testing.assert_allclose(whole[0], [95, 95, 205, 205])
    # cut to the moving regions; a cut under 8 px is dropped
    moving = np.array([[150, 0, 640, 480], [0, 0, 3, 3]], np.float32)
    np.testing.assert_allclose(inside_vehicles(moving, cars, 640, 480), [[150, 95, 205, 205]])
    assert len(inside_vehicles(moving, np.zeros((0, 4), np.float32), 640, 480)) == 0


class _Cars:
    name = "cars"

    def __init__(self, boxes: list[list[float]]) -> None:
        self.boxes = boxes
        self.calls = 0

    def detect(self, image: np.ndarray) -> Vehicles:
        self.calls += 1
        b = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        return Vehicles(b, np.full(len(b), 0.9, np.float32), ("car",) * len(b))


def _stage(cars: _Cars, search: str) -> tuple[object, object]:
    from citywatch.vision.plates.stage import PlateStage
    from citywatch.vision.vehicles.describe import VehicleDescriber
    from tests.vision.plates.test_stage import FakeDetector, FakeReader

    cfg = PlatesConfig(formats=["NL"])
    cfg.reader.refine = False
    cfg.reader.det_retry_equalised = False
    cfg.vehicles.search = search  # type: ignore[assignment]
    plate = FakeDetector([(100, 150, 190, 170)])
    reader = FakeReader({100: ("56JTT5", 0.95)})
    return PlateStage(plate, reader, None, cfg, vehicles=VehicleDescriber(cars)), plate


def _frame_record() -> FrameRecord:
    image = np.full((300, 400, 3), 120, np.uint8)
    return FrameRecord(frame=Frame("cam", 0, 0.0, 0.0, image))


def test_stage_describes_the_vehicle_only_when_a_plate_is_read() -> None:
    cars = _Cars([[50, 60, 250, 220]])
    stage, _ = _stage(cars, "frame")
    record = stage.process(_frame_record())  # type: ignore[attr-defined]
    assert record.plates.text == ("56JTT5",)
    assert record.vehicles.kind == ("car",) and record.vehicles.colour[0] != ""
    # no plate read, no detector run
    none = _Cars([[50, 60, 250, 220]])
    stage2, _ = _stage(none, "frame")
    stage2._reader.texts = {}  # type: ignore[attr-defined]
    assert len(stage2.process(_frame_record()).vehicles) == 0  # type: ignore[attr-defined]
    assert none.calls == 0


def test_stage_searches_inside_vehicles_when_asked() -> None:
    cars = _Cars([[300, 0, 400, 100]])  # a car away from the plate
    stage, plate = _stage(cars, "vehicles")
    record = stage.process(_frame_record())  # type: ignore[attr-defined]
    assert len(record.plates) == 0 and cars.calls == 1
    assert plate.calls and plate.calls[0] is not None  # type: ignore[attr-defined]
    # no vehicle at all: the plate detector is not run
    empty = _Cars([])
    stage2, plate2 = _stage(empty, "vehicles")
    assert len(stage2.process(_frame_record()).plates) == 0  # type: ignore[attr-defined]
    assert plate2.calls == []  # type: ignore[attr-defined]
