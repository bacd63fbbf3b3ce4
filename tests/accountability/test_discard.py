"""Control 5: biometric data of people who do not match is discarded at once, on every path
that handles faces: live cameras, evidence scans, enrolment (CLI, service, API upload).

"Discarded" is checked where it could leak: the database (any binary column), the media
folder, the logs and the audit log (no float arrays), and the face decider's memory once the
tracks have ended.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import LargeBinary, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from citywatch.api.security import Role
from citywatch.config.root import CitywatchConfig, load_config, parse_config
from citywatch.decisions.types import FaceMatch, FaceTrackCount
from citywatch.engine.assemble import Models
from citywatch.engine.platform import make_embed_faces
from citywatch.engine.runtime import initial_pipeline
from citywatch.engine.scan import ScanReport, load_watchlist_dir
from citywatch.engine.sink import RecorderSink
from citywatch.engine.worker import CameraWorker
from citywatch.services.enrolment import EnrolmentError, enrol_subject
from citywatch.services.events import EventRecorder
from citywatch.services.watchlists import create_watchlist
from citywatch.sources.pyav import CameraSource
from citywatch.store.db import make_engine, make_session_factory, upgrade_database
from citywatch.store.models import AlertRow, AuditLogRow, FaceCountRow, SubjectEmbeddingRow
from citywatch.vision.images import load_image
from citywatch.vision.record import FloatArray, ImageBGR
from tests.accountability.conftest import Store
from tests.accountability.fakes import BLUE, RED, fake_pipeline, frames
from tests.accountability.scenario import (
    ADMIN,
    FLOAT_RUN,
    REGISTERED,
    audit_actions,
    authorise,
    count,
    files_under,
    register,
    subject_ids,
)

REPO = Path(__file__).resolve().parents[2]
GROUP = "faces/detection_boxes/examples/faces/2008_002470.jpg"  # six people, 5-6 found


class CountingEmbedder:
    """Wraps the real embedder and counts the faces it was asked to embed."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.name = inner.name  # type: ignore[attr-defined]
        self.dim = inner.dim  # type: ignore[attr-defined]
        self.faces = 0

    def embed(self, image: ImageBGR, landmarks: FloatArray) -> FloatArray:
        self.faces += len(landmarks)
        return self.inner.embed(image, landmarks)  # type: ignore[attr-defined, no-any-return]


@pytest.fixture(scope="module")
def real_models() -> Models:
    return Models(parse_config({}))  # the prepared models, where `models prepare` put them


def _counting(base: Models, config: CitywatchConfig) -> tuple[Models, CountingEmbedder]:
    emb = CountingEmbedder(base.embedder)
    models = Models(
        config, _face_detector=base.face_detector, _landmarker=base.landmarker, _embedder=emb
    )
    return models, emb


def _binary_values(session: Session) -> list[bytes]:
    """Every non-null value of every binary column in the database."""
    out: list[bytes] = []
    insp = inspect(session.get_bind())
    for table in insp.get_table_names():
        for col in insp.get_columns(table):
            if isinstance(col["type"], LargeBinary):
                q = text(f'SELECT "{col["name"]}" FROM "{table}"')  # noqa: S608 (schema names)
                out.extend(v for v in session.execute(q).scalars() if v is not None)
    return out


def _audit_text(session: Session) -> str:
    rows = session.scalars(select(AuditLogRow)).all()
    return "\n".join(f"{r.action} {r.target} {r.details} {r.reason}" for r in rows)


def _no_float_arrays(where: str, text_: str) -> None:
    found = FLOAT_RUN.search(text_)
    assert found is None, f"{where} holds a float array: {found.group(0)[:120]!r}"


def test_the_float_array_detector_sees_embeddings_however_printed():
    """The check used below must catch what a leak would look like."""
    v = np.random.default_rng(0).normal(size=128).astype(np.float32)
    for shown in (repr(v), str(v), str(v.tolist()), ", ".join(f"{x:.6f}" for x in v)):
        assert FLOAT_RUN.search(shown), shown[:60]
    assert not FLOAT_RUN.search("score 0.9123 threshold 0.92 at 12.5 s, 3 faces, 1.0001")


# ------------------------------------------------------------------------------------ live


@pytest.mark.integration
def test_a_live_camera_keeps_nothing_of_the_people_who_do_not_match(
    store: Store, now: dt.datetime, shared_data: Path, real_models: Models, caplog
):
    caplog.set_level(logging.DEBUG)
    ex = shared_data / "faces/watchlist_video/examples"
    cfg = parse_config(
        {
            "store": {"media_dir": str(store.media.root), "state_dir": str(store.root)},
            "cameras": [
                {
                    "id": "stage-1",
                    "url": str(ex / "short_hamilton_clip.mp4"),
                    "purposes": ["face"],
                    **REGISTERED,
                }
            ],
        }
    )
    cam = cfg.cameras[0]
    models, embedder = _counting(real_models, cfg)
    with store.sessions() as s:
        register(s, "stage-1", "face")
        authorise(s, "A-1", now, cameras=("stage-1",))
        create_watchlist(s, ADMIN, "wl", "A-1")
        enrol_subject(  # someone who is not in the clip
            s,
            store.media,
            ADMIN,
            "wl",
            "decoy",
            [("biden.jpg", load_image(ex / "biden.jpg"))],
            make_embed_faces(models, cfg),
            "test",
            "test",
        )
        enrolled = _binary_values(s)
    embedder.faces = 0
    pipeline, perms = initial_pipeline(cam, cfg, models, store.sessions, now)
    assert perms.faces and pipeline.face_decider is not None
    decider = pipeline.face_decider
    held: list[tuple[int, int, int, int]] = []
    process = pipeline.process

    def watched(frame):  # type: ignore[no-untyped-def]
        out = process(frame)
        held.append(
            (
                decider.open_tracks,
                decider.held_crops(),
                decider.held_embeddings(),
                decider.held_frames(),
            )
        )
        return out

    pipeline.process = watched  # type: ignore[method-assign]
    recorder = EventRecorder(store.sessions, store.media, lambda r: None, lambda e: None)
    worker = CameraWorker(
        "stage-1", CameraSource(cam), pipeline, RecorderSink(recorder), live=False
    )
    stats = worker.run()

    assert stats.analysed > 30 and embedder.faces > 0  # faces were analysed ...
    with store.sessions() as s:
        assert count(s, AlertRow) == 0
        assert (s.scalar(select(FaceCountRow.tracks)) or 0) >= 2  # ... counted ...
        assert _binary_values(s) == enrolled  # ... and nothing of them was stored
        _no_float_arrays("the audit log", _audit_text(s))
    assert all("subject" in str(p) for p in files_under(store.media.root))
    _no_float_arrays("the logs", caplog.text)
    # in memory: a few crops per open track at most, and nothing once the tracks ended
    cap = 2 * cfg.faces.frames_per_track
    assert all(crops <= cap * tracks and frames_ <= tracks for tracks, crops, _, frames_ in held)
    assert max(h[0] for h in held) >= 1
    assert (decider.open_tracks, decider.held_crops(), decider.held_frames()) == (0, 0, 0)
    assert decider.held_embeddings() == 0


def test_an_unmatched_track_is_forgotten_when_it_ends_and_only_counted():
    pipeline, _, embedder = fake_pipeline()
    decider = pipeline.face_decider
    assert decider is not None
    # a passer-by (blue: nobody on the list) for 8 frames, then an empty street for 2 s
    out = []
    for f in frames([(BLUE, 300, 100)], n=8):
        out += pipeline.process(f)[1]
    assert decider.open_tracks == 1 and decider.held_crops() > 0
    for f in frames([], n=12):
        f = type(f)(f.camera_id, f.index + 8, f.pts_s + 1.6, f.wall_time + 1.6, f.image)
        out += pipeline.process(f)[1]
    assert (decider.open_tracks, decider.held_crops(), decider.held_embeddings()) == (0, 0, 0)
    assert decider.held_frames() == 0
    assert [o.tracks for o in out if isinstance(o, FaceTrackCount)] == [1]
    assert not any(isinstance(o, FaceMatch) for o in out)
    assert embedder.faces > 0  # it was looked at, then let go
    # a match keeps the evidence frame in the match, not in the decider
    pipeline, _, _ = fake_pipeline()
    out = []
    for f in frames([(RED, 300, 100)], n=8):
        out += pipeline.process(f)[1]
    assert any(isinstance(o, FaceMatch) for o in out)
    assert pipeline.face_decider is not None and pipeline.face_decider.held_crops() == 0


# ------------------------------------------------------------------------------- enrolment


@pytest.mark.integration
def test_enrolling_a_group_photo_is_refused_without_embedding_anyone(
    store: Store, now: dt.datetime, shared_data: Path, real_models: Models, caplog
):
    caplog.set_level(logging.DEBUG)
    cfg = parse_config({})
    models, embedder = _counting(real_models, cfg)
    with store.sessions() as s:
        register(s, "cam-1", "face")
        authorise(s, "A-1", now, cameras=("cam-1",))
        create_watchlist(s, ADMIN, "wl", "A-1")
        before = audit_actions(s)
        group = load_image(shared_data / GROUP)
        with pytest.raises(EnrolmentError, match=r"'group\.jpg': [2-9] faces found"):
            enrol_subject(
                s,
                store.media,
                ADMIN,
                "wl",
                "someone",
                [("group.jpg", group)],
                make_embed_faces(models, cfg),
                "test",
                "test",
            )
        assert subject_ids(s) == [] and count(s, SubjectEmbeddingRow) == 0
        assert audit_actions(s) == before
    assert embedder.faces == 0  # not one of the faces was turned into numbers
    assert files_under(store.media.root) == []
    _no_float_arrays("the logs", caplog.text)


@pytest.mark.integration
def test_the_cli_refuses_a_group_photo_for_enrolment(run_cli, cli_config: Path, shared_data: Path):
    cfg = load_config(cli_config)
    upgrade_database(cfg.store.database_url)
    sessions: sessionmaker[Session] = make_session_factory(make_engine(cfg.store.database_url))
    now = dt.datetime.now(dt.UTC)
    with sessions() as s:
        register(s, "cam-1", "face")
        authorise(s, "A-1", now, cameras=("cam-1",))
        create_watchlist(s, ADMIN, "wl", "A-1")
    photo = shared_data / "faces/crowd_video/multiface.jpg"
    result = run_cli(
        "watchlists", "enrol", "wl", "someone", str(photo), "--reason", "t", "--source", "t"
    )
    assert result.exit_code == 2
    assert "faces found" in result.output and "exactly one face" in result.output
    _no_float_arrays("the CLI output", result.output)
    with sessions() as s:
        assert subject_ids(s) == [] and count(s, SubjectEmbeddingRow) == 0
    assert files_under(cfg.store.media_dir) == []


@pytest.mark.integration
def test_the_api_refuses_a_group_photo_upload_without_embedding_anyone(
    client, bearer, api_app, api_sessions, api_config, shared_data: Path, real_models: Models
):
    models, embedder = _counting(real_models, api_config)
    api_app.state.embed_faces = make_embed_faces(models, api_config)
    admin = bearer(Role.ADMIN)
    now = dt.datetime.now(dt.UTC)
    with api_sessions() as s:
        register(s, "cam-1", "face")
        authorise(s, "A-1", now, cameras=("cam-1",))
        create_watchlist(s, ADMIN, "wl", "A-1")
        before = audit_actions(s)
    data = (shared_data / GROUP).read_bytes()
    r = client.post(
        "/api/v1/watchlists/wl/subjects",
        data={"subject_name": "someone", "reason": "court order", "image_source": "press"},
        files=[("photos", ("group.jpg", data, "image/jpeg"))],
        headers=admin,
    )
    assert r.status_code == 400, r.text
    assert re.search(r"[2-9] faces found", r.text)
    _no_float_arrays("the API answer", r.text)
    assert embedder.faces == 0
    with api_sessions() as s:
        assert subject_ids(s) == [] and count(s, SubjectEmbeddingRow) == 0
        assert audit_actions(s) == before
    assert files_under(Path(api_config.store.media_dir)) == []


@pytest.mark.integration
def test_a_photo_with_a_small_second_face_is_refused_too(
    store: Store, shared_data: Path, real_models: Models
):
    ex = shared_data / "faces/watchlist_video/examples"
    photo = load_image(ex / "obama.jpg").copy()
    bystander = load_image(ex / "biden.jpg")[200:900, 150:820]
    photo[20:83, 20:80] = cv2.resize(bystander, (60, 63))  # a small face in the corner
    cfg = parse_config({})
    models, _ = _counting(real_models, cfg)
    detected = models.face_detector.detect(photo)
    assert len(detected) >= 2, "the set-up needs the detector to see both faces"
    assert len(make_embed_faces(models, cfg)(photo)) != 1


# ------------------------------------------------------------------------------------ scan


@pytest.mark.integration
def test_a_scan_watchlist_folder_never_embeds_a_group_photo(
    tmp_path: Path, shared_data: Path, real_models: Models
):
    ex = shared_data / "faces/watchlist_video/examples"
    folder = tmp_path / "watchlist"
    (folder / "lin").mkdir(parents=True)
    shutil.copy(ex / "lin-manuel-miranda.png", folder / "lin" / "ref.png")
    shutil.copy(shared_data / GROUP, folder / "lin" / "party.jpg")
    cfg = parse_config({})
    models, embedder = _counting(real_models, cfg)
    report = ScanReport()
    gallery = load_watchlist_dir(folder, models, cfg, report)
    assert len(gallery) == 1 and embedder.faces == 1  # lin's portrait, nothing of the party
    assert any(re.search(r"party\.jpg: [2-9] faces found", p) for p in report.problems)
