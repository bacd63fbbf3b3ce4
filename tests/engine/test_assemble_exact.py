"""What a camera's pipeline is built from, exactly (issue 21, mutation testing of
``engine/assemble.py``): which stages policy's permissions and the gallery give a camera, the
face detector as the redactor of plate evidence (and only then), the models each stage gets
(built once, lazily, with the config's settings; a plate-only camera never loads face
recognition models), the camera's tracker settings, clock and privacy masks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from citywatch.config.camera import CameraConfig
from citywatch.config.root import CitywatchConfig, parse_config
from citywatch.decisions.gallery import Gallery
from citywatch.engine import assemble
from citywatch.engine.assemble import Models, Permissions, build_pipeline, privacy_masker
from citywatch.vision.motion import MotionGate
from citywatch.vision.plates.tracking import PlateTracker
from citywatch.vision.tracking import ByteTracker
from tests.accountability.fakes import ColourEmbedder, ColourFaceDetector, colour_gallery
from tests.accountability.scenario import REGISTERED


class Built:
    """Stand-ins for the model builders: each call noted, each model a distinct object."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, vehicles: bool = True) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.vehicles = vehicles
        for name in (
            "build_detector",
            "build_landmarker",
            "build_embedder",
            "build_plate_models",
            "build_describer_or_none",
        ):
            monkeypatch.setattr(assemble, name, self._builder(name))

    def _builder(self, name: str) -> Any:
        def build(*args: Any, **kw: Any) -> Any:
            self.calls.append((name, *args, *sorted(kw.items())))
            if name == "build_plate_models":
                return (object(), object())
            if name == "build_describer_or_none" and not self.vehicles:
                return None
            if name == "build_detector":
                return ColourFaceDetector()
            if name == "build_embedder":
                return ColourEmbedder()  # as wide as the colour gallery
            return object()

        return build

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


def _cfg() -> CitywatchConfig:
    return parse_config(
        {
            "alerts": {"console": False},
            "models": {"threads": 3},
            "faces": {"track_lost_s": 4.0},
        }
    )


def _cam(**kw: Any) -> CameraConfig:
    return CameraConfig.model_validate(
        {"id": "cam-x", "url": "x.mp4", "purposes": ["face", "plate"], **REGISTERED, **kw}
    )


def _tracker_settings(t: ByteTracker) -> dict[str, Any]:
    inner = vars(t._tracker)
    return {k: v for k, v in inner.items() if isinstance(v, int | float) and k != "_next_track_id"}


def test_each_model_is_built_once_with_the_configs_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built = Built(monkeypatch)
    cfg = _cfg()
    models = Models(cfg)
    assert built.calls == []  # nothing before it is asked for
    assert models.face_detector is models.face_detector
    assert models.landmarker is models.landmarker
    assert models.embedder is models.embedder
    assert models.plates is models.plates
    assert models.vehicles is models.vehicles and models.vehicles is not None
    assert built.calls == [
        ("build_detector", cfg.faces.detector, ("threads", 3)),
        ("build_landmarker",),
        ("build_embedder", cfg.faces.embedder, cfg.models.cache_dir, ("threads", 3)),
        ("build_plate_models", cfg.plates, cfg.models.cache_dir),
        ("build_describer_or_none", cfg.plates.vehicles),
    ]


def test_a_vehicle_describer_that_cannot_be_built_is_asked_for_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built = Built(monkeypatch, vehicles=False)
    models = Models(_cfg())
    assert models.vehicles is None and models.vehicles is None
    assert built.names() == ["build_describer_or_none"]


@pytest.mark.parametrize(
    ("faces", "plates", "gallery", "want_faces", "want_plates"),
    [
        (True, True, "people", True, True),
        (True, False, "people", True, False),
        (False, True, "people", False, True),
        (True, True, "empty", False, True),  # nobody to look for: no face is embedded
        (True, True, None, False, True),
        (False, False, "people", False, False),
    ],
)
def test_the_stages_a_camera_gets(
    monkeypatch: pytest.MonkeyPatch,
    faces: bool,
    plates: bool,
    gallery: str | None,
    want_faces: bool,
    want_plates: bool,
) -> None:
    built = Built(monkeypatch)
    cfg, cam = _cfg(), _cam()
    models = Models(cfg)
    g = {
        "people": colour_gallery(),
        "empty": Gallery.build(np.zeros((0, 3), np.float32), [], [], []),
        None: None,
    }[gallery]
    p = build_pipeline(cam, cfg, models, Permissions(faces=faces, plates=plates), g)
    assert (p.faces is not None, p.face_decider is not None) == (want_faces, want_faces)
    assert (p.plates is not None, p.plate_voter is not None) == (want_plates, want_plates)
    # evidence is stored: the face detector blurs the faces in it, faces analysed or not
    assert p.redactor is (models.face_detector if want_plates or want_faces else None)
    want_built = ["build_detector"] if want_faces or want_plates else []
    if want_faces:
        want_built += ["build_landmarker", "build_embedder"]
    if want_plates:
        want_built += ["build_plate_models", "build_describer_or_none"]
    assert sorted(built.names()) == sorted(want_built)


def test_the_face_stage_and_its_decider_get_the_cameras_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    Built(monkeypatch)
    cfg, cam = _cfg(), _cam(analyse_fps=4.0)
    models, gallery = Models(cfg), colour_gallery()

    def clock() -> float:
        return 123.0

    p = build_pipeline(cam, cfg, models, Permissions(True, False), gallery, clock=clock)
    assert p.faces is not None and p.face_decider is not None
    assert p.faces.detector is models.face_detector and p.faces.landmarker is models.landmarker
    assert p.faces.cfg is cfg.faces
    assert isinstance(p.faces.tracker, ByteTracker)
    assert _tracker_settings(p.faces.tracker) == _tracker_settings(
        ByteTracker(frame_rate=4.0, lost_s=4.0)
    )
    assert _tracker_settings(p.faces.tracker) != _tracker_settings(ByteTracker())
    d = p.face_decider
    assert (d.gallery, d.embedder, d.cfg, d.camera_id) == (
        gallery,
        models.embedder,
        cfg.faces,
        "cam-x",
    )
    assert d._clock is clock and p.clock is clock
    assert p.camera_id == "cam-x"


def test_the_plate_stage_and_its_voter_get_the_cameras_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    Built(monkeypatch)
    cfg = parse_config(
        {
            "alerts": {"console": False},
            "plates": {"tracker": {"lost_s": 3.5, "min_iou": 0.3}, "vote": {"lost_s": 2.5}},
        }
    )
    cam = _cam()
    models = Models(cfg)

    def clock() -> float:
        return 456.0

    p = build_pipeline(cam, cfg, models, Permissions(False, True), None, clock=clock)
    assert p.plates is not None and p.plate_voter is not None
    detector, reader = models.plates
    s = p.plates
    assert (s._detector, s._reader, s._vehicles) == (detector, reader, models.vehicles)
    assert s._filters is cfg.plates.filters
    assert isinstance(s._tracker, PlateTracker)
    assert (s._tracker._lost_s, s._tracker._min_iou) == (3.5, 0.3)
    v = p.plate_voter
    assert (v._camera_id, v._lost_s, v._clock) == ("cam-x", 2.5, clock)
    assert p.clock is clock


def test_the_motion_gate_and_the_default_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    Built(monkeypatch)
    cfg, cam = _cfg(), _cam()
    gated = build_pipeline(cam, cfg, Models(cfg), Permissions(False, True), None)
    assert isinstance(gated.motion, MotionGate)
    assert gated.clock is assemble.time.time
    assert gated.plate_voter is not None and gated.plate_voter._clock is assemble.time.time
    ungated = build_pipeline(cam, cfg, Models(cfg), Permissions(False, True), None, motion=False)
    assert ungated.motion is None


def test_the_privacy_masks_come_from_the_camera(monkeypatch: pytest.MonkeyPatch) -> None:
    Built(monkeypatch)
    cfg = _cfg()
    plain = _cam()
    assert privacy_masker(plain) is None
    assert build_pipeline(plain, cfg, Models(cfg), Permissions(False, False), None).masker is None
    square = [[0, 0], [0.5, 0], [0.5, 0.5], [0, 0.5]]  # the top-left quarter
    masked = _cam(privacy_masks=[{"reason": "a window", "points": square}])
    m = privacy_masker(masked)
    assert m is not None
    img = np.full((20, 20, 3), 200, np.uint8)
    out = m.apply(img)
    assert int(out[5, 5].max()) == 0 and int(out[15, 15].min()) == 200
    p = build_pipeline(masked, cfg, Models(cfg), Permissions(False, False), None)
    assert p.masker is not None
    assert np.array_equal(p.masker.apply(img), out)


@pytest.mark.parametrize(
    ("idle_search", "faces_every", "plates_every"),
    [(None, 4, 3), (True, 4, 3), (False, 1, 1)],  # None: build_pipeline's default (live)
)
def test_the_stages_search_as_configured_while_idle_and_scans_every_frame(
    monkeypatch: pytest.MonkeyPatch, idle_search: bool | None, faces_every: int, plates_every: int
) -> None:
    Built(monkeypatch)
    cfg = parse_config(
        {
            "alerts": {"console": False},
            "faces": {"track_lost_s": 4.0, "idle_search_every": 4},
            "plates": {"idle_search_every": 3, "tracker": {"lost_s": 2.5}},
        }
    )
    args = (_cam(), cfg, Models(cfg), Permissions(True, True), colour_gallery())
    if idle_search is None:
        p = build_pipeline(*args)
    else:
        p = build_pipeline(*args, idle_search=idle_search)
    assert p.faces is not None and p.plates is not None
    assert (p.faces.cadence.every, p.faces.cadence.rest_s) == (faces_every, 4.0)
    assert (p.plates.cadence.every, p.plates.cadence.rest_s) == (plates_every, 2.5)
