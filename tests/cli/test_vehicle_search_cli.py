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
