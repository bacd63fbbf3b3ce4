"""Control 1, the camera register gate, attacked from a worker, the API and the CLI.

A camera analyses only the purposes it is registered for, with a legal basis, an impact
assessment and an approval date; faces need, besides, a live authorisation that covers it.  Each
test tries to get a face analysed or stored without that, and checks that nothing was stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from citywatch.api.security import Role
from citywatch.config.camera import CameraConfig
from citywatch.config.root import load_config
from citywatch.decisions.types import FaceMatch, Sighting
from citywatch.engine.assemble import Models
from citywatch.engine.platform import make_embed_faces
from citywatch.engine.runtime import PipelineRefresher, initial_pipeline
from citywatch.engine.sink import RecorderSink
from citywatch.engine.worker import CameraWorker
from citywatch.services.authorisations import revoke_authorisation
from citywatch.services.common import NotFoundError, PermissionDenied
from citywatch.services.enrolment import enrol_subject
from citywatch.services.events import EventRecorder
from citywatch.services.watchlists import create_watchlist
from citywatch.store.db import make_engine, make_session_factory, upgrade_database
from citywatch.store.media import MediaStore
from citywatch.store.models import AlertRow, CameraRow, FaceCountRow
from citywatch.vision.images import load_image
from citywatch.vision.record import Frame, FrameRecord
from tests.accountability.conftest import Store
from tests.accountability.fakes import ColourFaceDetector, ListSource
from tests.accountability.scenario import (
    ADMIN,
    REGISTERED,
    alerts,
    audit_actions,
    authorise,
    count,
    face_match,
    fake_embed,
    files_under,
    register,
    watchlist,
)

Setup = Callable[[Session, Store, dt.datetime], tuple[FaceMatch, dt.timedelta]]


def _no_authorisation(s: Session, st: Store, now: dt.datetime) -> tuple[FaceMatch, dt.timedelta]:
    register(s, "cam-1")
    register(s, "cam-2")
    authorise(s, "A-2", now, cameras=("cam-2",))
    ann = watchlist(s, st.media, "wl-2", "A-2", "ann")["ann"]
    return face_match("cam-1", ann), dt.timedelta(0)


def _ended(s: Session, st: Store, now: dt.datetime) -> tuple[FaceMatch, dt.timedelta]:
    register(s, "cam-1")
    authorise(s, "A-1", now, cameras=("cam-1",), ends=dt.timedelta(days=1))
    ann = watchlist(s, st.media, "wl", "A-1", "ann")["ann"]
    return face_match("cam-1", ann), dt.timedelta(days=2)  # the match comes after the end


def _revoked(s: Session, st: Store, now: dt.datetime) -> tuple[FaceMatch, dt.timedelta]:
    register(s, "cam-1")
    authorise(s, "A-1", now, cameras=("cam-1",))
    ann = watchlist(s, st.media, "wl", "A-1", "ann")["ann"]
    revoke_authorisation(s, ADMIN, "A-1", reason="court withdrew it")
    return face_match("cam-1", ann), dt.timedelta(0)


def _urgent_unconfirmed(s: Session, st: Store, now: dt.datetime) -> tuple[FaceMatch, dt.timedelta]:
    register(s, "cam-1")
    authorise(s, "U-1", now, cameras=("cam-1",), urgent=True)
    ann = watchlist(s, st.media, "wl", "U-1", "ann")["ann"]
    return face_match("cam-1", ann), dt.timedelta(hours=30)  # past the confirmation deadline


def _not_started(s: Session, st: Store, now: dt.datetime) -> tuple[FaceMatch, dt.timedelta]:
    register(s, "cam-1")
    authorise(s, "A-1", now, cameras=("cam-1",), starts=dt.timedelta(days=1))
    ann = watchlist(s, st.media, "wl", "A-1", "ann")["ann"]
    return face_match("cam-1", ann), dt.timedelta(0)


def _plate_only_camera(s: Session, st: Store, now: dt.datetime) -> tuple[FaceMatch, dt.timedelta]:
    register(s, "cam-1", "plate")
    authorise(s, "A-1", now, cameras=("cam-1",))
    ann = watchlist(s, st.media, "wl", "A-1", "ann")["ann"]
    return face_match("cam-1", ann), dt.timedelta(0)


def _moved_out_of_zone(s: Session, st: Store, now: dt.datetime) -> tuple[FaceMatch, dt.timedelta]:
    register(s, "cam-1", zone="north")
    authorise(s, "A-1", now, zones=("north",))
    ann = watchlist(s, st.media, "wl", "A-1", "ann")["ann"]
    register(s, "cam-1", zone="south")  # re-registered elsewhere: the scope no longer covers it
    return face_match("cam-1", ann), dt.timedelta(0)


def _other_cameras_watchlist(
    s: Session, st: Store, now: dt.datetime
) -> tuple[FaceMatch, dt.timedelta]:
    # cam-1 is authorised, but for bob's list; ann's list belongs to cam-2's authorisation.
    register(s, "cam-1")
    register(s, "cam-2")
    authorise(s, "A-1", now, cameras=("cam-1",))
    authorise(s, "A-2", now, cameras=("cam-2",))
    watchlist(s, st.media, "wl-1", "A-1", "bob")
    ann = watchlist(s, st.media, "wl-2", "A-2", "ann")["ann"]
    return face_match("cam-1", ann), dt.timedelta(0)


def _unregistered(s: Session, st: Store, now: dt.datetime) -> tuple[FaceMatch, dt.timedelta]:
    register(s, "cam-2")
    authorise(s, "A-2", now, cameras=("cam-2", "cam-9"))
    ann = watchlist(s, st.media, "wl", "A-2", "ann")["ann"]
    return face_match("cam-9", ann), dt.timedelta(0)


REFUSED: dict[str, tuple[Setup, str]] = {
    "no authorisation covers the camera": (_no_authorisation, "no authorisation covers it"),
    "the authorisation ended": (_ended, "ended at"),
    "the authorisation was revoked": (_revoked, "revoked"),
    "urgent, not confirmed in time": (_urgent_unconfirmed, "not confirmed"),
    "the authorisation has not started": (_not_started, "starts at"),
    "the camera is registered for plates only": (_plate_only_camera, "'face' is not registered"),
    "the camera left the authorised zone": (_moved_out_of_zone, "no authorisation covers it"),
    "a watchlist of another camera": (_other_cameras_watchlist, "does not cover this camera"),
    "an unregistered camera": (_unregistered, "not registered"),
}


class _Emits:
    """A pipeline that 'finds' a face match on its first frame: a worker wired by hand,
    bypassing every policy check the platform makes when it builds pipelines."""

    def __init__(self, sighting: Sighting) -> None:
        self.sighting: Sighting | None = sighting

    def process(self, frame: Frame) -> tuple[FrameRecord, list[Sighting]]:
        out, self.sighting = [self.sighting] if self.sighting else [], None
        return FrameRecord(frame), out  # type: ignore[list-item]

    def flush(self) -> list[Sighting]:
        return []


def _frame(cam: str) -> Frame:
    return Frame(cam, 0, 0.0, 0.0, np.zeros((8, 8, 3), np.uint8))


@pytest.mark.parametrize("situation", list(REFUSED), ids=list(REFUSED))
def test_a_worker_wired_by_hand_stores_no_face_match_without_a_live_authorisation(
    store: Store, now: dt.datetime, situation: str
):
    setup, why = REFUSED[situation]
    with store.sessions() as s:
        match, later = setup(s, store, now)
        before = audit_actions(s)
    photos = files_under(store.media.root)
    published: list = []
    recorder = EventRecorder(
        store.sessions,
        store.media,
        lambda r: None,
        published.append,
        clock=lambda: now + later,
    )
    with pytest.raises((PermissionDenied, NotFoundError), match=why):
        recorder.record_face_match(match)
    # the same match handed over by a camera worker built by hand, without the platform
    sink = RecorderSink(recorder)
    worker = CameraWorker(
        match.camera_id, ListSource([_frame(match.camera_id)]), _Emits(match), sink, live=False
    )
    worker.run()
    assert sink.refused == 1 and worker.pending == 0
    with store.sessions() as s:
        assert alerts(s) == []
        assert audit_actions(s) == before  # no alert.create
    assert published == []
    assert files_under(store.media.root) == photos  # no evidence snapshot written


def test_the_same_match_is_stored_when_a_live_authorisation_covers_the_camera(
    store: Store, now: dt.datetime
):
    """The control for the test above: what it refuses is the missing authorisation."""
    with store.sessions() as s:
        register(s, "cam-1")
        authorise(s, "A-1", now, cameras=("cam-1",))
        ann = watchlist(s, store.media, "wl", "A-1", "ann")["ann"]
    published: list = []
    recorder = EventRecorder(store.sessions, store.media, lambda r: None, published.append)
    sink = RecorderSink(recorder)
    CameraWorker(
        "cam-1", ListSource([_frame("cam-1")]), _Emits(face_match("cam-1", ann)), sink, live=False
    ).run()
    with store.sessions() as s:
        [row] = alerts(s)
        assert (row.status, row.subject_id) == ("pending", ann[0])
        assert "alert.create" in audit_actions(s)
    assert sink.refused == 0 and len(published) == 1
    assert store.media.path(row.snapshot_path or "").is_file()


# ---------------------------------------------------------------- the API, then the worker


class _Embedder128:
    name, dim = "fake-128", 128

    def embed(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        v = np.ones((len(landmarks), 128), np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_a_camera_registered_through_the_api_gets_no_face_stage_until_authorised(
    client, bearer, api_app, api_config, api_sessions
):
    admin = bearer(Role.ADMIN)
    body = {"id": "gate-1", "url": "gate.mp4", "purposes": ["face"], **REGISTERED}
    assert client.post("/api/v1/cameras", json=body, headers=admin).status_code == 201
    cam_cfg = CameraConfig.model_validate(body)  # the worker's config holds the same camera
    models = Models(
        api_config,
        _face_detector=ColourFaceDetector(),
        _landmarker=object(),  # type: ignore[arg-type]
        _embedder=_Embedder128(),
    )
    now = dt.datetime.now(dt.UTC)
    pipeline, perms = initial_pipeline(cam_cfg, api_config, models, api_sessions, now)
    assert not perms.faces and pipeline.faces is None
    assert any("no authorisation covers it" in r for r in perms.reasons)

    # authorised through the API, with a watchlist: the worker switches faces on ...
    auth = {
        "reference": "W-1",
        "authority": "District Court",
        "purpose": "missing person",
        "starts_at": (now - dt.timedelta(hours=1)).isoformat(),
        "ends_at": (now + dt.timedelta(days=1)).isoformat(),
        "scope_cameras": ["gate-1"],
    }
    assert client.post("/api/v1/authorisations", json=auth, headers=admin).status_code == 201
    wl = {"name": "wl", "authorisation_reference": "W-1", "max_subjects": 5}
    assert client.post("/api/v1/watchlists", json=wl, headers=admin).status_code == 201
    with api_sessions() as s:
        enrol_subject(
            s,
            api_app.state.media,
            ADMIN,
            "wl",
            "ann",
            [("p", np.full((64, 64, 3), 50, np.uint8))],
            fake_embed,
            "t",
            "t",
        )
    refresher = PipelineRefresher(cam_cfg, api_config, models, api_sessions, pipeline)
    refresher.refresh()
    assert pipeline.faces is not None and pipeline.face_decider is not None

    # ... an update that drops the face purpose switches them off at the next refresh ...
    plate_only = {k: v for k, v in body.items() if k != "id"} | {"purposes": ["plate"]}
    r = client.put("/api/v1/cameras/gate-1", json=plate_only, headers=admin)
    assert r.status_code == 200, r.text
    refresher.refresh()
    assert pipeline.faces is None and pipeline.face_decider is None

    # ... and an update without a legal basis is refused, leaving the register as it was
    no_basis = plate_only | {"purposes": ["face"], "legal_basis": ""}
    r = client.put("/api/v1/cameras/gate-1", json=no_basis, headers=admin)
    assert r.status_code == 422 and "missing legal_basis" in r.text
    with api_sessions() as s:
        row = s.get(CameraRow, "gate-1")
        assert row is not None and row.legal_basis == REGISTERED["legal_basis"]
        assert row.purposes == ["plate"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"legal_basis": ""}, "missing legal_basis"),
        ({"impact_assessment": " "}, "missing impact_assessment"),
        ({"approved_on": None}, "missing approved_on"),
        ({"approved_on": "2999-01-01"}, "is in the future"),
        ({"purposes": []}, "no purposes registered"),
    ],
)
def test_the_api_refuses_a_camera_without_its_legal_footing(
    client, bearer, api_sessions, change, problem
):
    body = {"id": "cam-x", "url": "x.mp4", "purposes": ["face"], **REGISTERED, **change}
    r = client.post("/api/v1/cameras", json=body, headers=bearer(Role.ADMIN))
    assert r.status_code == 422 and problem in r.text
    with api_sessions() as s:
        assert s.get(CameraRow, "cam-x") is None
        assert "camera.register" not in audit_actions(s)


# ------------------------------------------------------------------------------- the CLI


def test_the_cli_refuses_to_add_a_camera_without_legal_basis(run_cli, cli_config: Path):
    before = cli_config.read_text()
    result = run_cli(
        "cameras",
        "add",
        "cam-x",
        "--url",
        "x.mp4",
        "--purpose",
        "face",
        "--legal-basis",
        "",
        "--impact-assessment",
        "DPIA-1",
        "--approved-on",
        "2025-01-01",
    )
    assert result.exit_code == 2
    assert "missing legal_basis" in result.output
    assert cli_config.read_text() == before  # the config file is not touched
    sessions = make_session_factory(make_engine(f"sqlite:///{cli_config.parent / 'cw.db'}"))
    with sessions() as s:
        assert s.scalars(select(CameraRow)).all() == []


def _with_cameras(cli_config: Path, cameras: list[dict]) -> None:
    data = yaml.safe_load(cli_config.read_text())
    data["cameras"] = cameras
    cli_config.write_text(yaml.safe_dump(data))


def test_cli_run_starts_no_camera_without_legal_basis(run_cli, cli_config: Path):
    _with_cameras(
        cli_config,
        [{"id": "cam-x", "url": "x.mp4", "purposes": ["face"], **REGISTERED, "legal_basis": ""}],
    )
    result = run_cli("run")
    assert result.exit_code == 1, result.output
    assert "no camera could be started" in result.output
    assert "missing legal_basis" in result.output
    sessions = make_session_factory(make_engine(f"sqlite:///{cli_config.parent / 'cw.db'}"))
    with sessions() as s:
        assert s.get(CameraRow, "cam-x") is None


@pytest.mark.integration
def test_cli_run_analyses_no_face_on_a_camera_without_authorisation(
    run_cli, cli_config: Path, shared_data: Path
):
    ex = shared_data / "faces/watchlist_video/examples"
    clip = str(ex / "short_hamilton_clip.mp4")
    _with_cameras(
        cli_config,
        [{"id": "stage-1", "url": clip, "purposes": ["face"], "zone": "stage", **REGISTERED}],
    )
    cfg = load_config(cli_config)
    url = cfg.store.database_url
    upgrade_database(url)
    sessions = make_session_factory(make_engine(url))
    embed = make_embed_faces(Models(cfg), cfg)
    media = MediaStore(cfg.store.media_dir)
    lin = load_image(ex / "lin-manuel-miranda.png")
    now = dt.datetime.now(dt.UTC)

    def enrol(s: Session, wl: str, reference: str) -> None:
        create_watchlist(s, ADMIN, wl, reference)
        enrol_subject(s, media, ADMIN, wl, "lin", [("lin.png", lin)], embed, "t", "t")

    with sessions() as s:
        # someone who is in the clip is on a watchlist, but under an authorisation for
        # another zone: the stage camera must not look for him
        authorise(s, "A-9", now, zones=("elsewhere",))
        enrol(s, "wl-9", "A-9")
    result = run_cli("run")
    assert result.exit_code == 0, result.output
    assert "no authorisation covers it" in result.output
    with sessions() as s:
        assert s.scalars(select(AlertRow)).all() == []
        assert s.scalars(select(FaceCountRow)).all() == []  # no face was even analysed
    assert all("subject" in str(p) for p in files_under(media.root))  # the enrolment photo

    # the control: authorised, the same run finds him
    with sessions() as s:
        authorise(s, "A-1", now, zones=("stage",))
        enrol(s, "wl-1", "A-1")
    result = run_cli("run")
    assert result.exit_code == 0, result.output
    with sessions() as s:
        assert {a.subject_name for a in s.scalars(select(AlertRow))} == {"lin"}
        assert count(s, FaceCountRow) >= 1
