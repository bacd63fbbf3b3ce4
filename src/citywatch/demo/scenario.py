"""The demo scenario: three cameras on generated footage, a watchlist, a hotlist, alerts.

Each camera has two streams, as real ones do: its full-size video is the main stream (``url``,
the evidence: snapshots and clips) and a 640x360 copy is the substream it analyses
(``detect_url``), when the footage was made with one (:func:`prepare_footage` makes it; footage
made without one gives one-stream cameras).

Everything goes through the same services as a real deployment: the cameras are registered
(with a demo legal basis and impact assessment, marked as such), the watchlist is bound to a
demo authorisation that ends after a day, and every step lands in the audit log.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session, sessionmaker

from citywatch.audit.chain import Actor
from citywatch.config.camera import Purpose
from citywatch.config.root import CitywatchConfig, parse_config
from citywatch.demo.footage import DemoFootage, make_demo_videos
from citywatch.engine.assemble import Models
from citywatch.engine.platform import make_embed_faces
from citywatch.services.authorisations import create_authorisation, get_authorisation
from citywatch.services.common import NotFoundError
from citywatch.services.enrolment import enrol_subject
from citywatch.services.hotlists import add_plate
from citywatch.services.watchlists import create_watchlist, list_subjects, list_watchlists
from citywatch.store.media import MediaStore
from citywatch.vision.images import load_image

DEMO_AUTH = "DEMO-AUTH-1"
DEMO_WATCHLIST = "demo-watchlist"
DEMO_HOTLIST = "demo-hotlist"
DEMO_ZONE = "demo-zone"
DEMO_BASIS = "DEMO ONLY: not a legal basis (citywatch demo scenario)"
DEMO_DPIA = "DEMO ONLY: no impact assessment (citywatch demo scenario)"
#: The size of the demo cameras' substream (analysed); their main stream is 960x540.
SUBSTREAM = (640, 360)

# (camera id, purposes, location) of the three demo cameras
CAMERAS: tuple[tuple[str, tuple[Purpose, ...], tuple[float, float]], ...] = (
    ("cam-entrance", (Purpose.FACE,), (44.8176, 20.4569)),
    ("cam-street", (Purpose.PLATE,), (44.8150, 20.4600)),
    ("cam-square", (Purpose.FACE, Purpose.PLATE), (44.8160, 20.4620)),
)


@dataclass(frozen=True)
class DemoSetup:
    config: CitywatchConfig
    footage: DemoFootage
    workdir: Path


def demo_config_data(workdir: Path, footage: DemoFootage, *, loop: bool) -> dict[str, Any]:
    """The demo's config as its YAML file holds it (absolute paths: it is read from anywhere)."""
    today = dt.datetime.now(dt.UTC).date()
    root = workdir.resolve()
    cams = [
        {
            "id": cam_id,
            "name": f"Demo {cam_id.removeprefix('cam-')}",
            "url": str(footage.path(cam_id).resolve()),
            **_detect_url(footage, cam_id),
            "loop": loop,
            "analyse_fps": 5.0,
            "purposes": [p.value for p in purposes],
            "location": {"lat": lat, "lon": lon},
            "zone": DEMO_ZONE,
            "legal_basis": DEMO_BASIS,
            "impact_assessment": DEMO_DPIA,
            "approved_on": today.isoformat(),
            "operator": "citywatch demo",
        }
        for cam_id, purposes, (lat, lon) in CAMERAS
    ]
    store = {
        "database_url": f"sqlite:///{root / 'citywatch.db'}",
        "media_dir": str(root / "media"),
        "state_dir": str(root),
    }
    return {"store": store, "cameras": cams}


def _detect_url(footage: DemoFootage, cam_id: str) -> dict[str, str]:
    sub = footage.sub_path(cam_id)
    return {"detect_url": str(sub.resolve())} if sub is not None else {}


def demo_config(workdir: Path, footage: DemoFootage, *, loop: bool) -> CitywatchConfig:
    return parse_config(demo_config_data(workdir, footage, loop=loop), source="demo config")


def write_demo_config(workdir: Path, footage: DemoFootage, *, loop: bool) -> Path:
    """The demo's config written to ``workdir/citywatch.yaml``, so that the commands the demo
    prints (``-c`` on this file) reach its database, evidence and camera health."""
    path = workdir / "citywatch.yaml"
    data = demo_config_data(workdir, footage, loop=loop)
    path.write_text(
        "# written by `citywatch demo` (rewritten on every run): its database, evidence,\n"
        "# camera health and cameras.  Use it with -c, e.g. citywatch alerts list -c "
        f"{path}\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    return path


def prepare_footage(workdir: Path) -> DemoFootage:
    """The demo's footage: 960x540 main streams, each with a 640x360 substream."""
    return make_demo_videos(workdir / "footage", substream=SUBSTREAM)


def enrol_demo_lists(
    sessions: sessionmaker[Session],
    media: MediaStore,
    models: Models,
    config: CitywatchConfig,
    footage: DemoFootage,
    actor: Actor,
    *,
    now: dt.datetime | None = None,
) -> None:
    """The demo authorisation, watchlist (one subject) and hotlist (one plate); idempotent."""
    at = now or dt.datetime.now(dt.UTC)
    with sessions() as session:
        try:
            get_authorisation(session, DEMO_AUTH)
        except NotFoundError:
            create_authorisation(
                session,
                actor,
                DEMO_AUTH,
                "citywatch demo (no real authority)",
                "demo",
                at - dt.timedelta(minutes=5),
                at + dt.timedelta(days=1),
                [],
                [DEMO_ZONE],
            )
        if not any(w.name == DEMO_WATCHLIST for w in list_watchlists(session)):
            create_watchlist(session, actor, DEMO_WATCHLIST, DEMO_AUTH, max_subjects=10)
        enrolled = {s.name for s in list_subjects(session, actor, DEMO_WATCHLIST)}
        if footage.subject_name not in enrolled:
            photo = load_image(footage.subject_photo)
            enrol_subject(
                session,
                media,
                actor,
                DEMO_WATCHLIST,
                footage.subject_name,
                [(footage.subject_photo.name, photo)],
                make_embed_faces(models, config),
                reason="demo subject",
                image_source="skimage.data.astronaut() (public domain)",
            )
        add_plate(session, actor, DEMO_HOTLIST, footage.plate_text, "demo plate")
