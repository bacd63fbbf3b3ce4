"""`citywatch plates vehicles`: search by vehicle from the command line, with a case reference
and the same refusals as the API (issue 20)."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from citywatch.cli.main import app
from citywatch.store.db import make_engine, make_session_factory, upgrade_database
from citywatch.store.media import MediaStore
from tests.api.test_vehicle_search import CASE, HOUR, START, seed_reads


def test_the_cli_searches_by_vehicle(cli_config: Path) -> None:
    cfg = yaml.safe_load(cli_config.read_text())
    url = cfg["store"]["database_url"]
    upgrade_database(url)
    engine = make_engine(url)
    try:
        seed_reads(make_session_factory(engine), MediaStore(Path(cfg["store"]["media_dir"])))
    finally:
        engine.dispose()
    runner = CliRunner(env={"CITYWATCH_ACTOR": "carol", "CITYWATCH_ROLE": "investigator",
                            "COLUMNS": "250"})  # fmt: skip
    base = ["-c", str(cli_config), "plates", "vehicles", "--colour", "white", "--camera", "cam-1"]
    period = ["--since", START.strftime("%Y-%m-%dT%H:%M:%S"),
              "--until", (START + 6 * HOUR).strftime("%Y-%m-%dT%H:%M:%S")]  # fmt: skip
    found = runner.invoke(app, [*base, "--case", CASE, *period])
    assert found.exit_code == 0, found.output
    assert "AB123CD" in found.output and "BG777AA" in found.output
    assert "ZG555XY" not in found.output
    refused = runner.invoke(app, [*base, "--case", CASE])
    assert refused.exit_code != 0 and "needs a period" in refused.output
    assert runner.invoke(app, [*base, *period]).exit_code != 0  # no --case


def test_alerts_list_says_the_vehicle_differs(cli_config: Path) -> None:
    from citywatch.decisions.types import HotlistHit, PlateRead
    from citywatch.services.events import EventRecorder
    from citywatch.services.hotlists import add_plate
    from citywatch.store.types import utcnow
    from tests.services.helpers import ADMIN, add_camera, plate_read

    cfg = yaml.safe_load(cli_config.read_text())
    url = cfg["store"]["database_url"]
    upgrade_database(url)
    engine = make_engine(url)
    try:
        sessions = make_session_factory(engine)
        with sessions() as s:
            add_camera(s, "cam-1")
            entry = add_plate(s, ADMIN, "stolen", "AB123CD", "r", vehicle_kind="car",
                              vehicle_colour="white")  # fmt: skip
            hotlist_id = entry.hotlist_id

        def match(read: PlateRead) -> HotlistHit:
            return HotlistHit(read=read, hotlist_id=hotlist_id, entry="AB123CD", distance=0)

        media = MediaStore(Path(cfg["store"]["media_dir"]))
        now = utcnow().timestamp()
        EventRecorder(sessions, media, match, lambda e: None).record_plate_read(
            plate_read(
                camera_id="cam-1",
                frame_wall_time=now,
                decided_wall_time=now,
                vehicle_kind="car",
                vehicle_colour="red",
            )
        )
    finally:
        engine.dispose()
    runner = CliRunner(env={"CITYWATCH_ROLE": "operator", "COLUMNS": "300"})
    listed = runner.invoke(app, ["-c", str(cli_config), "alerts", "list"])
    assert listed.exit_code == 0, listed.output
    assert "hotlist says white car; seen: red car" in listed.output
